use async_trait::async_trait;
use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

/// What an event means for the members' notifications, stored with the event.
#[derive(Debug, Clone, Copy)]
pub struct EventPush<'a> {
    /// The thread's root, or '' for the main timeline.
    pub thread_id: &'a str,
    pub actions: &'a [PushAction],
}

/// A notification an event causes for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAction {
    pub user_id: OwnedUserId,
    pub notify: bool,
    pub highlight: bool,
    /// The rule's tweaks as a push gateway reads them (`{"sound": "default"}`), '' for none.
    pub tweaks: String,
}

/// Unread counts of one thread ('' for the main timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationCounts {
    pub room_id: OwnedRoomId,
    pub thread_id: String,
    pub notifications: u64,
    pub highlights: u64,
}

/// An event the user was notified about, for `/notifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub room_id: OwnedRoomId,
    pub event_id: ruma::OwnedEventId,
    pub stream_ordering: i64,
    pub highlight: bool,
    /// A read receipt of the user covers it.
    pub read: bool,
}

#[async_trait]
pub trait PushActionRepository: Send + Sync {
    async fn insert(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        stream_ordering: i64,
        thread_id: &str,
        actions: &[PushAction],
    ) -> StorageResult<()>;
    /// Counts per thread of notifications after the user's latest read receipt (public or
    /// private) in that thread, or the room's unthreaded/main receipt.
    /// Rooms without any are left out; several rooms are counted in one statement.
    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_ids: &[&RoomId],
    ) -> StorageResult<Vec<NotificationCounts>>;
    /// The user's notifications before the stream position `before`, latest first, at most
    /// `limit`; with `only_highlights`, those that highlighted.
    async fn notifications(
        &self,
        user_id: &UserId,
        before: i64,
        limit: u32,
        only_highlights: bool,
    ) -> StorageResult<Vec<NotificationRecord>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherRecord {
    pub app_id: String,
    pub pushkey: String,
    pub kind: String,
    pub app_display_name: String,
    pub device_display_name: String,
    pub profile_tag: Option<String>,
    pub lang: String,
    pub data_json: String,
    pub device_id: Option<String>,
}

#[async_trait]
pub trait PusherRepository: Send + Sync {
    /// Adds or replaces the pusher; unless `append`, other users' pushers with the same app and
    /// key are removed (spec: `/pushers/set`).
    async fn set(
        &self,
        user_id: &UserId,
        pusher: &PusherRecord,
        append: bool,
        now: u64,
    ) -> StorageResult<()>;
    async fn delete(&self, user_id: &UserId, app_id: &str, pushkey: &str) -> StorageResult<()>;
    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<PusherRecord>>;
}
