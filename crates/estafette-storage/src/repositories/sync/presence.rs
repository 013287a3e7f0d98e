use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    pub user_id: OwnedUserId,
    /// `online`, `unavailable` or `offline`.
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ts: u64,
    pub stream_id: i64,
}

#[async_trait]
pub trait PresenceRepository: Send + Sync {
    /// Records a user's presence at a new stream position, which it returns.
    async fn set(
        &self,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
        last_active_ts: u64,
    ) -> StorageResult<i64>;
    /// Moves `last_active_ts` forward without a new stream position: activity alone does not
    /// wake other users' syncs.
    async fn touch(&self, user_id: &UserId, last_active_ts: u64) -> StorageResult<()>;
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>>;
    /// The presence that changed after `since` of `user_id` and everyone sharing a joined room
    /// with them.
    async fn changed_since(
        &self,
        user_id: &UserId,
        since: i64,
    ) -> StorageResult<Vec<PresenceRecord>>;
}
