//! Rooms: the event model (PDUs of every room version, signed and hashed), creating rooms,
//! appending authorised events, membership (locally and over federation: joins, invites,
//! knocks, received PDUs, backfill, state resolution), reading state and history with the
//! history visibility, relations, the directory, search and upgrades. Every local event goes
//! through [`RoomService::append`], which builds a signed PDU, checks it with the spec's
//! authorization rules (ruma-state-res) and stores it atomically. Calls the context, the
//! federation domain (to reach other servers), the accounts domain (who is a local user) and
//! the sync domain's push rules (notification counts).

mod access_rules;
mod backfill;
mod create;
mod directory;
mod federated_membership;
mod federation_reads;
mod fetch;
mod hierarchy;
mod inbound;
mod membership;
mod notifications;
mod pdu;
mod power;
mod read;
mod rejected;
mod relations;
mod remote_membership;
mod search;
mod state_resolution;
mod summary;
mod thread_subscriptions;
mod timeline;
mod timestamps;
mod upgrade;
mod visibility;
mod windows;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, RoomVersionId};

use crate::{Context, ServiceError, ServiceResult};

pub use create::{CreateRoom, Preset};
pub use directory::{DirectoryQuery, PublicRoom, PublicRoomsPage};
pub use federated_membership::{JOINABLE_ROOM_VERSIONS, JoinedRoomState};
pub use hierarchy::{HierarchyPage, HierarchyRoom};
pub use inbound::Accepted;
pub use notifications::{NotifiedEvent, PUSH_RULES};
pub use pdu::{EventDraft, Pdu};
pub(crate) use read::joined_user_ids;
pub use read::{Direction, EventContext, MessagesPage, MutualRooms};
pub use relations::RelationsPage;
pub use search::{SearchContext, SearchHit, SearchRequest, SearchResults};
pub use summary::{RoomSummary, ServerHierarchy, Viewer};

/// A room's state: `(type, state_key) → event ID`.
pub type StateMap = BTreeMap<(StateEventType, String), OwnedEventId>;

/// State types shown to invitees before they join (spec: "stripped state").
pub(crate) const STRIPPED_STATE_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
    // Tchap: the kind of room (TCHAP.md §4), shown before joining and checked by the
    // invitee's server.
    crate::policy::access_rules::ACCESS_RULES_EVENT,
];

/// The room versions this server creates rooms in.
pub const CREATABLE_ROOM_VERSIONS: [RoomVersionId; 3] =
    [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12];

#[derive(Clone)]
pub struct RoomService {
    context: Arc<Context>,
    /// One writer per room at a time in this process, so local events form a chain.
    locks: Arc<Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>>,
    /// State groups never change once written, so they are cached without invalidation.
    state_cache: Arc<BoundedCache<i64, StateMap>>,
    /// Events only change when redacted, which evicts them here and, through the cluster
    /// feed, in the server's other processes.
    pdu_cache: Arc<BoundedCache<ruma::OwnedEventId, Pdu>>,
    /// Recent windows of rooms' timelines, shared by the readers one event wakes.
    windows: Arc<windows::WindowCache>,
    /// A room's version never changes (an upgrade makes a new room).
    version_cache: Arc<BoundedCache<OwnedRoomId, RoomVersionId>>,
    /// Members' parsed push rules, with the stored rules they were parsed from.
    ruleset_cache: Arc<BoundedCache<OwnedUserId, CachedRuleset>>,
    /// The timestamp of the last room created here: each creation takes a later one, so that
    /// identical create events (v12 room IDs are their hash) differ.
    last_creation_ts: Arc<std::sync::atomic::AtomicU64>,
    /// Other servers' aliases are resolved by asking them.
    federation: crate::FederationService,
    /// Local events go to the other servers in the room through the outbound queue.
    sender: crate::FederationSender,
    /// Wakes this process's push delivery when an event is stored.
    push_wake: Arc<tokio::sync::Notify>,
    /// Unknown users and aliases of application services' namespaces are asked about.
    appservice_queries: crate::AppserviceQueries,
}

type CachedRuleset = (Option<String>, Arc<ruma::push::Ruleset>);

/// A map that forgets everything when full: simple, and enough for hot rooms.
pub(crate) struct BoundedCache<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> BoundedCache<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value);
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub(crate) fn remove<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
    {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

impl RoomService {
    pub(crate) fn new(
        context: Arc<Context>,
        federation: crate::FederationService,
        sender: crate::FederationSender,
    ) -> Self {
        let appservice_queries = crate::AppserviceQueries::new(context.clone());
        Self {
            context,
            federation,
            sender,
            locks: Arc::default(),
            last_creation_ts: Arc::default(),
            state_cache: Arc::new(BoundedCache::new(4_096)),
            pdu_cache: Arc::new(BoundedCache::new(16_384)),
            version_cache: Arc::new(BoundedCache::new(16_384)),
            ruleset_cache: Arc::new(BoundedCache::new(16_384)),
            windows: Arc::new(windows::WindowCache::new()),
            push_wake: Arc::default(),
            appservice_queries,
        }
    }

    /// What push delivery waits on: a notification each time this process stores an event.
    pub(crate) fn push_wake(&self) -> Arc<tokio::sync::Notify> {
        self.push_wake.clone()
    }

    /// Forgets a cached event another process changed.
    pub(crate) fn evict(&self, event_id: &ruma::EventId) {
        self.pdu_cache.remove(event_id);
        self.windows.clear();
    }

    /// The room lock serialises this process's writes to a room; another process may still
    /// change the room's state between the reads an event is built on and its append, which
    /// then fails with a conflict and writing nothing. `attempt` is built again on fresh reads;
    /// it is told whether it is such a retry.
    async fn retrying_conflicts<T, F, Fut>(
        &self,
        room_id: &RoomId,
        mut attempt: F,
    ) -> ServiceResult<T>
    where
        F: FnMut(bool) -> Fut,
        Fut: std::future::Future<Output = ServiceResult<T>>,
    {
        const RETRIES: usize = 16;
        let mut retries = 0;
        loop {
            match attempt(retries > 0).await {
                Err(ServiceError::Storage(estafette_storage::StorageError::Conflict(reason)))
                    if retries < RETRIES =>
                {
                    retries += 1;
                    tracing::debug!(%room_id, retries, %reason, "building an event again");
                }
                result => return result,
            }
        }
    }

    async fn lock(&self, room_id: &RoomId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(room_id.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The events with these IDs that this server holds, in the order asked: from the cache,
    /// and the others in one read.
    pub(crate) async fn pdus(&self, event_ids: &[OwnedEventId]) -> ServiceResult<Vec<Pdu>> {
        let cached: Vec<Option<Pdu>> = event_ids
            .iter()
            .map(|event_id| self.pdu_cache.get(event_id))
            .collect();
        let missing: Vec<OwnedEventId> = event_ids
            .iter()
            .zip(&cached)
            .filter(|(_, cached)| cached.is_none())
            .map(|(event_id, _)| event_id.clone())
            .collect();
        let mut read: HashMap<OwnedEventId, Pdu> = HashMap::new();
        if !missing.is_empty() {
            for record in self.context.storage.events.get_many(&missing).await? {
                let pdu = Pdu::from_record(record)?;
                self.pdu_cache.insert(pdu.event_id.clone(), pdu.clone());
                read.insert(pdu.event_id.clone(), pdu);
            }
        }
        Ok(event_ids
            .iter()
            .zip(cached)
            .filter_map(|(event_id, cached)| cached.or_else(|| read.remove(event_id)))
            .collect())
    }

    pub(crate) async fn pdu(&self, event_id: &ruma::EventId) -> ServiceResult<Option<Pdu>> {
        if let Some(pdu) = self.pdu_cache.get(event_id) {
            return Ok(Some(pdu));
        }
        match self.context.storage.events.get(event_id).await? {
            Some(record) => {
                let pdu = Pdu::from_record(record)?;
                self.pdu_cache.insert(pdu.event_id.clone(), pdu.clone());
                Ok(Some(pdu))
            }
            None => Ok(None),
        }
    }

    pub(crate) async fn load_state(&self, group: i64) -> ServiceResult<StateMap> {
        if let Some(state) = self.state_cache.get(&group) {
            return Ok(state);
        }
        let entries = self.context.storage.state.load(group).await?;
        let state: StateMap = entries
            .into_iter()
            .map(|(kind, key, id)| ((StateEventType::from(kind), key), id))
            .collect();
        self.state_cache.insert(group, state.clone());
        Ok(state)
    }

    /// The room's version and its rules; `NotFound` for a room this server does not know.
    pub(crate) async fn room_rules(
        &self,
        room_id: &RoomId,
    ) -> ServiceResult<(RoomVersionId, RoomVersionRules)> {
        let version = match self.version_cache.get(room_id) {
            Some(version) => version,
            None => {
                let room = self
                    .context
                    .storage
                    .rooms
                    .get(room_id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(format!("Room {room_id} not found")))?;
                let version = RoomVersionId::try_from(room.room_version.as_str()).map_err(|e| {
                    ServiceError::Internal(format!(
                        "room {room_id} has version {}: {e}",
                        room.room_version
                    ))
                })?;
                self.version_cache
                    .insert(room_id.to_owned(), version.clone());
                version
            }
        };
        let rules = version.rules().ok_or_else(|| {
            ServiceError::Internal(format!("no rules for room version {version}"))
        })?;
        Ok((version, rules))
    }

    pub(crate) async fn current_state(&self, room_id: &RoomId) -> ServiceResult<(StateMap, i64)> {
        let group = self
            .context
            .storage
            .rooms
            .get(room_id)
            .await?
            .and_then(|room| room.current_state_group)
            .ok_or_else(|| ServiceError::NotFound(format!("Room {room_id} not found")))?;
        Ok((self.load_state(group).await?, group))
    }

    /// What a notification calls the room: its name, else its canonical alias (non-empty).
    pub(crate) async fn notification_room_name(
        &self,
        state: &StateMap,
    ) -> ServiceResult<Option<String>> {
        for (kind, key) in [
            (StateEventType::RoomName, "name"),
            (StateEventType::RoomCanonicalAlias, "alias"),
        ] {
            let content = self.state_content(state, kind, "").await?;
            if let Some(name) = content
                .as_ref()
                .and_then(|c| c[key].as_str())
                .filter(|n| !n.trim().is_empty())
            {
                return Ok(Some(name.to_owned()));
            }
        }
        Ok(None)
    }

    /// The content of a state event of `state`, if there is one.
    pub(crate) async fn state_content(
        &self,
        state: &StateMap,
        kind: StateEventType,
        key: &str,
    ) -> ServiceResult<Option<serde_json::Value>> {
        let Some(event_id) = state.get(&(kind, key.to_owned())) else {
            return Ok(None);
        };
        let Some(pdu) = self.pdu(event_id).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str(pdu.content.get()).ok())
    }
}
