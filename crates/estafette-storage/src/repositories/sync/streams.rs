use async_trait::async_trait;

use std::collections::BTreeMap;

use ruma::{DeviceId, OwnedRoomId, UserId};

use crate::StorageResult;

/// What moved for one user's device in a window of the stream: an incremental sync asks this
/// once and reads only what moved (most woken syncs see one room's event and nothing else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamNews {
    /// The window's end: the stream position everything up to which has committed (as
    /// [`StreamRepository::current`]).
    pub position: i64,
    /// The device's unclaimed one-time keys per algorithm and its unused fallback key
    /// algorithms, which every sync reports.
    pub keys: (BTreeMap<String, u64>, Vec<String>),
    /// The joined rooms with an event or a receipt after the window's start: the only joined
    /// rooms an incremental sync has anything to say about, apart from their account data and
    /// typing.
    pub rooms: Vec<RoomWithNews>,
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

/// A joined room with something new for an incremental sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomWithNews {
    pub room_id: OwnedRoomId,
    /// A receipt moved (otherwise only events did).
    pub receipts: bool,
    /// An event of the window is the target of an edit, a thread reply or a reference.
    pub relations: bool,
}

impl StreamNews {
    /// Everything may have moved: what a sync without a token (or with `full_state`) reads.
    pub const ALL: Self = Self {
        position: 0,
        keys: (BTreeMap::new(), Vec::new()),
        rooms: Vec::new(),
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
    /// What moved for `user_id`'s `device_id` after `after`, up to the current position
    /// (one statement, so one snapshot).
    async fn news(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: i64,
    ) -> StorageResult<StreamNews>;
    /// A new position for an update kept outside the database (typing notifications).
    async fn allocate(&self) -> StorageResult<i64>;
    /// Forgets the in-flight positions of writers that rolled back or died (they stopped
    /// holding readers back already); returns how many.
    async fn clear_abandoned(&self) -> StorageResult<u64>;
}
