use async_trait::async_trait;
use ruma::ServerName;

use crate::sql::{Db, from_db, to_db};
use crate::{MediaRecord, MediaRepository, StorageResult};

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
               created_ts, content_hash, pending_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (origin, media_id) DO UPDATE SET content_type = excluded.content_type,
               filename = excluded.filename, size = excluded.size,
               content_hash = excluded.content_hash, pending_until = excluded.pending_until",
            )
            .bind(origin.as_str())
            .bind(media_id)
            .bind(&record.content_type)
            .bind(&record.filename)
            .bind(to_db(record.size))
            .bind(&record.uploader)
            .bind(to_db(record.created_ts))
            .bind(&record.content_hash)
            .bind(record.pending_until.map(to_db)),
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
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT content_type, filename, size, uploader, created_ts, content_hash, pending_until
             FROM media WHERE origin = $1 AND media_id = $2",
        )
        .bind(origin.as_str())
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(content_type, filename, size, uploader, created_ts, content_hash, pending_until)| {
                MediaRecord {
                    content_type,
                    filename,
                    size: from_db(size),
                    uploader,
                    created_ts: from_db(created_ts),
                    content_hash,
                    pending_until: pending_until.map(from_db),
                }
            },
        ))
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
                       content_hash = $6, pending_until = NULL
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
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use crate::MediaRecord;
    use crate::sql::testing::open_temporary;

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
}
