use async_trait::async_trait;

use crate::StorageResult;

/// The one sequence of positions everything a client syncs on is ordered by.
#[async_trait]
pub trait StreamRepository: Send + Sync {
    /// The newest position handed out.
    async fn current(&self) -> StorageResult<i64>;
    /// A new position for an update kept outside the database (typing notifications).
    async fn allocate(&self) -> StorageResult<i64>;
}
