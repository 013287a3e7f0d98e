use async_trait::async_trait;

use ruma::{DeviceId, UserId};

use crate::StorageResult;

/// What moved for one user's device in a window of the stream: an incremental sync asks this
/// once and reads only what moved (most woken syncs see one room's event and nothing else).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamNews {
    /// Messages wait for the device (new, or delivered and not yet acknowledged).
    pub to_device: bool,
    /// The user's account data changed after the window's start.
    pub account_data: bool,
    /// One of the user's own memberships changed after the window's start.
    pub memberships: bool,
    /// Someone's membership changed in the window, in any room.
    pub room_memberships: bool,
    /// Someone's device list changed in the window.
    pub device_lists: bool,
    /// Someone's presence changed after the window's start.
    pub presence: bool,
}

impl StreamNews {
    /// Everything may have moved: what a sync without a token (or with `full_state`) reads.
    pub const ALL: Self = Self {
        to_device: true,
        account_data: true,
        memberships: true,
        room_memberships: true,
        device_lists: true,
        presence: true,
    };
}

/// The one sequence of positions everything a client syncs on is ordered by.
#[async_trait]
pub trait StreamRepository: Send + Sync {
    /// The position up to which everything written has committed: a sync token never goes
    /// past it, so no write at a smaller position can appear after a client read past it.
    async fn current(&self) -> StorageResult<i64>;
    /// What moved for `user_id`'s `device_id` in `(after, until]` (one statement).
    async fn news(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: i64,
        until: i64,
    ) -> StorageResult<StreamNews>;
    /// A new position for an update kept outside the database (typing notifications).
    async fn allocate(&self) -> StorageResult<i64>;
    /// Forgets the in-flight positions of writers that rolled back or died (they stopped
    /// holding readers back already); returns how many.
    async fn clear_abandoned(&self) -> StorageResult<u64>;
}
