use async_trait::async_trait;

use crate::sql::{Db, from_db, to_db};
use crate::{RegistrationNonceRepository, StorageResult};

#[async_trait]
impl RegistrationNonceRepository for Db {
    async fn insert(&self, nonce: &str, created_ts: u64) -> StorageResult<()> {
        self.write(
            sqlx::query("INSERT INTO registration_nonces (nonce, created_ts) VALUES ($1, $2)")
                .bind(nonce)
                .bind(to_db(created_ts)),
        )
        .await?;
        Ok(())
    }

    async fn take(&self, nonce: &str) -> StorageResult<Option<u64>> {
        let mut tx = self.write_transaction().await?;
        let created: Option<i64> = sqlx::query_scalar(
            "DELETE FROM registration_nonces WHERE nonce = $1 RETURNING created_ts",
        )
        .bind(nonce)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(created.map(from_db))
    }

    async fn delete_created_before(&self, ts: u64) -> StorageResult<u64> {
        let result = self
            .write(
                sqlx::query("DELETE FROM registration_nonces WHERE created_ts < $1")
                    .bind(to_db(ts)),
            )
            .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_nonce_is_redeemed_once() {
        let (_dir, storage) = open_temporary().await;
        storage.registration_nonces.insert("n", 42).await.unwrap();
        assert_eq!(
            storage.registration_nonces.take("n").await.unwrap(),
            Some(42)
        );
        assert_eq!(storage.registration_nonces.take("n").await.unwrap(), None);
    }
}
