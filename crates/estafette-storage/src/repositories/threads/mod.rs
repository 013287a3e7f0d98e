//! Thread subscriptions (MSC4306): which threads each user follows.

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};

use crate::StorageResult;

/// A subscription's state after its latest change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSubscriptionRecord {
    pub room_id: OwnedRoomId,
    pub thread_root: OwnedEventId,
    /// `false`: the user left the thread.
    pub subscribed: bool,
    /// Set by the client on the user's behalf rather than by hand.
    pub automatic: bool,
    /// The stream position of the latest change.
    pub stream_id: i64,
}

/// What a subscription request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// Changed, at this stream position.
    Changed(i64),
    /// Already so: nothing changed.
    Unchanged,
    /// An automatic subscription up to an event the user unsubscribed after.
    Conflict,
}

#[async_trait]
pub trait ThreadSubscriptionRepository: Send + Sync {
    /// Subscribes by hand (`automatic_up_to` `None`), or automatically because of the thread
    /// event at that stream position: never over a manual subscription, nor over an
    /// unsubscription made after that event.
    async fn subscribe(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
        automatic_up_to: Option<i64>,
    ) -> StorageResult<Subscribed>;
    /// Leaves the thread; `None` when the user was not subscribed.
    async fn unsubscribe(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> StorageResult<Option<i64>>;
    async fn get(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> StorageResult<Option<ThreadSubscriptionRecord>>;
    /// The user's changes in `(after, until]`, latest first, at most `limit`.
    async fn changes(
        &self,
        user_id: &UserId,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ThreadSubscriptionRecord>>;
}
