use async_trait::async_trait;
use ruma::OwnedUserId;

use crate::StorageResult;

/// A user-interactive authentication session, bound to the action it authorises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiaSessionRecord {
    pub session_id: String,
    /// What the session may authorise, e.g. `register` or `delete_devices`.
    pub action: String,
    /// The authenticated user who started it; `None` for registration.
    pub user_id: Option<OwnedUserId>,
    pub completed: Vec<String>,
    pub created_ts: u64,
}

#[async_trait]
pub trait UiaSessionRepository: Send + Sync {
    async fn create(&self, session: &UiaSessionRecord) -> StorageResult<()>;
    async fn get(&self, session_id: &str) -> StorageResult<Option<UiaSessionRecord>>;
    async fn add_completed(&self, session_id: &str, stage: &str) -> StorageResult<()>;
    async fn delete(&self, session_id: &str) -> StorageResult<()>;
    async fn delete_created_before(&self, ts: u64) -> StorageResult<u64>;
}
