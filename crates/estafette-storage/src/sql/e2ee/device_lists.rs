use async_trait::async_trait;
use ruma::UserId;

use crate::sql::Db;
use crate::{DeviceListRepository, StorageResult};

#[async_trait]
impl DeviceListRepository for Db {
    async fn cached(&self, user_id: &UserId) -> StorageResult<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT stream_id, keys FROM remote_device_lists WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn cache(&self, user_id: &UserId, stream_id: i64, keys: &str) -> StorageResult<()> {
        self.write(sqlx::query(
            "INSERT INTO remote_device_lists (user_id, stream_id, keys) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, keys = excluded.keys",
        )
        .bind(user_id.as_str())
        .bind(stream_id)
        .bind(keys))
        .await?;
        Ok(())
    }

    async fn forget(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM remote_device_lists WHERE user_id = $1")
                .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn record_sent(&self, user_id: &UserId, stream_id: i64) -> StorageResult<Option<i64>> {
        let mut tx = self.write_transaction().await?;
        // The previous position is read, then replaced.
        self.lock(&mut tx, &format!("device_list_sent {user_id}"))
            .await?;
        let previous: Option<i64> =
            sqlx::query_scalar("SELECT stream_id FROM device_list_updates_sent WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO device_list_updates_sent (user_id, stream_id) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id",
        )
        .bind(user_id.as_str())
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    async fn last_sent(&self, user_id: &UserId) -> StorageResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT stream_id FROM device_list_updates_sent WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn updates_sent_chain_and_remote_lists_are_kept() {
        let (_dir, storage) = open_temporary().await;
        let lists = &storage.device_lists;
        let alice = user_id!("@alice:here.example");
        assert_eq!(lists.record_sent(alice, 5).await.unwrap(), None);
        assert_eq!(lists.record_sent(alice, 9).await.unwrap(), Some(5));
        assert_eq!(lists.last_sent(alice).await.unwrap(), Some(9));
        let bob = user_id!("@bob:there.example");
        lists.cache(bob, 3, "{}").await.unwrap();
        assert_eq!(lists.cached(bob).await.unwrap(), Some((3, "{}".to_owned())));
        lists.forget(bob).await.unwrap();
        assert_eq!(lists.cached(bob).await.unwrap(), None);
    }
}
