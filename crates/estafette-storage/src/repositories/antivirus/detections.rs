use async_trait::async_trait;

use crate::StorageResult;

/// An infected file met by the server: what the operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub content_hash: String,
    pub signature: String,
    /// The `mxc://` URI, when the file is media.
    pub media: Option<String>,
    /// Who uploaded or asked for it: a local user, or another server.
    pub requester: Option<String>,
    /// How the file came: `upload`, `remote_fetch` (from another server), `download` (asked
    /// for by a local user) or `federation_download` (by another server).
    pub source: String,
    pub detected_ts: u64,
}

#[async_trait]
pub trait DetectionRepository: Send + Sync {
    async fn record(&self, detection: &Detection) -> StorageResult<()>;
    /// The latest detections, newest first.
    async fn latest(&self, limit: u32) -> StorageResult<Vec<Detection>>;
}
