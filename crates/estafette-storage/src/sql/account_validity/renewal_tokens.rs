use async_trait::async_trait;
use ruma::UserId;

use super::owned_user;
use crate::sql::{Db, from_db, to_db};
use crate::{RenewalToken, RenewalTokenRepository, StorageResult};

#[async_trait]
impl RenewalTokenRepository for Db {
    async fn add(&self, token_hash: &str, user_id: &UserId, now: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO account_renewal_tokens (token_hash, user_id, created_ts)
                 VALUES ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(user_id.as_str())
            .bind(to_db(now)),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, token_hash: &str) -> StorageResult<Option<RenewalToken>> {
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT user_id, created_ts, used_ts FROM account_renewal_tokens
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(user_id, created_ts, used_ts)| {
            Ok(RenewalToken {
                user_id: owned_user(user_id)?,
                created_ts: from_db(created_ts),
                used_ts: used_ts.map(from_db),
            })
        })
        .transpose()
    }

    async fn use_all(&self, user_id: &UserId, now: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE account_renewal_tokens SET used_ts = $2
                 WHERE user_id = $1 AND used_ts IS NULL",
            )
            .bind(user_id.as_str())
            .bind(to_db(now)),
        )
        .await?;
        Ok(())
    }

    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM account_renewal_tokens WHERE user_id = $1")
                .bind(user_id.as_str()),
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
    async fn renewal_links_are_used_together_and_deleted_with_the_account() {
        let (_dir, storage) = open_temporary().await;
        let tokens = &storage.renewal_tokens;
        let alice = user_id!("@alice:example.org");
        tokens.add("h1", alice, 10).await.unwrap();
        tokens.add("h2", alice, 20).await.unwrap();
        assert!(
            tokens.add("h2", alice, 30).await.is_err(),
            "hashes are unique"
        );
        assert_eq!(tokens.get("h1").await.unwrap().unwrap().used_ts, None);
        tokens.use_all(alice, 40).await.unwrap();
        tokens.use_all(alice, 50).await.unwrap();
        let used = tokens.get("h1").await.unwrap().unwrap();
        assert_eq!(
            (used.user_id.as_str(), used.created_ts),
            (alice.as_str(), 10)
        );
        assert_eq!(used.used_ts, Some(40), "the first renewal counts");
        assert_eq!(tokens.get("h2").await.unwrap().unwrap().used_ts, Some(40));
        assert!(tokens.get("h3").await.unwrap().is_none());
        tokens.delete_all(alice).await.unwrap();
        assert!(tokens.get("h1").await.unwrap().is_none());
    }
}
