use async_trait::async_trait;
use ruma::UserId;

use crate::StorageResult;

/// Device-list tracking across servers: other servers' users' device lists kept here, and
/// the chain of updates sent about local users.
#[async_trait]
pub trait DeviceListRepository: Send + Sync {
    /// A remote user's cached device list: `(stream_id, JSON)`.
    async fn cached(&self, user_id: &UserId) -> StorageResult<Option<(i64, String)>>;
    async fn cache(&self, user_id: &UserId, stream_id: i64, keys: &str) -> StorageResult<()>;
    async fn forget(&self, user_id: &UserId) -> StorageResult<()>;
    /// Records the stream ID of an update about a local user; returns the previous one.
    async fn record_sent(&self, user_id: &UserId, stream_id: i64) -> StorageResult<Option<i64>>;
    /// The stream ID of the last update sent about a local user.
    async fn last_sent(&self, user_id: &UserId) -> StorageResult<Option<i64>>;
}
