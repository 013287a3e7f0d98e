//! Retention of the media kept as caches: other servers' media not asked for within
//! `media.remote_retention_secs`, and link previews' images not asked for within
//! `url_preview.image_retention_secs`, are deleted (record, thumbnails, and bytes unless other
//! media has the same), and fetched (and scanned) again if they are ever asked for.

use std::time::Duration;

use estafette_storage::{CachedMedia, StaleMedia};
use ruma::ServerName;

use super::repository::MediaService;
use crate::ServiceResult;

/// Stale media deleted per query.
const BATCH: u32 = 100;
/// How long freshly written bytes are left alone at most: an upload of the same bytes may be
/// between writing them and recording its media.
const MAX_CONTENT_GRACE: Duration = Duration::from_secs(10 * 60);
/// Last accesses are recorded at most this often per media (and ten times per retention
/// period), so that serving popular media writes little.
const MAX_ACCESS_GRANULARITY: Duration = Duration::from_secs(60 * 60);

impl MediaService {
    fn retention(&self, cache: CachedMedia) -> Option<Duration> {
        let config = &self.context.config;
        match cache {
            CachedMedia::Remote => config.media.remote_retention_secs,
            CachedMedia::Fetched => config
                .url_preview
                .enabled
                .then_some(config.url_preview.image_retention_secs),
        }
        .map(Duration::from_secs)
    }

    /// The shortest retention of any cache; `None` when everything is kept forever.
    fn shortest_retention(&self) -> Option<Duration> {
        [CachedMedia::Remote, CachedMedia::Fetched]
            .into_iter()
            .filter_map(|cache| self.retention(cache))
            .min()
    }

    /// How often [`Self::purge_caches`] should run: a quarter of the shortest retention,
    /// between a second and an hour; `None` when nothing is ever deleted.
    pub fn purge_interval(&self) -> Option<Duration> {
        let quarter = self.shortest_retention()? / 4;
        Some(quarter.clamp(Duration::from_secs(1), Duration::from_secs(60 * 60)))
    }

    /// Notes that media last recorded as served at `last_access_ts` is served now.
    pub(super) async fn record_access(
        &self,
        server: &ServerName,
        media_id: &str,
        last_access_ts: u64,
    ) -> ServiceResult<()> {
        let granularity = self
            .shortest_retention()
            .map_or(MAX_ACCESS_GRANULARITY, |retention| {
                (retention / 10).min(MAX_ACCESS_GRANULARITY)
            });
        let now = self.context.now();
        if now.saturating_sub(last_access_ts) >= granularity.as_millis() as u64 {
            let media = &self.context.storage.media;
            media.touch(server, media_id, now).await?;
        }
        Ok(())
    }

    /// Deletes the cached media not served within its retention period; how many.
    pub async fn purge_caches(&self) -> ServiceResult<usize> {
        let mut deleted = 0;
        for cache in [CachedMedia::Remote, CachedMedia::Fetched] {
            if let Some(retention) = self.retention(cache) {
                deleted += self.purge(cache, retention).await?;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "cached media not asked for lately deleted");
        }
        Ok(deleted)
    }

    async fn purge(&self, cache: CachedMedia, retention: Duration) -> ServiceResult<usize> {
        let now = self.context.now();
        let before = now.saturating_sub(retention.as_millis() as u64);
        let grace = retention.min(MAX_CONTENT_GRACE);
        let storage = &self.context.storage;
        let mut deleted = 0;
        loop {
            let local = &self.context.server_name;
            let stale = storage.media.stale(local, cache, before, BATCH).await?;
            let batch = stale.len();
            for StaleMedia {
                origin,
                media_id,
                content_hash,
            } in stale
            {
                // Served meanwhile: kept.
                if !storage
                    .media
                    .delete_stale(&origin, &media_id, before)
                    .await?
                {
                    continue;
                }
                storage
                    .media_files
                    .delete_variants(&origin, &media_id)
                    .await?;
                if let Some(hash) = &content_hash
                    && !storage.media.content_in_use(hash).await?
                {
                    storage.media_files.delete_content(hash, grace).await?;
                }
                deleted += 1;
            }
            if batch < BATCH as usize {
                return Ok(deleted);
            }
        }
    }
}
