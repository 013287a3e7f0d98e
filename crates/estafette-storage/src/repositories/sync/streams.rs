use async_trait::async_trait;

use crate::StorageResult;

/// The one sequence of positions everything a client syncs on is ordered by.
#[async_trait]
pub trait StreamRepository: Send + Sync {
    /// The position up to which everything written has committed: a sync token never goes
    /// past it, so no write at a smaller position can appear after a client read past it.
    async fn current(&self) -> StorageResult<i64>;
    /// A new position for an update kept outside the database (typing notifications).
    async fn allocate(&self) -> StorageResult<i64>;
    /// Forgets the in-flight positions of writers that rolled back or died (they stopped
    /// holding readers back already); returns how many.
    async fn clear_abandoned(&self) -> StorageResult<u64>;
}
