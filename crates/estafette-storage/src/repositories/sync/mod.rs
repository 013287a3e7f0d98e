//! Sync: the stream positions, receipts, push actions and pushers, presence.

mod presence;
mod push;
mod receipts;
mod streams;

pub use presence::{PresenceRecord, PresenceRepository};
pub use push::{
    EventPush, NotificationCounts, NotificationRecord, PushAction, PushActionRepository,
    PusherRecord, PusherRepository,
};
pub use receipts::{ReceiptRecord, ReceiptRepository};
pub use streams::{RoomWithNews, StreamNews, StreamRepository};
