use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{DeviceGrantRecord, NewDeviceGrant, OAuthDeviceGrantRepository, StorageResult};

const COLUMNS: &str =
    "user_code, client_id, scope, expires_ts, user_id, denied, last_poll_ts, exchanged_ts";

fn decode(row: &AnyRow) -> StorageResult<DeviceGrantRecord> {
    let user_id: Option<String> = row.try_get("user_id")?;
    Ok(DeviceGrantRecord {
        user_code: row.try_get("user_code")?,
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        expires_ts: from_db(row.try_get("expires_ts")?),
        user_id: user_id
            .map(|u| {
                OwnedUserId::try_from(u).map_err(|e| corrupt("oauth_device_grants.user_id", e))
            })
            .transpose()?,
        denied: row.try_get::<i64, _>("denied")? != 0,
        last_poll_ts: from_db(row.try_get("last_poll_ts")?),
        exchanged_ts: row.try_get::<Option<i64>, _>("exchanged_ts")?.map(from_db),
    })
}

#[async_trait]
impl OAuthDeviceGrantRepository for Db {
    async fn create(&self, grant: &NewDeviceGrant<'_>) -> StorageResult<bool> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM oauth_device_grants WHERE expires_ts < $1")
            .bind(to_db(grant.now))
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO oauth_device_grants
               (device_code_hash, user_code, client_id, scope, created_ts, expires_ts)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(grant.device_code_hash)
        .bind(grant.user_code)
        .bind(grant.client_id)
        .bind(grant.scope)
        .bind(to_db(grant.now))
        .bind(to_db(grant.expires_ts))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn by_user_code(&self, user_code: &str) -> StorageResult<Option<DeviceGrantRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_device_grants WHERE user_code = $1"
        )))
        .bind(user_code)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn decide(&self, user_code: &str, user_id: Option<&UserId>) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE oauth_device_grants SET user_id = $2, denied = $3
                     WHERE user_code = $1 AND user_id IS NULL AND denied = 0",
                )
                .bind(user_code)
                .bind(user_id.map(|u| u.as_str()))
                .bind(i64::from(user_id.is_none())),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn poll(
        &self,
        device_code_hash: &str,
        now: u64,
    ) -> StorageResult<Option<DeviceGrantRecord>> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_device_grants WHERE device_code_hash = $1"
        )))
        .bind(device_code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE oauth_device_grants SET last_poll_ts = $2 WHERE device_code_hash = $1")
            .bind(device_code_hash)
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(decode).transpose()
    }

    async fn exchange(&self, device_code_hash: &str, now: u64) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE oauth_device_grants SET exchanged_ts = $2
                     WHERE device_code_hash = $1 AND exchanged_ts IS NULL AND user_id IS NOT NULL",
                )
                .bind(device_code_hash)
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
    async fn a_device_grant_is_decided_once_polled_and_exchanged_once() {
        let (_dir, storage) = open_temporary().await;
        let grants = &storage.oauth_device_grants;
        let grant = |hash: &'static str, code: &'static str| NewDeviceGrant {
            device_code_hash: hash,
            user_code: code,
            client_id: "c",
            scope: "s",
            now: 100,
            expires_ts: 1_000,
        };
        assert!(grants.create(&grant("h1", "ABCD-EFGH")).await.unwrap());
        assert!(
            !grants.create(&grant("h2", "ABCD-EFGH")).await.unwrap(),
            "user codes are unique"
        );
        assert!(grants.create(&grant("h3", "WXYZ-WXYZ")).await.unwrap());
        let polled = grants.poll("h1", 150).await.unwrap().unwrap();
        assert_eq!((polled.user_id, polled.last_poll_ts), (None, 0));
        assert!(
            !grants.exchange("h1", 160).await.unwrap(),
            "not approved yet"
        );
        let alice = user_id!("@alice:x");
        assert!(grants.decide("ABCD-EFGH", Some(alice)).await.unwrap());
        assert!(
            !grants.decide("ABCD-EFGH", None).await.unwrap(),
            "decided once"
        );
        let polled = grants.poll("h1", 200).await.unwrap().unwrap();
        assert_eq!(
            (polled.user_id.as_deref(), polled.last_poll_ts),
            (Some(alice), 150)
        );
        assert!(grants.exchange("h1", 210).await.unwrap());
        assert!(!grants.exchange("h1", 220).await.unwrap(), "exchanged once");
        assert!(grants.decide("WXYZ-WXYZ", None).await.unwrap());
        assert!(
            grants
                .by_user_code("WXYZ-WXYZ")
                .await
                .unwrap()
                .unwrap()
                .denied
        );
        assert_eq!(grants.poll("unknown", 1).await.unwrap(), None);
    }
}
