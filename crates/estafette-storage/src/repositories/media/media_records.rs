use async_trait::async_trait;
use ruma::ServerName;

use crate::StorageResult;

/// What describes a piece of media; the bytes are in the [`MediaFileRepository`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: u64,
    /// The local user who uploaded it; `None` for other servers' media kept here.
    pub uploader: Option<String>,
    pub created_ts: u64,
}

#[async_trait]
pub trait MediaRepository: Send + Sync {
    async fn put(
        &self,
        origin: &ServerName,
        media_id: &str,
        record: &MediaRecord,
    ) -> StorageResult<()>;
    async fn get(&self, origin: &ServerName, media_id: &str) -> StorageResult<Option<MediaRecord>>;
}

/// The bytes of media and of their thumbnails (a thumbnail is named by its size and method).
#[async_trait]
pub trait MediaFileRepository: Send + Sync {
    async fn write(
        &self,
        origin: &ServerName,
        media_id: &str,
        variant: &str,
        bytes: &[u8],
    ) -> StorageResult<()>;
    async fn read(
        &self,
        origin: &ServerName,
        media_id: &str,
        variant: &str,
    ) -> StorageResult<Option<Vec<u8>>>;
}
