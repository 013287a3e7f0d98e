//! Reports users send the server's administrators (spec "Reporting content").

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use crate::StorageResult;

/// A report, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: i64,
    /// `event`, `room` or `user`.
    pub kind: String,
    pub room_id: Option<OwnedRoomId>,
    pub event_id: Option<OwnedEventId>,
    pub reported_user: Option<OwnedUserId>,
    pub reporter: OwnedUserId,
    pub reason: String,
    pub received_ts: u64,
}

#[async_trait]
pub trait ReportRepository: Send + Sync {
    /// Records a report (its `id` is ignored); returns its ID.
    async fn add(&self, report: &ReportRecord) -> StorageResult<i64>;
    /// The latest reports, newest first.
    async fn latest(&self, limit: u32) -> StorageResult<Vec<ReportRecord>>;
}
