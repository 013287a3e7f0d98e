use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{NewGrant, OAuthGrantRecord, OAuthGrantRepository, StorageResult};

const COLUMNS: &str = "id, client_id, redirect_uri, scope, state, code_challenge, response_mode, \
     prompt, created_ts, user_id, completed_ts, exchanged_ts";

fn decode(row: &AnyRow) -> StorageResult<OAuthGrantRecord> {
    let user_id: Option<String> = row.try_get("user_id")?;
    let timestamp = |column: &str| -> Result<Option<u64>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_db))
    };
    Ok(OAuthGrantRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        state: row.try_get("state")?,
        code_challenge: row.try_get("code_challenge")?,
        response_mode: row.try_get("response_mode")?,
        prompt: row.try_get("prompt")?,
        created_ts: from_db(row.try_get("created_ts")?),
        user_id: user_id
            .map(|user| OwnedUserId::try_from(user).map_err(|e| corrupt("oauth_grants.user_id", e)))
            .transpose()?,
        completed_ts: timestamp("completed_ts")?,
        exchanged_ts: timestamp("exchanged_ts")?,
    })
}

#[async_trait]
impl OAuthGrantRepository for Db {
    async fn create(&self, grant: &NewGrant<'_>, forget_before: u64) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM oauth_grants WHERE created_ts < $1")
            .bind(to_db(forget_before))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, client_id, redirect_uri, scope, state, code_challenge,
               response_mode, prompt, created_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(grant.id)
        .bind(grant.client_id)
        .bind(grant.redirect_uri)
        .bind(grant.scope)
        .bind(grant.state)
        .bind(grant.code_challenge)
        .bind(grant.response_mode)
        .bind(grant.prompt)
        .bind(to_db(grant.now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: &str) -> StorageResult<Option<OAuthGrantRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_grants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn complete(
        &self,
        id: &str,
        user_id: &UserId,
        code_hash: &str,
        now: u64,
    ) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE oauth_grants SET user_id = $2, code_hash = $3, completed_ts = $4
                     WHERE id = $1 AND completed_ts IS NULL",
                )
                .bind(id)
                .bind(user_id.as_str())
                .bind(code_hash)
                .bind(to_db(now)),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn exchange(
        &self,
        code_hash: &str,
        now: u64,
    ) -> StorageResult<Option<(OAuthGrantRecord, bool)>> {
        let mut tx = self.write_transaction().await?;
        let first = sqlx::query(
            "UPDATE oauth_grants SET exchanged_ts = $2 WHERE code_hash = $1 AND exchanged_ts IS NULL",
        )
        .bind(code_hash)
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_grants WHERE code_hash = $1"
        )))
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row
            .as_ref()
            .map(decode)
            .transpose()?
            .map(|grant| (grant, first)))
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_grant_is_completed_once_and_its_code_exchanged_once() {
        let (_dir, storage) = open_temporary().await;
        let grants = &storage.oauth_grants;
        let new = |id: &'static str, now| NewGrant {
            id,
            client_id: "client",
            redirect_uri: "http://127.0.0.1/cb",
            scope: "urn:matrix:client:api:*",
            state: Some("xyz"),
            code_challenge: "challenge",
            response_mode: "query",
            prompt: None,
            now,
        };
        grants.create(&new("old", 10), 0).await.unwrap();
        grants.create(&new("g", 100), 50).await.unwrap();
        assert_eq!(grants.get("old").await.unwrap(), None, "expired grants go");
        let grant = grants.get("g").await.unwrap().unwrap();
        assert_eq!((grant.state.as_deref(), grant.user_id), (Some("xyz"), None));

        let alice = user_id!("@alice:example.org");
        assert!(grants.complete("g", alice, "code-hash", 120).await.unwrap());
        assert!(!grants.complete("g", alice, "other", 121).await.unwrap());
        assert_eq!(grants.exchange("unknown", 130).await.unwrap(), None);
        let (exchanged, first) = grants.exchange("code-hash", 130).await.unwrap().unwrap();
        assert!(first);
        assert_eq!(exchanged.user_id.as_deref(), Some(alice));
        assert_eq!(exchanged.completed_ts, Some(120));
        let (again, first) = grants.exchange("code-hash", 140).await.unwrap().unwrap();
        assert!(!first, "a code is exchanged once");
        assert_eq!(again.exchanged_ts, Some(130));

        storage
            .oauth_clients
            .register("client", "{}", 1)
            .await
            .unwrap();
        let client = storage.oauth_clients.get("client").await.unwrap().unwrap();
        assert_eq!(client.metadata_json, "{}");
        assert_eq!(storage.oauth_clients.get("nobody").await.unwrap(), None);
    }
}
