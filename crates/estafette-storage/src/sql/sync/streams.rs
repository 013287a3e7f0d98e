use async_trait::async_trait;

use crate::sql::{Db, next_stream_id};
use crate::{StorageResult, StreamRepository};

#[async_trait]
impl StreamRepository for Db {
    async fn current(&self) -> StorageResult<i64> {
        Ok(sqlx::query_scalar("SELECT position FROM stream_position")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn allocate(&self) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let id = next_stream_id(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }
}
