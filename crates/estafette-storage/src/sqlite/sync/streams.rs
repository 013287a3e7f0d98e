use async_trait::async_trait;

use crate::sqlite::{Db, next_stream_id};
use crate::{StorageResult, StreamRepository};

#[async_trait]
impl StreamRepository for Db {
    async fn current(&self) -> StorageResult<i64> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'stream_sequence'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(max.unwrap_or(0))
    }

    async fn allocate(&self) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let id = next_stream_id(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }
}
