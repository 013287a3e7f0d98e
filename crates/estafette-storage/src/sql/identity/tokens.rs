use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::sql::{Db, corrupt, to_db};
use crate::{IdentityTokenRepository, StorageResult};

#[async_trait]
impl IdentityTokenRepository for Db {
    async fn create(&self, token_hash: &str, user_id: &UserId, now: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO identity_tokens (token_hash, user_id, created_ts) VALUES ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(user_id.as_str())
            .bind(to_db(now)),
        )
        .await?;
        Ok(())
    }

    async fn user_of(&self, token_hash: &str) -> StorageResult<Option<OwnedUserId>> {
        let user: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM identity_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        user.map(|user| {
            OwnedUserId::try_from(user).map_err(|e| corrupt("identity_tokens.user_id", e))
        })
        .transpose()
    }

    async fn delete(&self, token_hash: &str) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM identity_tokens WHERE token_hash = $1").bind(token_hash),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn identity_tokens_name_their_user_until_deleted() {
        let (_dir, storage) = open_temporary().await;
        let tokens = &storage.identity_tokens;
        let alice = user_id!("@alice:example.org");
        tokens.create("h", alice, 1).await.unwrap();
        assert_eq!(tokens.user_of("h").await.unwrap().as_deref(), Some(alice));
        assert_eq!(tokens.user_of("other").await.unwrap(), None);
        tokens.delete("h").await.unwrap();
        assert_eq!(tokens.user_of("h").await.unwrap(), None);
    }
}
