use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub room_id: OwnedRoomId,
    pub user_id: OwnedUserId,
    pub membership: String,
    pub event_id: OwnedEventId,
    pub stream_ordering: i64,
    pub display_name: Option<String>,
    pub forgotten: bool,
}

/// The current membership index, maintained by [`crate::EventRepository::append`].
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<MembershipRecord>>;
    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<MembershipRecord>>;
    /// The servers with a joined member in the room, each once, in order.
    async fn joined_servers(&self, room_id: &RoomId) -> StorageResult<Vec<OwnedServerName>>;
    async fn get(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<MembershipRecord>>;
    /// Records a local user's membership of a room this server is not in (an invite or a
    /// knock over federation), with the stripped state to show them; returns its position in
    /// the stream.
    async fn record_outside_room(
        &self,
        change: &crate::MembershipChange,
        room_id: &RoomId,
        stripped_state: &str,
    ) -> StorageResult<i64>;
    /// The stripped state another server sent with an invite.
    async fn invite_state(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<String>>;
    /// Hides a room the user has left from them (`/forget`).
    async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> StorageResult<()>;
    /// Users in rooms shared with `searcher` or in published rooms whose ID or display name
    /// contains `term` (lower case), with their display name and avatar.
    async fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        limit: u32,
    ) -> StorageResult<Vec<(OwnedUserId, Option<String>, Option<String>)>>;
    /// Everyone who shares a joined room with `user_id`, the user included.
    async fn users_sharing_rooms_with(&self, user_id: &UserId) -> StorageResult<Vec<OwnedUserId>>;
    /// The other members of `user_id`'s rooms (any membership) in the rooms where their
    /// membership or the user's changed within `(after, until]`, each with the user's own
    /// membership there: what tells whose devices to track or forget, in one query.
    async fn moves_around(
        &self,
        user_id: &UserId,
        after: i64,
        until: i64,
    ) -> StorageResult<Vec<(String, MembershipRecord)>>;
}
