//! Retention of other servers' media: what nobody asked for within
//! `media.remote_retention_secs` is deleted, record, thumbnails and bytes (unless other media
//! has the same bytes), and fetched (and scanned) again if it ever is asked for.

use std::time::Duration;

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
const MAX_ACCESS_GRANULARITY_MS: u64 = 60 * 60 * 1000;

impl MediaService {
    fn retention(&self) -> Option<Duration> {
        let seconds = self.context.config.media.remote_retention_secs?;
        Some(Duration::from_secs(seconds))
    }

    /// How often [`Self::purge_remote_cache`] should run: a quarter of the retention period,
    /// between a second and an hour; `None` when other servers' media is kept forever.
    pub fn purge_interval(&self) -> Option<Duration> {
        let quarter = self.retention()? / 4;
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
            .retention()
            .map_or(MAX_ACCESS_GRANULARITY_MS, |retention| {
                (retention.as_millis() as u64 / 10).min(MAX_ACCESS_GRANULARITY_MS)
            });
        let now = self.context.now();
        if now.saturating_sub(last_access_ts) >= granularity {
            let media = &self.context.storage.media;
            media.touch(server, media_id, now).await?;
        }
        Ok(())
    }

    /// Deletes other servers' media not served within the retention period; how many.
    pub async fn purge_remote_cache(&self) -> ServiceResult<usize> {
        let Some(retention) = self.retention() else {
            return Ok(0);
        };
        let before = self
            .context
            .now()
            .saturating_sub(retention.as_millis() as u64);
        let grace = retention.min(MAX_CONTENT_GRACE);
        let storage = &self.context.storage;
        let local = &self.context.server_name;
        let mut deleted = 0;
        loop {
            let stale = storage.media.stale_remote(local, before, BATCH).await?;
            let batch = stale.len();
            for media in stale {
                let (origin, media_id) = (&media.origin, media.media_id.as_str());
                // Served meanwhile: kept.
                if !storage.media.delete_stale(origin, media_id, before).await? {
                    continue;
                }
                storage
                    .media_files
                    .delete_variants(origin, media_id)
                    .await?;
                if let Some(hash) = &media.content_hash
                    && !storage.media.content_in_use(hash).await?
                {
                    storage.media_files.delete_content(hash, grace).await?;
                }
                deleted += 1;
            }
            if batch < BATCH as usize {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "other servers' media not asked for lately deleted");
        }
        Ok(deleted)
    }
}
