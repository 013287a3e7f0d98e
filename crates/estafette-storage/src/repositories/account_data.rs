use async_trait::async_trait;
use ruma::{RoomId, UserId};

use crate::StorageResult;

/// Global (`room_id` = `None`) and per-room account data, stored as JSON text.
#[async_trait]
pub trait AccountDataRepository: Send + Sync {
    async fn set(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content_json: &str,
        now: u64,
    ) -> StorageResult<()>;
    async fn get(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> StorageResult<Option<String>>;
    /// Every global entry of a user, as (type, JSON).
    async fn list_global(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>>;
    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()>;
}
