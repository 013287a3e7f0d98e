use async_trait::async_trait;
use ruma::{DeviceId, EventId, OwnedEventId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

/// A stored PDU and where it sits in the sync order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub stream_ordering: i64,
    pub event_id: OwnedEventId,
    /// The canonical JSON of the PDU.
    pub json: String,
    /// The room state after this event.
    pub state_group: i64,
    /// The redaction that pruned this event; `json` is then the redacted form.
    pub redacted_by: Option<OwnedEventId>,
}

/// One `(type, state_key) → event_id` entry of room state.
pub type StateEntry = (String, String, OwnedEventId);

/// How an event changes its room's state.
#[derive(Debug, Clone)]
pub enum StateChange<'a> {
    /// A message-like event: the state stays the given group.
    Unchanged(i64),
    /// A state event: `delta` over `prev_group`; `full` is the whole resulting state, which the
    /// backend stores instead of a delta when the chain of deltas has grown long.
    Changed {
        prev_group: Option<i64>,
        delta: &'a [StateEntry],
        full: &'a [StateEntry],
    },
    /// In a batch of events written together: `delta` over the state the previous event of
    /// the batch left (whose group is not known before it is written).
    AfterPrevious {
        delta: &'a [StateEntry],
        full: &'a [StateEntry],
    },
}

/// The transaction ID a client sent an event with, for idempotent retries.
#[derive(Debug, Clone, Copy)]
pub struct ClientTransaction<'a> {
    pub user_id: &'a UserId,
    pub device_id: &'a DeviceId,
    /// The request path without the transaction ID: IDs are unique only within it.
    pub scope: &'a str,
    pub txn_id: &'a str,
}

/// A PDU to append to a room's timeline, with what it changes.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event_id: &'a EventId,
    pub room_id: &'a RoomId,
    pub event_type: &'a str,
    pub state_key: Option<&'a str>,
    pub sender: &'a UserId,
    pub depth: u64,
    pub origin_server_ts: u64,
    pub json: &'a str,
    /// The events this one points to; they stop being forward extremities.
    pub prev_events: &'a [OwnedEventId],
    pub state: StateChange<'a>,
    /// The room's current state after this event when it differs from the state after the
    /// event itself (a remote event on a fork: both sides resolved); `None` otherwise.
    pub current_state: Option<StateChange<'a>>,
    /// The room's current state group the event was built on, when it was: another writer
    /// (another process) that changed the current state since makes the append fail with
    /// [`crate::StorageError::Conflict`], writing nothing, for the caller to build again.
    pub built_on_group: Option<i64>,
    /// The membership index changes this event brings (its own, or what resolution changed).
    pub memberships: &'a [MembershipChange],
    pub transaction: Option<ClientTransaction<'a>>,
    /// Stored in the event's transaction: its text for search, and what it means for the
    /// members' notifications.
    pub search: Option<crate::SearchText<'a>>,
    pub push: Option<crate::EventPush<'a>>,
}

/// A member's new entry in the membership index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub user_id: OwnedUserId,
    pub membership: String,
    pub event_id: OwnedEventId,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedEvent {
    pub stream_ordering: i64,
    pub state_group: i64,
}

#[async_trait]
pub trait EventRepository: Send + Sync {
    /// Appends the event atomically: the event, its state group, the room's current state and
    /// forward extremities, the membership index and the client transaction.
    async fn append(&self, event: &NewEvent<'_>) -> StorageResult<AppendedEvent>;
    /// A timeline event or an outlier (an outlier has stream ordering and state group 0).
    async fn get(&self, event_id: &EventId) -> StorageResult<Option<EventRecord>>;
    /// Keeps an event outside any timeline: received state and auth chains, soft-failed
    /// events. Storing a known event again changes nothing.
    async fn store_outlier(
        &self,
        event_id: &EventId,
        room_id: &RoomId,
        json: &str,
    ) -> StorageResult<()>;
    /// Records a received event as rejected, and no longer as an outlier: it is never state,
    /// shown or served. Rejecting an event again changes nothing.
    async fn reject(
        &self,
        event_id: &EventId,
        room_id: &RoomId,
        json: &str,
        reason: &str,
    ) -> StorageResult<()>;
    /// A rejected event: its JSON and why it was rejected.
    async fn rejected(&self, event_id: &EventId) -> StorageResult<Option<(String, String)>>;
    /// Adds an older event fetched from another server (backfill) before every other event
    /// of the timeline: it gets a negative stream position, so syncs never see it as new, and
    /// changes no current state, extremity or membership. Only the event's own fields and
    /// its state group (`StateChange::Unchanged`) are used.
    async fn insert_backfilled(&self, event: &NewEvent<'_>) -> StorageResult<i64>;
    /// The room's oldest event in the timeline.
    async fn earliest_event(&self, room_id: &RoomId) -> StorageResult<Option<EventRecord>>;
    /// Whether the event is in a timeline (not only an outlier).
    async fn in_timeline(&self, event_id: &EventId) -> StorageResult<bool>;
    async fn get_many(&self, event_ids: &[OwnedEventId]) -> StorageResult<Vec<EventRecord>>;
    /// The room's timeline event closest to `ts` at or after it (`forward`) or at or before
    /// it, among those at stream positions up to `until`: its ID and timestamp.
    async fn closest_to_time(
        &self,
        room_id: &RoomId,
        ts: u64,
        forward: bool,
        until: i64,
    ) -> StorageResult<Option<(OwnedEventId, u64)>>;
    async fn find_transaction(
        &self,
        transaction: ClientTransaction<'_>,
    ) -> StorageResult<Option<OwnedEventId>>;
    /// The room's events after `after` (exclusive) up to `until` (inclusive), oldest first when
    /// `forward`, newest first otherwise, at most `limit`.
    async fn room_events(
        &self,
        room_id: &RoomId,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> StorageResult<Vec<EventRecord>>;
    /// Every room's events after `after` (exclusive) up to `until` (inclusive), in stream
    /// order, at most `limit`: what application services are sent.
    async fn stream_events(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<EventRecord>>;
    /// The events nothing points to yet, with their depth.
    async fn forward_extremities(
        &self,
        room_id: &RoomId,
    ) -> StorageResult<Vec<(OwnedEventId, u64)>>;
    /// Replaces an event's JSON with its redacted form and records the redaction.
    async fn redact(
        &self,
        event_id: &EventId,
        redacted_json: &str,
        redaction_id: &EventId,
    ) -> StorageResult<()>;
    /// The device and transaction ID each of these local events was sent with, as
    /// `(event ID, device ID, transaction ID)`; events sent without one are left out.
    async fn transactions_of(
        &self,
        event_ids: &[&EventId],
    ) -> StorageResult<Vec<(OwnedEventId, String, String)>>;
}

#[async_trait]
pub trait StateRepository: Send + Sync {
    /// The whole state of a group, resolved through its delta chain.
    async fn load(&self, group: i64) -> StorageResult<Vec<StateEntry>>;
}
