use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

/// One searchable text of an event.
#[derive(Debug, Clone)]
pub struct SearchEntry<'a> {
    pub event_id: &'a EventId,
    pub room_id: &'a RoomId,
    pub sender: &'a UserId,
    pub stream_ordering: i64,
    /// `content.body`, `content.name` or `content.topic`.
    pub key: &'a str,
    pub text: &'a str,
}

/// An event's searchable text, stored with the event.
#[derive(Debug, Clone, Copy)]
pub struct SearchText<'a> {
    /// `content.body`, `content.name` or `content.topic`.
    pub key: &'a str,
    pub text: &'a str,
}

/// What to look for: every word, as a word prefix, in any of `keys`.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    pub words: &'a [String],
    pub keys: &'a [&'a str],
    pub rooms: &'a [OwnedRoomId],
    /// Only these senders when set; never those of `not_senders`.
    pub senders: Option<&'a [OwnedUserId]>,
    pub not_senders: &'a [OwnedUserId],
    /// Newest first rather than best first.
    pub recent_first: bool,
    pub offset: u32,
    pub limit: u32,
}

/// An event that matched, with its rank (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchMatch {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub rank: f64,
}

#[async_trait]
pub trait SearchRepository: Send + Sync {
    async fn index(&self, entry: &SearchEntry<'_>) -> StorageResult<()>;
    /// Forgets a (redacted) event's texts.
    async fn remove(&self, event_id: &EventId) -> StorageResult<()>;
    /// A page of matches in the order asked, and how many events match in all.
    async fn search(&self, query: &SearchQuery<'_>) -> StorageResult<(Vec<SearchMatch>, u64)>;
}
