use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::UserId;
use serde_json::Value as JsonValue;

use crate::StorageResult;

/// Profile fields (`displayname`, `avatar_url` and custom keys) as JSON values.
#[async_trait]
pub trait ProfileRepository: Send + Sync {
    async fn get_all(&self, user_id: &UserId) -> StorageResult<BTreeMap<String, JsonValue>>;
    async fn get_field(&self, user_id: &UserId, field: &str) -> StorageResult<Option<JsonValue>>;
    /// Sets a field; `None` removes it.
    async fn set_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Option<&JsonValue>,
    ) -> StorageResult<()>;
    async fn clear(&self, user_id: &UserId) -> StorageResult<()>;
}
