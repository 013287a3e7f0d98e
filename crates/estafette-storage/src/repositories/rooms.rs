use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub room_id: OwnedRoomId,
    pub room_version: String,
    pub creator: OwnedUserId,
    pub is_public: bool,
    pub current_state_group: Option<i64>,
}

#[async_trait]
pub trait RoomRepository: Send + Sync {
    /// `false` when the room already exists.
    async fn create(
        &self,
        room_id: &RoomId,
        room_version: &str,
        creator: &UserId,
        is_public: bool,
        now: u64,
    ) -> StorageResult<bool>;
    async fn get(&self, room_id: &RoomId) -> StorageResult<Option<RoomRecord>>;
    async fn set_public(&self, room_id: &RoomId, is_public: bool) -> StorageResult<()>;
    /// Rooms published in the directory.
    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>>;
}
