use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{LoginTokenRepository, StorageResult};

#[async_trait]
impl LoginTokenRepository for Db {
    async fn create(
        &self,
        token_hash: &str,
        user_id: &UserId,
        expires_ts: u64,
        now: u64,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM login_tokens WHERE expires_ts < $1")
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(to_db(expires_ts))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take(&self, token_hash: &str, now: u64) -> StorageResult<Option<OwnedUserId>> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expires_ts",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if from_db(row.try_get("expires_ts")?) < now {
            return Ok(None);
        }
        let user: String = row.try_get("user_id")?;
        OwnedUserId::try_from(user)
            .map(Some)
            .map_err(|e| corrupt("login_tokens.user_id", e))
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_login_token_is_taken_once_before_it_expires() {
        let (_dir, storage) = open_temporary().await;
        let tokens = &storage.login_tokens;
        let alice = user_id!("@alice:example.org");
        tokens.create("h1", alice, 1_000, 0).await.unwrap();
        tokens.create("h2", alice, 1_000, 0).await.unwrap();
        assert_eq!(
            tokens.take("h1", 500).await.unwrap().as_deref(),
            Some(alice)
        );
        assert_eq!(tokens.take("h1", 600).await.unwrap(), None, "used once");
        assert_eq!(tokens.take("h2", 1_001).await.unwrap(), None, "expired");
        assert_eq!(tokens.take("unknown", 0).await.unwrap(), None);
    }
}
