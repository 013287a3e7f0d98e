//! Push delivery: which HTTP pushers have notifications to send, what those are, and where
//! each pusher stands (delivered up to, failing since, retried when).

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, UserId};

use crate::StorageResult;

/// An HTTP pusher with notifications after its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePusher {
    pub user_id: OwnedUserId,
    pub app_id: String,
    pub pushkey: String,
    pub data_json: String,
    pub created_ts: u64,
    /// The stream position of the last notification handled.
    pub delivered_stream: i64,
    pub failing_since: Option<u64>,
    pub backoff_ms: u64,
}

/// A notification waiting for a pusher, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPush {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub stream_ordering: i64,
    pub highlight: bool,
}

#[async_trait]
pub trait PushDeliveryRepository: Send + Sync {
    /// HTTP pushers with notifications after their position, not waiting for a retry and
    /// not claimed (or claimed before `stale_before`).
    async fn due(&self, now: u64, stale_before: u64, limit: u32) -> StorageResult<Vec<DuePusher>>;
    /// Claims a pusher for sending; `false` when another process has it.
    async fn claim(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        now: u64,
        stale_before: u64,
    ) -> StorageResult<bool>;
    /// The user's notifications after `after`, oldest first.
    async fn pending(
        &self,
        user_id: &UserId,
        after: i64,
        limit: u32,
    ) -> StorageResult<Vec<PendingPush>>;
    /// Handled up to `position`: failures forgotten, the claim released.
    async fn delivered(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        position: i64,
    ) -> StorageResult<()>;
    /// Failing: retried at `retry_ts`, the claim released.
    async fn failed(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        failing_since: u64,
        backoff_ms: u64,
        retry_ts: u64,
    ) -> StorageResult<()>;
    /// Rooms with unread notifications: the badge.
    async fn unread_rooms(&self, user_id: &UserId) -> StorageResult<u64>;
    /// When the next failing pusher is retried.
    async fn next_retry(&self, now: u64) -> StorageResult<Option<u64>>;
}
