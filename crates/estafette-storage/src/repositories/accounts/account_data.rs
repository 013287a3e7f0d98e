use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

/// One entry, as returned to `/sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDataEntry {
    pub room_id: Option<OwnedRoomId>,
    pub data_type: String,
    pub content_json: String,
}

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
    ) -> StorageResult<i64>;
    async fn get(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> StorageResult<Option<String>>;
    /// The global entry of `data_type` of every joined member of `room_id` that has one, in
    /// one query (push rules, read for all members on every event).
    async fn global_of_joined_members(
        &self,
        room_id: &RoomId,
        data_type: &str,
    ) -> StorageResult<Vec<(OwnedUserId, String)>>;
    /// Entries (global and per room) written after stream position `since`; 0 gives all.
    async fn changed_since(
        &self,
        user_id: &UserId,
        since: i64,
    ) -> StorageResult<Vec<AccountDataEntry>>;
    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()>;
}
