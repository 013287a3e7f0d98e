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
        self.write(sqlx::query(
            "INSERT INTO media (origin, media_id, content_type, filename, size, uploader, created_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (origin, media_id) DO UPDATE SET content_type = excluded.content_type,
               filename = excluded.filename, size = excluded.size",
        )
        .bind(origin.as_str())
        .bind(media_id)
        .bind(&record.content_type)
        .bind(&record.filename)
        .bind(to_db(record.size))
        .bind(&record.uploader)
        .bind(to_db(record.created_ts)))
        .await?;
        Ok(())
    }

    async fn get(&self, origin: &ServerName, media_id: &str) -> StorageResult<Option<MediaRecord>> {
        let row: Option<(Option<String>, Option<String>, i64, Option<String>, i64)> =
            sqlx::query_as(
                "SELECT content_type, filename, size, uploader, created_ts FROM media
             WHERE origin = $1 AND media_id = $2",
            )
            .bind(origin.as_str())
            .bind(media_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(
            |(content_type, filename, size, uploader, created_ts)| MediaRecord {
                content_type,
                filename,
                size: from_db(size),
                uploader,
                created_ts: from_db(created_ts),
            },
        ))
    }
}
