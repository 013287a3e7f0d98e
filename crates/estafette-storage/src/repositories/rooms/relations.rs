use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

/// One event's relation to another, as indexed from its `m.relates_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRecord {
    pub event_id: OwnedEventId,
    pub relates_to_id: OwnedEventId,
    pub rel_type: String,
    pub event_type: String,
    pub sender: OwnedUserId,
    pub aggregation_key: Option<String>,
    pub stream_ordering: i64,
}

/// A thread root and what happened in the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSummary {
    pub root: OwnedEventId,
    pub count: u64,
    pub latest_event: OwnedEventId,
    pub latest_ordering: i64,
}

#[async_trait]
pub trait RelationRepository: Send + Sync {
    async fn insert(&self, room_id: &RoomId, relation: &RelationRecord) -> StorageResult<()>;
    /// Forgets a (redacted) event's relation.
    async fn delete(&self, event_id: &EventId) -> StorageResult<()>;
    /// Relations to `event_id`, optionally of one type and event type, between stream positions
    /// (`after`, `until`], newest first unless `forward`.
    #[allow(clippy::too_many_arguments)]
    async fn relations_of(
        &self,
        event_id: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> StorageResult<Vec<RelationRecord>>;
    /// Which of `event_ids` are the target of an edit, a thread reply or a reference: the
    /// relations a bundle aggregates (one query for a whole timeline).
    async fn bundled_targets(
        &self,
        event_ids: &[&EventId],
    ) -> StorageResult<std::collections::HashSet<OwnedEventId>>;
    async fn thread_summary(&self, root: &EventId) -> StorageResult<Option<ThreadSummary>>;
    async fn participated(&self, root: &EventId, user_id: &UserId) -> StorageResult<bool>;
    /// Thread roots of a room by latest activity (newest first) before stream position `until`,
    /// optionally only those `participant` took part in (as root sender or replier).
    async fn threads(
        &self,
        room_id: &RoomId,
        participant: Option<&UserId>,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ThreadSummary>>;
}
