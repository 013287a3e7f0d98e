use async_trait::async_trait;

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientRecord {
    pub client_id: String,
    /// The registered metadata (RFC 7591), as JSON text.
    pub metadata_json: String,
}

/// Clients registered dynamically (RFC 7591).
#[async_trait]
pub trait OAuthClientRepository: Send + Sync {
    async fn register(&self, client_id: &str, metadata_json: &str, now: u64) -> StorageResult<()>;
    async fn get(&self, client_id: &str) -> StorageResult<Option<OAuthClientRecord>>;
}
