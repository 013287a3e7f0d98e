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
    /// When it is tried again, or (email) its digest goes out; 0: not waiting.
    pub retry_ts: u64,
}

/// A notification waiting for a pusher, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPush {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub stream_ordering: i64,
    pub highlight: bool,
    /// The tweaks stored with it (JSON object), '' for none.
    pub tweaks: String,
}

/// A pusher's failure: when it began, the back-off and the retry time, and the newest
/// notification it was trying to send (a newer one makes it due before the retry time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushFailure {
    pub failing_since: u64,
    pub backoff_ms: u64,
    pub retry_ts: u64,
    pub attempted_stream: i64,
}

#[async_trait]
pub trait PushDeliveryRepository: Send + Sync {
    /// HTTP pushers with notifications after their position, not claimed (or claimed before
    /// `stale_before`); a failing one only at its retry time or with a notification newer than
    /// those it failed on.
    async fn due(&self, now: u64, stale_before: u64, limit: u32) -> StorageResult<Vec<DuePusher>>;
    /// Email pushers with notifications after their position, not claimed, and whose digest
    /// is due or not yet scheduled (`retry_ts` 0).
    async fn due_emails(
        &self,
        now: u64,
        stale_before: u64,
        limit: u32,
    ) -> StorageResult<Vec<DuePusher>>;
    /// Schedules a digest at `at`, unless one is already.
    async fn schedule(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        at: u64,
    ) -> StorageResult<()>;
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
    /// The position of the user's newest notification (0 when none).
    async fn newest(&self, user_id: &UserId) -> StorageResult<i64>;
    /// Handled up to `position`: failures forgotten, the claim released.
    async fn delivered(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        position: i64,
    ) -> StorageResult<()>;
    /// Failing: retried at its retry time, the claim released.
    async fn failed(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        failure: PushFailure,
    ) -> StorageResult<()>;
    /// Rooms with unread notifications: the badge.
    async fn unread_rooms(&self, user_id: &UserId) -> StorageResult<u64>;
    /// When the next failing pusher is retried, or the next digest goes out.
    async fn next_retry(&self, now: u64) -> StorageResult<Option<u64>>;
}
