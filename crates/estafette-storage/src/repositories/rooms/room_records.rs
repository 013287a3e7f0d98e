use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};

use crate::{AppendedEvent, NewEvent, StorageResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub room_id: OwnedRoomId,
    pub room_version: String,
    pub creator: OwnedUserId,
    pub is_public: bool,
    pub current_state_group: Option<i64>,
}

/// A room this server creates, with what it is created with.
#[derive(Debug, Clone)]
pub struct NewRoom<'a> {
    pub room_id: &'a RoomId,
    pub room_version: &'a str,
    pub creator: &'a UserId,
    pub is_public: bool,
    pub now: u64,
    /// The alias the room is created with (`room_alias_name`), owned by the creator.
    pub alias: Option<&'a RoomAliasId>,
}

/// How a room creation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCreation {
    /// The room and its first events, at these positions.
    Created(Vec<AppendedEvent>),
    /// Nothing was written: the room ID exists.
    RoomIdTaken,
    /// Nothing was written: the alias is taken.
    AliasTaken,
}

#[async_trait]
pub trait RoomRepository: Send + Sync {
    /// Creates a room, its alias and its first events (the create event first, each later
    /// one's state `AfterPrevious`) in one transaction: after a crash the room exists whole
    /// or not at all.
    async fn create_with_events(
        &self,
        room: &NewRoom<'_>,
        events: &[NewEvent<'_>],
    ) -> StorageResult<RoomCreation>;
    /// A room joined over federation; `false` when the room already exists.
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
