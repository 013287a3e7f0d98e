use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub room_id: OwnedRoomId,
    pub receipt_type: String,
    pub user_id: OwnedUserId,
    /// Empty for an unthreaded receipt.
    pub thread_id: String,
    pub event_id: OwnedEventId,
    pub ts: u64,
    pub stream_id: i64,
}

#[async_trait]
pub trait ReceiptRepository: Send + Sync {
    /// Records a user's receipt, replacing the previous one of the same kind; returns its
    /// stream position.
    #[allow(clippy::too_many_arguments)]
    async fn set(
        &self,
        room_id: &RoomId,
        receipt_type: &str,
        user_id: &UserId,
        thread_id: &str,
        event_id: &EventId,
        ts: u64,
    ) -> StorageResult<i64>;
    /// Receipts in these rooms written after `since`, in the order they were written.
    async fn changed_since(
        &self,
        room_ids: &[&RoomId],
        since: i64,
    ) -> StorageResult<Vec<ReceiptRecord>>;
    /// Every room's receipts written after `after` up to `until`, in the order they were
    /// written, at most `limit`: what application services are sent.
    async fn between(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ReceiptRecord>>;
}
