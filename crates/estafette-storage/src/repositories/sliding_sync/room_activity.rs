use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};

use crate::StorageResult;

/// Where a room's timeline stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomActivity {
    pub room_id: OwnedRoomId,
    /// The stream position of its newest event (0 for a room without events here).
    pub latest: i64,
    /// The stream position of its newest event of a bumping type, if any.
    pub bump: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCounts {
    pub room_id: OwnedRoomId,
    pub joined: u64,
    pub invited: u64,
}

/// What a room list is sorted and counted by, read for many rooms at once.
#[async_trait]
pub trait RoomActivityRepository: Send + Sync {
    /// For each room the user has a membership in (those of `room_ids` only, when given),
    /// its newest event and its newest event of one of `bump_types`.
    async fn activity(
        &self,
        user_id: &UserId,
        room_ids: Option<&[&RoomId]>,
        bump_types: &[&str],
    ) -> StorageResult<Vec<RoomActivity>>;
    /// Joined and invited members of each of these rooms (rooms without any are left out).
    async fn member_counts(&self, room_ids: &[&RoomId]) -> StorageResult<Vec<MemberCounts>>;
}
