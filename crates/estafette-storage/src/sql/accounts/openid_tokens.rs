use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::sql::{Db, to_db};
use crate::{OpenIdTokenRepository, StorageError, StorageResult};

#[async_trait]
impl OpenIdTokenRepository for Db {
    async fn insert(&self, hash: &str, user_id: &UserId, expires_ts: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
            )
            .bind(hash)
            .bind(user_id.as_str())
            .bind(to_db(expires_ts)),
        )
        .await?;
        Ok(())
    }

    async fn find(&self, hash: &str, now: u64) -> StorageResult<Option<OwnedUserId>> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2",
        )
        .bind(hash)
        .bind(to_db(now))
        .fetch_optional(&self.pool)
        .await?;
        user.map(|user| {
            OwnedUserId::try_from(user).map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    async fn delete_expired(&self, now: u64) -> StorageResult<u64> {
        let result = self
            .write(sqlx::query("DELETE FROM openid_tokens WHERE expires_ts <= $1").bind(to_db(now)))
            .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn tokens_are_found_until_they_expire() {
        let (_dir, storage) = open_temporary().await;
        let alice = ruma::user_id!("@alice:example.org");
        storage.openid_tokens.insert("h", alice, 100).await.unwrap();
        assert_eq!(
            storage
                .openid_tokens
                .find("h", 99)
                .await
                .unwrap()
                .as_deref(),
            Some(alice)
        );
        assert_eq!(storage.openid_tokens.find("h", 100).await.unwrap(), None);
        assert_eq!(storage.openid_tokens.find("other", 0).await.unwrap(), None);
        assert_eq!(storage.openid_tokens.delete_expired(100).await.unwrap(), 1);
    }
}
