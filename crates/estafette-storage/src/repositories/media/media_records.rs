use async_trait::async_trait;
use ruma::{OwnedServerName, ServerName};

use crate::StorageResult;

/// What describes a piece of media; the bytes are in the [`MediaFileRepository`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: u64,
    /// The local user who uploaded it; `None` for other servers' media kept here and for files
    /// this server fetched itself (link previews' images), both kept as caches.
    pub uploader: Option<String>,
    pub created_ts: u64,
    /// The bytes' SHA-256 in hex, by which antivirus verdicts are kept; `None` for media
    /// stored before it was recorded.
    pub content_hash: Option<String>,
    /// Created without its bytes (`POST /_matrix/media/v1/create`): they may come until then.
    pub pending_until: Option<u64>,
    /// When it was last served (updated coarsely), by which other servers' media is retained.
    pub last_access_ts: u64,
}

/// The media kept as caches, deleted once nobody asked for them in a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedMedia {
    /// Other servers' media.
    Remote,
    /// Files this server fetched itself (no uploader): link previews' images.
    Fetched,
}

/// Cached media (another server's, or fetched by this one) nobody asked for lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleMedia {
    pub origin: OwnedServerName,
    pub media_id: String,
    pub content_hash: Option<String>,
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
    /// Gives a pending media its bytes' description, once: `false` when it is not pending or
    /// expired at `now`.
    async fn complete(
        &self,
        origin: &ServerName,
        media_id: &str,
        record: &MediaRecord,
        now: u64,
    ) -> StorageResult<bool>;
    /// The uploads `uploader` created and may still complete at `now`.
    async fn pending_count(&self, uploader: &str, now: u64) -> StorageResult<u64>;
    /// The bytes of everything `uploader` uploaded.
    async fn uploaded_bytes(&self, uploader: &str) -> StorageResult<u64>;
    /// Records that the media was served at `now`.
    async fn touch(&self, origin: &ServerName, media_id: &str, now: u64) -> StorageResult<()>;
    /// Up to `limit` media of `cache` (relative to the `local` server), last served before
    /// `before`, oldest first.
    async fn stale(
        &self,
        local: &ServerName,
        cache: CachedMedia,
        before: u64,
        limit: u32,
    ) -> StorageResult<Vec<StaleMedia>>;
    /// Forgets the media if it is still not served since `before`; whether it was.
    async fn delete_stale(
        &self,
        origin: &ServerName,
        media_id: &str,
        before: u64,
    ) -> StorageResult<bool>;
    /// Whether any media has these bytes.
    async fn content_in_use(&self, content_hash: &str) -> StorageResult<bool>;
}

/// The bytes of media and of their thumbnails (a thumbnail is named by its size and method).
#[async_trait]
pub trait MediaFileRepository: Send + Sync {
    /// Keeps `bytes` as the content whose hex SHA-256 is `content_hash`, once however many
    /// media have it.
    async fn write_content(&self, content_hash: &str, bytes: &[u8]) -> StorageResult<()>;
    async fn read_content(&self, content_hash: &str) -> StorageResult<Option<Vec<u8>>>;
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
    /// Deletes every variant (thumbnail) kept of the media.
    async fn delete_variants(&self, origin: &ServerName, media_id: &str) -> StorageResult<()>;
    /// Deletes the content unless it was written (or written again) within `grace`: an upload
    /// of the same bytes may be about to refer to it.
    async fn delete_content(
        &self,
        content_hash: &str,
        grace: std::time::Duration,
    ) -> StorageResult<()>;
}
