//! The account management page's browser sessions and cross-signing reset approvals.

use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{AccountSessionRecord, OAuthAccountRepository, StorageResult};

#[async_trait]
impl OAuthAccountRepository for Db {
    async fn open(
        &self,
        token_hash: &str,
        session: &AccountSessionRecord,
        now: u64,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM account_sessions WHERE expires_ts <= $1")
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO account_sessions (token_hash, user_id, csrf, expires_ts)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(session.user_id.as_str())
        .bind(&session.csrf)
        .bind(to_db(session.expires_ts))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> StorageResult<Option<AccountSessionRecord>> {
        let row = sqlx::query(
            "SELECT user_id, csrf, expires_ts FROM account_sessions
             WHERE token_hash = $1 AND expires_ts > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let user_id: String = row.try_get("user_id")?;
            Ok(AccountSessionRecord {
                user_id: OwnedUserId::try_from(user_id)
                    .map_err(|e| corrupt("account_sessions.user_id", e))?,
                csrf: row.try_get("csrf")?,
                expires_ts: from_db(row.try_get("expires_ts")?),
            })
        })
        .transpose()
    }

    async fn close(&self, token_hash: &str) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM account_sessions WHERE token_hash = $1").bind(token_hash),
        )
        .await?;
        Ok(())
    }

    async fn approve_reset(&self, user_id: &UserId, expires_ts: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO cross_signing_reset_approvals (user_id, expires_ts) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET expires_ts = excluded.expires_ts",
            )
            .bind(user_id.as_str())
            .bind(to_db(expires_ts)),
        )
        .await?;
        Ok(())
    }

    async fn take_reset(&self, user_id: &UserId, now: u64) -> StorageResult<bool> {
        let mut tx = self.write_transaction().await?;
        let taken = sqlx::query(
            "DELETE FROM cross_signing_reset_approvals WHERE user_id = $1 AND expires_ts > $2",
        )
        .bind(user_id.as_str())
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        sqlx::query("DELETE FROM cross_signing_reset_approvals WHERE expires_ts <= $1")
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{owned_user_id, user_id};

    use super::*;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn sessions_expire_and_approvals_are_used_once() {
        let (_dir, storage) = open_temporary().await;
        let store = &storage.oauth_account;
        let session = AccountSessionRecord {
            user_id: owned_user_id!("@alice:x"),
            csrf: "c".to_owned(),
            expires_ts: 100,
        };
        store.open("h", &session, 10).await.unwrap();
        assert_eq!(store.session("h", 50).await.unwrap(), Some(session));
        assert_eq!(store.session("h", 100).await.unwrap(), None);
        assert_eq!(store.session("other", 50).await.unwrap(), None);
        store.close("h").await.unwrap();
        assert_eq!(store.session("h", 50).await.unwrap(), None);

        let alice = user_id!("@alice:x");
        assert!(!store.take_reset(alice, 10).await.unwrap());
        store.approve_reset(alice, 100).await.unwrap();
        store.approve_reset(alice, 200).await.unwrap();
        assert!(store.take_reset(alice, 150).await.unwrap());
        assert!(!store.take_reset(alice, 150).await.unwrap(), "once");
        store.approve_reset(alice, 100).await.unwrap();
        assert!(!store.take_reset(alice, 100).await.unwrap(), "expired");
    }
}
