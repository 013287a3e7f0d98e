use async_trait::async_trait;
use ruma::UserId;

use crate::StorageResult;

#[async_trait]
pub trait FilterRepository: Send + Sync {
    /// Stores the filter's JSON and returns its new ID.
    async fn create(&self, user_id: &UserId, filter_json: &str) -> StorageResult<String>;
    async fn get(&self, user_id: &UserId, filter_id: &str) -> StorageResult<Option<String>>;
}
