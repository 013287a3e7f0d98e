use async_trait::async_trait;

use crate::StorageResult;

/// Token buckets kept in the database, so that a limit holds however a client's requests are
/// spread over the server's processes.
#[async_trait]
pub trait RateLimitRepository: Send + Sync {
    /// Takes one token from `bucket` (refilled at `per_second` up to `burst` since it was last
    /// used; full when new) at `now`, atomically. `None` when granted; otherwise the tokens
    /// left (below one), from which the caller computes the wait.
    async fn take(
        &self,
        bucket: &str,
        now: u64,
        per_second: f64,
        burst: f64,
    ) -> StorageResult<Option<f64>>;
    /// Forgets buckets unused since `before` (they are full again by then).
    async fn prune(&self, before: u64) -> StorageResult<()>;
}
