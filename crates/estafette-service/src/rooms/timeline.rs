//! Appending local events: build the PDU, authorise it against the room's current state with
//! the spec's rules, store it with its state change, and wake the members' syncs.

use std::collections::HashMap;

use estafette_storage::{
    AppendedEvent, ClientTransaction, EventPush, MembershipChange, MembershipRecord, NewEvent,
    SearchText, StateChange, StateEntry,
};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedUserId, RoomId, UInt, UserId};
use serde_json::value::to_raw_value;

use super::{RoomService, StateMap};
use crate::rooms::pdu::PduPosition;
use crate::rooms::search::search_text;
use crate::{EventDraft, Pdu, ServiceError, ServiceResult};

/// A room's DAG may have many forward extremities; a new event points to at most this many.
const MAX_PREV_EVENTS: usize = 20;

/// Where the event comes from when a client sent it with a transaction ID.
#[derive(Clone)]
pub(crate) struct Txn<'a> {
    pub device_id: &'a ruma::DeviceId,
    /// The request path without the transaction ID, which scopes it.
    pub scope: String,
    pub txn_id: &'a str,
}

impl RoomService {
    /// Appends an event from a local user to an existing room.
    pub(crate) async fn append(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        draft: EventDraft,
        txn: Option<Txn<'_>>,
    ) -> ServiceResult<Pdu> {
        let _guard = self.lock(room_id).await;
        let (_, rules) = self.room_rules(room_id).await?;
        self.retrying_conflicts(room_id, |retry| {
            let txn = txn.clone();
            let (draft, rules) = (&draft, &rules);
            async move {
                // A request sent again is found by the conflict of its transaction ID when the
                // event is stored: looked up only then, on the attempts after the first.
                if let (Some(txn), true) = (&txn, retry) {
                    let key = ClientTransaction {
                        user_id: sender,
                        device_id: txn.device_id,
                        scope: &txn.scope,
                        txn_id: txn.txn_id,
                    };
                    if let Some(event_id) =
                        self.context.storage.events.find_transaction(key).await?
                    {
                        return self
                            .pdu(&event_id)
                            .await?
                            .ok_or_else(|| ServiceError::Internal("lost event".into()));
                    }
                }
                let (mut state, mut group) = self.current_state(room_id).await?;
                self.append_locked(room_id, rules, &mut state, &mut group, sender, draft, txn)
                    .await
            }
        })
        .await
    }

    /// Appends with the room lock held and the current state known; `state` and `group`
    /// become the state after the event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn append_locked(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        state: &mut StateMap,
        group: &mut i64,
        sender: &UserId,
        draft: &EventDraft,
        txn: Option<Txn<'_>>,
    ) -> ServiceResult<Pdu> {
        let pdu = self
            .prepare_locked(room_id, rules, state, sender, draft)
            .await?;
        let change_entries;
        let full_entries;
        let state_change = match &pdu.state_key {
            Some(key) => {
                change_entries = vec![(pdu.kind.to_string(), key.clone(), pdu.event_id.clone())];
                state.insert(
                    (StateEventType::from(pdu.kind.to_string()), key.clone()),
                    pdu.event_id.clone(),
                );
                full_entries = entries(state);
                StateChange::Changed {
                    prev_group: Some(*group),
                    delta: &change_entries,
                    full: &full_entries,
                }
            }
            None => StateChange::Unchanged(*group),
        };
        let memberships: Vec<MembershipChange> = membership_change(&pdu).into_iter().collect();
        // What the event means for the members is stored with it, in one write: the members
        // are read before it and changed as it changes them.
        let mut room_members = self.context.storage.memberships.of_room(room_id).await?;
        apply_memberships(room_id, &mut room_members, &memberships);
        let (thread_id, actions) = self.push_actions(&pdu, state, rules, &room_members).await?;
        let push = EventPush {
            thread_id: &thread_id,
            actions: &actions,
        };
        let appended = self
            .store(
                &pdu,
                state_change,
                &memberships,
                txn,
                Some(push),
                &room_members,
            )
            .await?;
        *group = appended.state_group;
        if pdu.state_key.is_some() {
            // The next event is built on this state: read from here, not from its deltas.
            self.state_cache.insert(appended.state_group, state.clone());
        }
        self.wake(&room_members, &memberships, appended.stream_ordering);
        Ok(pdu)
    }

    /// Builds a local event on the room's current state and checks it with the auth rules,
    /// without storing it.
    pub(crate) async fn prepare_locked(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        state: &StateMap,
        sender: &UserId,
        draft: &EventDraft,
    ) -> ServiceResult<Pdu> {
        let mut auth = AuthPdus::new();
        for key in auth_keys(draft, sender, rules)? {
            if let Some(event_id) = state.get(&key) {
                let pdu = self
                    .pdu(event_id)
                    .await?
                    .ok_or_else(|| ServiceError::Internal(format!("lost {event_id}")))?;
                auth.insert(key, pdu);
            }
        }
        let extremities = self
            .context
            .storage
            .events
            .forward_extremities(room_id)
            .await?;
        let depth = extremities
            .iter()
            .map(|(_, depth)| *depth)
            .max()
            .unwrap_or(0)
            + 1;
        let prev_events: Vec<OwnedEventId> = extremities
            .into_iter()
            .take(MAX_PREV_EVENTS)
            .map(|(id, _)| id)
            .collect();
        let auth_events = auth_event_ids(draft, sender, rules, &auth)?;
        let legacy = self
            .legacy_references(rules, prev_events.iter().chain(&auth_events))
            .await?;
        let position = PduPosition {
            room_id: Some(room_id),
            prev_events,
            auth_events,
            depth,
            legacy,
        };
        let pdu = self.build_authorised(draft, position, rules, sender, &auth)?;
        self.check_access_rules(room_id, state, &pdu).await?;
        Ok(pdu)
    }

    /// Builds an event at `position` and checks it with the auth rules against `auth`, the
    /// state events that authorise it.
    pub(crate) fn build_authorised(
        &self,
        draft: &EventDraft,
        position: PduPosition<'_>,
        rules: &RoomVersionRules,
        sender: &UserId,
        auth: &AuthPdus,
    ) -> ServiceResult<Pdu> {
        let pdu = self.build(draft, position, rules, sender)?;
        let by_id: HashMap<OwnedEventId, Pdu> = auth
            .values()
            .map(|pdu| (pdu.event_id.clone(), pdu.clone()))
            .collect();
        ruma::state_res::check_state_independent_auth_rules(
            &rules.authorization,
            &pdu,
            |id: &ruma::EventId| by_id.get(id).cloned(),
        )
        .map_err(ServiceError::Forbidden)?;
        ruma::state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            &pdu,
            |kind: &StateEventType, key: &str| auth.get(&(kind.clone(), key.to_owned())).cloned(),
        )
        .map_err(ServiceError::Forbidden)?;
        Ok(pdu)
    }

    /// For rooms v1 and v2: a new event ID and the reference hashes of the events pointed to.
    pub(crate) async fn legacy_references(
        &self,
        rules: &RoomVersionRules,
        referenced: impl Iterator<Item = &OwnedEventId>,
    ) -> ServiceResult<Option<crate::rooms::pdu::LegacyReferences>> {
        if rules.event_id_format != ruma::room_version_rules::EventIdFormatVersion::V1 {
            return Ok(None);
        }
        let referenced: Vec<OwnedEventId> = referenced.cloned().collect();
        let mut hashes = HashMap::new();
        for id in referenced {
            let pdu = self
                .pdu(&id)
                .await?
                .ok_or_else(|| ServiceError::Internal(format!("lost {id}")))?;
            let hash = ruma::signatures::reference_hash(&pdu.json, rules)
                .map_err(|e| ServiceError::Internal(format!("cannot hash {id}: {e}")))?;
            hashes.insert(id, hash);
        }
        let event_id = OwnedEventId::try_from(format!(
            "${}:{}",
            self.context.random.alphanumeric(18),
            self.context.server_name
        ))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Some(crate::rooms::pdu::LegacyReferences {
            event_id,
            hashes,
        }))
    }

    pub(crate) fn build(
        &self,
        draft: &EventDraft,
        position: PduPosition<'_>,
        rules: &RoomVersionRules,
        sender: &UserId,
    ) -> ServiceResult<Pdu> {
        let timestamp = draft.timestamp.unwrap_or_else(|| self.context.now());
        self.build_at(draft, position, rules, sender, timestamp)
    }

    pub(crate) fn build_at(
        &self,
        draft: &EventDraft,
        position: PduPosition<'_>,
        rules: &RoomVersionRules,
        sender: &UserId,
        timestamp: u64,
    ) -> ServiceResult<Pdu> {
        let ts = MilliSecondsSinceUnixEpoch(UInt::new(timestamp).unwrap_or_default());
        Pdu::build(
            draft,
            position,
            rules,
            sender,
            &self.context.server_name,
            &self.context.server_key,
            ts,
        )
    }

    /// Stores an authorised local event and queues it for the other servers in the room
    /// (`room_members`, as the event leaves them); the caller wakes the members.
    pub(crate) async fn store(
        &self,
        pdu: &Pdu,
        state: StateChange<'_>,
        memberships: &[MembershipChange],
        txn: Option<Txn<'_>>,
        push: Option<EventPush<'_>>,
        room_members: &[MembershipRecord],
    ) -> ServiceResult<AppendedEvent> {
        // Built on the room's current state: stored only if no other process changed it since.
        let built_on = match state {
            StateChange::Unchanged(group)
            | StateChange::Changed {
                prev_group: Some(group),
                ..
            } => Some(group),
            _ => None,
        };
        let stored = Stored {
            memberships,
            txn,
            push,
        };
        let appended = self.store_with(pdu, state, None, built_on, stored).await?;
        self.enqueue_for_servers(pdu, joined_servers(room_members), &[])
            .await?;
        Ok(appended)
    }

    /// Stores an authorised event with what it changes and its search text; the caller then
    /// wakes the members ([`RoomService::wake_members`]).
    pub(crate) async fn store_with(
        &self,
        pdu: &Pdu,
        state: StateChange<'_>,
        current_state: Option<StateChange<'_>>,
        built_on: Option<i64>,
        stored: Stored<'_>,
    ) -> ServiceResult<AppendedEvent> {
        let (json, event_type) = (pdu.json_string(), pdu.kind.to_string());
        let search = search_text(pdu);
        let new_event = NewEvent {
            current_state,
            built_on_group: built_on,
            memberships: stored.memberships,
            transaction: stored.txn.as_ref().map(|t| ClientTransaction {
                user_id: &pdu.sender,
                device_id: t.device_id,
                scope: &t.scope,
                txn_id: t.txn_id,
            }),
            search: search.as_ref().map(|(key, text)| SearchText { key, text }),
            push: stored.push,
            ..new_event(pdu, &json, &event_type, state)
        };
        let appended = self.context.storage.events.append(&new_event).await?;
        self.after_store_indexed(pdu, appended.stream_ordering)
            .await?;
        Ok(appended)
    }

    /// Wakes the members an event concerns (after its push actions are stored, so that the
    /// unread counts their syncs return include it).
    pub(crate) async fn wake_members(
        &self,
        pdu: &Pdu,
        memberships: &[MembershipChange],
        position: i64,
    ) -> ServiceResult<()> {
        let room_members = self
            .context
            .storage
            .memberships
            .of_room(&pdu.room_id)
            .await?;
        self.wake(&room_members, memberships, position);
        Ok(())
    }

    /// [`Self::wake_members`] with the room's memberships already read after the event was
    /// stored (as [`Self::evaluate_push`] reads them).
    pub(crate) fn wake(
        &self,
        room_members: &[MembershipRecord],
        memberships: &[MembershipChange],
        position: i64,
    ) {
        let mut concerned: Vec<OwnedUserId> = room_members
            .iter()
            .filter(|m| matches!(m.membership.as_str(), "join" | "invite" | "knock"))
            .map(|m| m.user_id.clone())
            .collect();
        concerned.extend(memberships.iter().map(|m| m.user_id.clone()));
        self.context.notifier.notify(&concerned, position);
        self.wake_delivery();
    }

    /// Wakes what sends stored events on (push delivery, application services).
    pub(crate) fn wake_delivery(&self) {
        self.push_wake.notify_one();
        self.context.appservice_wake.notify_one();
    }

    /// Queues an event for every other server with a member in the room, and for the server
    /// of a membership event's target (a kicked or invited remote user), except `skip`.
    pub(crate) async fn broadcast(
        &self,
        pdu: &Pdu,
        skip: &[&ruma::ServerName],
    ) -> ServiceResult<()> {
        let servers = self.servers_in_room(&pdu.room_id).await?;
        self.enqueue_for_servers(pdu, servers, skip).await
    }

    /// [`Self::broadcast`] to the servers in the room known to the caller.
    async fn enqueue_for_servers(
        &self,
        pdu: &Pdu,
        mut destinations: Vec<ruma::OwnedServerName>,
        skip: &[&ruma::ServerName],
    ) -> ServiceResult<()> {
        if let Some(target) = membership_target(pdu) {
            destinations.push(target.server_name().to_owned());
        }
        destinations.retain(|d| !skip.contains(&d.as_ref()) && *d != self.context.server_name);
        if destinations.is_empty() || self.ensure_federates(&pdu.room_id).await.is_err() {
            return Ok(());
        }
        self.sender
            .enqueue_pdu(destinations, &pdu.json_string())
            .await
    }

    /// Whether this server has a joined member in the room.
    pub(crate) async fn is_resident(&self, room_id: &RoomId) -> ServiceResult<bool> {
        Ok(self
            .servers_in_room(room_id)
            .await?
            .contains(&self.context.server_name))
    }

    /// The servers with a joined member in the room, this one included.
    pub(crate) async fn servers_in_room(
        &self,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<ruma::OwnedServerName>> {
        self.sender.servers_in_room(room_id).await
    }
}

/// What is stored with an event besides the event and its state.
pub(crate) struct Stored<'a> {
    pub memberships: &'a [MembershipChange],
    pub txn: Option<Txn<'a>>,
    /// What it means for the members' notifications, when known before it is stored.
    pub push: Option<EventPush<'a>>,
}

impl<'a> Stored<'a> {
    /// An event that changes `memberships` and nothing else stored with it.
    pub(crate) fn memberships(memberships: &'a [MembershipChange]) -> Self {
        Self {
            memberships,
            txn: None,
            push: None,
        }
    }
}

/// `room_members` as they are once `changes` (the event's own) are applied.
fn apply_memberships(
    room_id: &RoomId,
    room_members: &mut Vec<MembershipRecord>,
    changes: &[MembershipChange],
) {
    for change in changes {
        match room_members
            .iter_mut()
            .find(|m| m.user_id == change.user_id)
        {
            Some(member) => {
                member.membership = change.membership.clone();
                member.display_name = change.display_name.clone();
            }
            None => room_members.push(MembershipRecord {
                room_id: room_id.to_owned(),
                user_id: change.user_id.clone(),
                membership: change.membership.clone(),
                event_id: change.event_id.clone(),
                // Not stored yet: no position; only who and which membership are read.
                stream_ordering: 0,
                display_name: change.display_name.clone(),
                forgotten: false,
            }),
        }
    }
}

/// The state events that authorise an event, keyed as the auth rules look them up.
pub(crate) type AuthPdus = HashMap<(StateEventType, String), Pdu>;

/// The state keys the auth rules read for `draft`: its auth types and the create event.
pub(crate) fn auth_keys(
    draft: &EventDraft,
    sender: &UserId,
    rules: &RoomVersionRules,
) -> ServiceResult<Vec<(StateEventType, String)>> {
    let mut keys = auth_types(draft, sender, rules)?;
    let create = (StateEventType::RoomCreate, String::new());
    if !keys.contains(&create) {
        keys.push(create);
    }
    Ok(keys)
}

/// The `auth_events` of `draft`: the events of its auth types (the create event only where
/// the room version lists it).
pub(crate) fn auth_event_ids(
    draft: &EventDraft,
    sender: &UserId,
    rules: &RoomVersionRules,
    auth: &AuthPdus,
) -> ServiceResult<Vec<OwnedEventId>> {
    Ok(auth_types(draft, sender, rules)?
        .iter()
        .filter_map(|key| auth.get(key))
        .map(|pdu| pdu.event_id.clone())
        .collect())
}

fn auth_types(
    draft: &EventDraft,
    sender: &UserId,
    rules: &RoomVersionRules,
) -> ServiceResult<Vec<(StateEventType, String)>> {
    let content = to_raw_value(&draft.content).map_err(|e| ServiceError::BadJson(e.to_string()))?;
    let mut types = ruma::state_res::auth_types_for_event(
        &draft.kind,
        sender,
        draft.state_key.as_deref(),
        &content,
        &rules.authorization,
    )
    .map_err(ServiceError::BadJson)?;
    let mut seen = std::collections::HashSet::new();
    types.retain(|key| seen.insert(key.clone()));
    Ok(types)
}

/// The user an `m.room.member` event is about.
pub(crate) fn membership_target(pdu: &Pdu) -> Option<OwnedUserId> {
    if pdu.kind != TimelineEventType::RoomMember {
        return None;
    }
    pdu.state_key
        .as_deref()
        .and_then(|key| UserId::parse(key).ok())
}

/// The membership index entry a member event sets.
pub(crate) fn membership_change(pdu: &Pdu) -> Option<MembershipChange> {
    let user_id = membership_target(pdu)?;
    let content: serde_json::Value = serde_json::from_str(pdu.content.get()).ok()?;
    Some(MembershipChange {
        user_id,
        membership: content.get("membership")?.as_str()?.to_owned(),
        event_id: pdu.event_id.clone(),
        display_name: content
            .get("displayname")
            .and_then(|d| d.as_str())
            .map(ToOwned::to_owned),
    })
}

pub(crate) fn entries(state: &StateMap) -> Vec<StateEntry> {
    state
        .iter()
        .map(|((kind, key), id)| (kind.to_string(), key.clone(), id.clone()))
        .collect()
}

/// A PDU as the repository stores it, changing nothing but its own state group; callers
/// add what else it changes.
pub(crate) fn new_event<'a>(
    pdu: &'a Pdu,
    json: &'a str,
    event_type: &'a str,
    state: StateChange<'a>,
) -> NewEvent<'a> {
    NewEvent {
        event_id: &pdu.event_id,
        room_id: &pdu.room_id,
        event_type,
        state_key: pdu.state_key.as_deref(),
        sender: &pdu.sender,
        depth: pdu.depth,
        origin_server_ts: pdu.origin_server_ts.get().into(),
        json,
        prev_events: &pdu.prev_events,
        state,
        current_state: None,
        built_on_group: None,
        memberships: &[],
        transaction: None,
        search: None,
        push: None,
    }
}

/// The servers with a joined member among `room_members`, each once.
fn joined_servers(room_members: &[MembershipRecord]) -> Vec<ruma::OwnedServerName> {
    let mut servers: Vec<ruma::OwnedServerName> = room_members
        .iter()
        .filter(|m| m.membership == "join")
        .map(|m| m.user_id.server_name().to_owned())
        .collect();
    servers.sort();
    servers.dedup();
    servers
}
