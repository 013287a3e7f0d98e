use async_trait::async_trait;

use crate::StorageResult;

/// What the scanner said of some bytes, and with which signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVerdict {
    /// clamd's `VERSION` answer, which names its signature database.
    pub engine_version: String,
    /// The signature found; `None` when clean.
    pub infected_by: Option<String>,
    pub scanned_ts: u64,
}

/// Verdicts by content hash (hex SHA-256), shared by every process of a server.
#[async_trait]
pub trait VerdictRepository: Send + Sync {
    async fn get(&self, content_hash: &str) -> StorageResult<Option<StoredVerdict>>;
    /// Keeps the latest verdict for these bytes, replacing an older one.
    async fn put(&self, content_hash: &str, verdict: &StoredVerdict) -> StorageResult<()>;
}
