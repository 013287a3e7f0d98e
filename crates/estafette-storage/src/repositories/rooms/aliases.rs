use async_trait::async_trait;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};

use crate::StorageResult;

#[async_trait]
pub trait AliasRepository: Send + Sync {
    /// `false` when the alias is taken.
    async fn create(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
        now: u64,
    ) -> StorageResult<bool>;
    /// The room and the creator of the alias.
    async fn resolve(
        &self,
        alias: &RoomAliasId,
    ) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>>;
    async fn delete(&self, alias: &RoomAliasId) -> StorageResult<bool>;
    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<OwnedRoomAliasId>>;
    /// Points every alias of `from` at `to` (room upgrades).
    async fn move_room(&self, from: &RoomId, to: &RoomId) -> StorageResult<()>;
}
