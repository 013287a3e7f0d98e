use async_trait::async_trait;
use ruma::ServerName;

use crate::sql::{Db, from_db, to_db};
use ruma::OwnedServerName;

use crate::{CachedMedia, MediaRecord, MediaRepository, StaleMedia, StorageError, StorageResult};

#[async_trait]
impl MediaRepository for Db {
    async fn put(
        &self,
        origin: &ServerName,
        media_id: &str,
        record: &MediaRecord,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO media (origin, media_id, content_type, filename, size, uploader,
               created_ts, content_hash, pending_until, last_access_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (origin, media_id) DO UPDATE SET content_type = excluded.content_type,
               filename = excluded.filename, size = excluded.size,
               content_hash = excluded.content_hash, pending_until = excluded.pending_until,
               last_access_ts = excluded.last_access_ts",
            )
            .bind(origin.as_str())
            .bind(media_id)
            .bind(&record.content_type)
            .bind(&record.filename)
            .bind(to_db(record.size))
            .bind(&record.uploader)
            .bind(to_db(record.created_ts))
            .bind(&record.content_hash)
            .bind(record.pending_until.map(to_db))
            .bind(to_db(record.last_access_ts)),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, origin: &ServerName, media_id: &str) -> StorageResult<Option<MediaRecord>> {
        type Row = (
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
            i64,
            Option<String>,
            Option<i64>,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT content_type, filename, size, uploader, created_ts, content_hash, pending_until,
               last_access_ts
             FROM media WHERE origin = $1 AND media_id = $2",
        )
        .bind(origin.as_str())
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| MediaRecord {
            content_type: row.0,
            filename: row.1,
            size: from_db(row.2),
            uploader: row.3,
            created_ts: from_db(row.4),
            content_hash: row.5,
            pending_until: row.6.map(from_db),
            last_access_ts: from_db(row.7),
        }))
    }

    async fn complete(
        &self,
        origin: &ServerName,
        media_id: &str,
        record: &MediaRecord,
        now: u64,
    ) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE media SET content_type = $3, filename = $4, size = $5,
                       content_hash = $6, pending_until = NULL, last_access_ts = $7
                     WHERE origin = $1 AND media_id = $2 AND pending_until > $7",
                )
                .bind(origin.as_str())
                .bind(media_id)
                .bind(&record.content_type)
                .bind(&record.filename)
                .bind(to_db(record.size))
                .bind(&record.content_hash)
                .bind(to_db(now)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn pending_count(&self, uploader: &str, now: u64) -> StorageResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM media WHERE uploader = $1 AND pending_until > $2",
        )
        .bind(uploader)
        .bind(to_db(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(from_db(count))
    }

    async fn uploaded_bytes(&self, uploader: &str) -> StorageResult<u64> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM media WHERE uploader = $1",
        )
        .bind(uploader)
        .fetch_one(&self.pool)
        .await?;
        Ok(from_db(total))
    }

    async fn touch(&self, origin: &ServerName, media_id: &str, now: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE media SET last_access_ts = $3
                 WHERE origin = $1 AND media_id = $2 AND last_access_ts < $3",
            )
            .bind(origin.as_str())
            .bind(media_id)
            .bind(to_db(now)),
        )
        .await?;
        Ok(())
    }

    async fn stale(
        &self,
        local: &ServerName,
        cache: CachedMedia,
        before: u64,
        limit: u32,
    ) -> StorageResult<Vec<StaleMedia>> {
        let which = match cache {
            CachedMedia::Remote => "origin <> $1",
            CachedMedia::Fetched => "origin = $1 AND uploader IS NULL",
        };
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT origin, media_id, content_hash FROM media
                 WHERE last_access_ts < $2 AND {which} AND pending_until IS NULL
                 ORDER BY last_access_ts LIMIT $3"
            )))
            .bind(local.as_str())
            .bind(to_db(before))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(origin, media_id, content_hash)| {
                let origin = OwnedServerName::try_from(origin)
                    .map_err(|e| StorageError::Corrupt(format!("media origin: {e}")))?;
                Ok(StaleMedia {
                    origin,
                    media_id,
                    content_hash,
                })
            })
            .collect()
    }

    async fn delete_stale(
        &self,
        origin: &ServerName,
        media_id: &str,
        before: u64,
    ) -> StorageResult<bool> {
        let deleted = self
            .write(
                sqlx::query(
                    "DELETE FROM media
                     WHERE origin = $1 AND media_id = $2 AND last_access_ts < $3",
                )
                .bind(origin.as_str())
                .bind(media_id)
                .bind(to_db(before)),
            )
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn content_in_use(&self, content_hash: &str) -> StorageResult<bool> {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM media WHERE content_hash = $1 LIMIT 1")
                .bind(content_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(used.is_some())
    }
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use crate::sql::testing::open_temporary;
    use crate::{CachedMedia, MediaRecord, StaleMedia};

    #[tokio::test]
    async fn a_pending_upload_is_completed_once_before_it_expires() {
        let (_dir, storage) = open_temporary().await;
        let media = &storage.media;
        let origin = server_name!("example.org");
        let pending = |pending_until| MediaRecord {
            content_type: None,
            filename: None,
            size: 0,
            uploader: Some("@alice:example.org".to_owned()),
            created_ts: 10,
            content_hash: None,
            pending_until,
            last_access_ts: 10,
        };
        media.put(origin, "a", &pending(Some(100))).await.unwrap();
        media.put(origin, "b", &pending(Some(50))).await.unwrap();
        assert_eq!(
            media.pending_count("@alice:example.org", 60).await.unwrap(),
            1
        );
        assert_eq!(
            media.pending_count("@bob:example.org", 60).await.unwrap(),
            0
        );
        let uploaded = MediaRecord {
            content_type: Some("text/plain".to_owned()),
            filename: Some("a.txt".to_owned()),
            size: 7,
            content_hash: Some("ab".repeat(32)),
            pending_until: None,
            last_access_ts: 60,
            ..pending(None)
        };
        assert!(media.complete(origin, "a", &uploaded, 60).await.unwrap());
        assert!(
            !media.complete(origin, "a", &uploaded, 60).await.unwrap(),
            "once"
        );
        assert!(
            !media.complete(origin, "b", &uploaded, 60).await.unwrap(),
            "expired"
        );
        assert!(
            !media.complete(origin, "c", &uploaded, 60).await.unwrap(),
            "unknown"
        );
        assert_eq!(media.get(origin, "a").await.unwrap(), Some(uploaded));
        assert_eq!(
            media.pending_count("@alice:example.org", 60).await.unwrap(),
            0
        );
        assert_eq!(media.uploaded_bytes("@alice:example.org").await.unwrap(), 7);
        assert_eq!(media.uploaded_bytes("@bob:example.org").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn other_servers_media_not_served_lately_is_found_and_deleted() {
        let (_dir, storage) = open_temporary().await;
        let media = &storage.media;
        let (local, remote) = (server_name!("home.org"), server_name!("remote.org"));
        let kept = |last_access_ts, hash: &str| MediaRecord {
            content_type: None,
            filename: None,
            size: 1,
            uploader: None,
            created_ts: 5,
            content_hash: Some(hash.repeat(64)),
            pending_until: None,
            last_access_ts,
        };
        media.put(remote, "old", &kept(10, "a")).await.unwrap();
        media.put(remote, "served", &kept(10, "b")).await.unwrap();
        media.put(remote, "recent", &kept(90, "c")).await.unwrap();
        media.put(local, "ours", &kept(10, "a")).await.unwrap();
        media.touch(remote, "served", 95).await.unwrap();
        media.touch(remote, "recent", 50).await.unwrap();
        assert_eq!(
            media
                .get(remote, "recent")
                .await
                .unwrap()
                .unwrap()
                .last_access_ts,
            90,
            "never moved back"
        );

        let stale = media
            .stale(local, CachedMedia::Remote, 60, 10)
            .await
            .unwrap();
        assert_eq!(
            stale,
            vec![StaleMedia {
                origin: remote.to_owned(),
                media_id: "old".to_owned(),
                content_hash: Some("a".repeat(64)),
            }]
        );
        assert!(!media.delete_stale(remote, "served", 60).await.unwrap());
        assert!(media.delete_stale(remote, "old", 60).await.unwrap());
        assert_eq!(media.get(remote, "old").await.unwrap(), None);
        assert!(
            media.content_in_use(&"a".repeat(64)).await.unwrap(),
            "a local upload has the same bytes"
        );
        assert!(!media.content_in_use(&"d".repeat(64)).await.unwrap());
        assert_eq!(
            media
                .stale(local, CachedMedia::Remote, 60, 10)
                .await
                .unwrap(),
            vec![]
        );

        let uploaded = MediaRecord {
            uploader: Some("@alice:home.org".to_owned()),
            ..kept(10, "e")
        };
        media.put(local, "uploaded", &uploaded).await.unwrap();
        media.put(local, "preview", &kept(10, "f")).await.unwrap();
        let fetched = media
            .stale(local, CachedMedia::Fetched, 60, 10)
            .await
            .unwrap();
        let mut ids: Vec<_> = fetched.iter().map(|m| m.media_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["ours", "preview"], "users' uploads are never stale");
    }
}
