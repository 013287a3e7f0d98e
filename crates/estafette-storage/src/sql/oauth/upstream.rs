use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{OAuthUpstreamRepository, StorageResult, UpstreamSession};

#[async_trait]
impl OAuthUpstreamRepository for Db {
    async fn start(&self, session: &UpstreamSession, forget_before: u64) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM oauth_upstream_sessions WHERE created_ts < $1")
            .bind(to_db(forget_before))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_upstream_sessions
               (state, grant_id, nonce, code_verifier, created_ts, sso_redirect)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.state)
        .bind(&session.grant_id)
        .bind(&session.nonce)
        .bind(&session.code_verifier)
        .bind(to_db(session.created_ts))
        .bind(&session.sso_redirect)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take(&self, state: &str) -> StorageResult<Option<UpstreamSession>> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "DELETE FROM oauth_upstream_sessions WHERE state = $1
             RETURNING state, grant_id, nonce, code_verifier, created_ts, sso_redirect",
        )
        .bind(state)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|row| {
            Ok(UpstreamSession {
                state: row.try_get("state")?,
                grant_id: row.try_get("grant_id")?,
                nonce: row.try_get("nonce")?,
                code_verifier: row.try_get("code_verifier")?,
                created_ts: from_db(row.try_get("created_ts")?),
                sso_redirect: row.try_get("sso_redirect")?,
            })
        })
        .transpose()
    }

    async fn linked(&self, issuer: &str, subject: &str) -> StorageResult<Option<OwnedUserId>> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM oauth_upstream_links WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        user.map(|user| {
            OwnedUserId::try_from(user).map_err(|e| corrupt("oauth_upstream_links.user_id", e))
        })
        .transpose()
    }

    async fn link(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &UserId,
        now: u64,
    ) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "INSERT INTO oauth_upstream_links (issuer, subject, user_id, created_ts)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING",
                )
                .bind(issuer)
                .bind(subject)
                .bind(user_id.as_str())
                .bind(to_db(now)),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn an_upstream_state_is_taken_once_and_a_subject_linked_once() {
        let (_dir, storage) = open_temporary().await;
        let upstream = &storage.oauth_upstream;
        let session = |state: &str, created_ts| UpstreamSession {
            state: state.to_owned(),
            grant_id: "g".to_owned(),
            nonce: "n".to_owned(),
            code_verifier: "v".to_owned(),
            created_ts,
            sso_redirect: Some("https://app.example.org/?x=1".to_owned()),
        };
        upstream.start(&session("old", 1), 0).await.unwrap();
        upstream.start(&session("s", 100), 50).await.unwrap();
        assert_eq!(upstream.take("old").await.unwrap(), None);
        assert_eq!(upstream.take("s").await.unwrap(), Some(session("s", 100)));
        assert_eq!(
            upstream.take("s").await.unwrap(),
            None,
            "a state is used once"
        );

        let alice = user_id!("@alice:example.org");
        assert!(
            upstream
                .link("https://idp", "sub-1", alice, 1)
                .await
                .unwrap()
        );
        assert!(
            !upstream
                .link("https://idp", "sub-1", user_id!("@eve:example.org"), 2)
                .await
                .unwrap()
        );
        assert_eq!(
            upstream
                .linked("https://idp", "sub-1")
                .await
                .unwrap()
                .as_deref(),
            Some(alice)
        );
        assert_eq!(
            upstream.linked("https://other", "sub-1").await.unwrap(),
            None
        );
    }
}
