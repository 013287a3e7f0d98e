//! Delayed events (MSC4140): what a user asked the server to send later, kept until sent or
//! cancelled, so that a restart or another process sends it.

use async_trait::async_trait;
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, UserId};

use crate::StorageResult;

/// A scheduled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayedEventRecord {
    pub delay_id: String,
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub room_id: OwnedRoomId,
    pub event_type: String,
    /// Present for a state event.
    pub state_key: Option<String>,
    /// The content, as JSON text.
    pub content: String,
    pub delay_ms: u64,
    pub created_ts: u64,
    /// When the delay last started (scheduling, or the latest restart).
    pub running_since: u64,
    /// `running_since + delay_ms`.
    pub send_ts: u64,
}

#[async_trait]
pub trait DelayedEventRepository: Send + Sync {
    /// Schedules an event; `false` (nothing stored) when its owner has `max_per_user` already.
    async fn add(&self, event: &DelayedEventRecord, max_per_user: u64) -> StorageResult<bool>;
    /// A user's scheduled events, soonest first.
    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<DelayedEventRecord>>;
    async fn get(&self, delay_id: &str) -> StorageResult<Option<DelayedEventRecord>>;
    /// Starts the delay again from `now`, unless the event is being sent; `false` when there is
    /// no such event waiting.
    async fn restart(&self, delay_id: &str, now: u64) -> StorageResult<bool>;
    /// Drops an event not being sent; `false` when there is no such event waiting.
    async fn cancel(&self, delay_id: &str) -> StorageResult<bool>;
    /// Events whose time has come (`send_ts <= now`) that no process is sending, or whose
    /// sender's claim is older than `stale_before`.
    async fn due(&self, now: u64, stale_before: u64, limit: u32) -> StorageResult<Vec<String>>;
    /// Claims an event for sending at `now`: waiting, or claimed before `stale_before`, and
    /// (with `due`) its time come. `None` when another process has it or it is gone.
    async fn claim(
        &self,
        delay_id: &str,
        now: u64,
        stale_before: u64,
        due: bool,
    ) -> StorageResult<Option<DelayedEventRecord>>;
    /// Forgets an event once sent (or failed for good).
    async fn finish(&self, delay_id: &str) -> StorageResult<()>;
    /// When the next waiting event is due.
    async fn next_send_ts(&self) -> StorageResult<Option<u64>>;
}
