//! Rooms: creating them, appending authorised events, membership, and reading state and
//! history. Every event goes through [`RoomService::append`], which builds a signed PDU, checks
//! it with the spec's authorization rules (ruma-state-res) and stores it atomically.

mod create;
mod directory;
mod hierarchy;
mod membership;
mod notifications;
mod power;
mod read;
mod relations;
mod timeline;
mod upgrade;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedRoomId, RoomId, RoomVersionId};

use crate::{Context, Pdu, ServiceError, ServiceResult};

pub use create::{CreateRoom, Preset};
pub use directory::{DirectoryQuery, PublicRoom, PublicRoomsPage};
pub use hierarchy::{HierarchyPage, HierarchyRoom};
pub use notifications::PUSH_RULES;
pub use read::{Direction, EventContext, MessagesPage};
pub use relations::RelationsPage;

/// A room's state: `(type, state_key) → event ID`.
pub type StateMap = BTreeMap<(StateEventType, String), OwnedEventId>;

/// The room versions this server creates rooms in.
pub const CREATABLE_ROOM_VERSIONS: [RoomVersionId; 3] =
    [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12];

#[derive(Clone)]
pub struct RoomService {
    context: Arc<Context>,
    /// One writer per room at a time in this process, so local events form a chain.
    locks: Arc<Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl RoomService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            locks: Arc::default(),
        }
    }

    async fn lock(&self, room_id: &RoomId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(room_id.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }

    pub(crate) async fn pdu(&self, event_id: &ruma::EventId) -> ServiceResult<Option<Pdu>> {
        match self.context.storage.events.get(event_id).await? {
            Some(record) => Ok(Some(Pdu::from_record(record)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn load_state(&self, group: i64) -> ServiceResult<StateMap> {
        let entries = self.context.storage.state.load(group).await?;
        Ok(entries
            .into_iter()
            .map(|(kind, key, id)| ((StateEventType::from(kind), key), id))
            .collect())
    }

    /// The room's version and its rules; `NotFound` for a room this server does not know.
    pub(crate) async fn room_rules(
        &self,
        room_id: &RoomId,
    ) -> ServiceResult<(RoomVersionId, RoomVersionRules)> {
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
}
