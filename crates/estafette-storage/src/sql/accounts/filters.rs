use async_trait::async_trait;
use ruma::UserId;

use crate::sql::Db;
use crate::{FilterRepository, StorageResult};

#[async_trait]
impl FilterRepository for Db {
    async fn create(&self, user_id: &UserId, filter_json: &str) -> StorageResult<String> {
        let mut tx = self.write_transaction().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO filters (user_id, filter_json) VALUES ($1, $2) RETURNING id",
        )
        .bind(user_id.as_str())
        .bind(filter_json)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id.to_string())
    }

    async fn get(&self, user_id: &UserId, filter_id: &str) -> StorageResult<Option<String>> {
        let Ok(id) = filter_id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(
            sqlx::query_scalar("SELECT filter_json FROM filters WHERE id = $1 AND user_id = $2")
                .bind(id)
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
    async fn filters_belong_to_their_owner() {
        let (_dir, storage) = open_temporary().await;
        let alice = user_id!("@alice:example.org");
        let id = storage.filters.create(alice, "{}").await.unwrap();
        assert_eq!(
            storage.filters.get(alice, &id).await.unwrap().as_deref(),
            Some("{}")
        );
        assert!(
            storage
                .filters
                .get(user_id!("@bob:example.org"), &id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            storage
                .filters
                .get(alice, "not-a-number")
                .await
                .unwrap()
                .is_none()
        );
    }
}
