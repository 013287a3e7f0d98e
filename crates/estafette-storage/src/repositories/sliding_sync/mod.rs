//! Simplified sliding sync (MSC4186): what each connection has been sent, and what rooms a
//! room list is sorted and counted by.

mod connections;
mod room_activity;

pub use connections::{ConnectionKey, SentRoom, SlidingSyncConnectionRepository};
pub use room_activity::{MemberCounts, RoomActivity, RoomActivityRepository};
