use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{AccessTokenRecord, NewTokens, RefreshTokenRecord, StorageResult, TokenRepository};

fn owned_user(value: String) -> StorageResult<OwnedUserId> {
    OwnedUserId::try_from(value).map_err(|e| corrupt("token user_id", e))
}

#[async_trait]
impl TokenRepository for Db {
    async fn issue(&self, tokens: &NewTokens<'_>) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        let mut refresh_id = None;
        if let Some(refresh_hash) = tokens.refresh_token_hash {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, predecessor_id, created_ts)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(refresh_hash)
            .bind(tokens.user_id.as_str())
            .bind(tokens.device_id.as_str())
            .bind(tokens.predecessor)
            .bind(to_db(tokens.now))
            .fetch_one(&mut *tx)
            .await?;
            refresh_id = Some(id);
        }
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, user_id, device_id, expires_ts, refresh_token_id, created_ts)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tokens.access_token_hash)
        .bind(tokens.user_id.as_str())
        .bind(tokens.device_id.as_str())
        .bind(tokens.access_expires_ts.map(to_db))
        .bind(refresh_id)
        .bind(to_db(tokens.now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_access(&self, hash: &str) -> StorageResult<Option<AccessTokenRecord>> {
        let read_at = match &self.access_cache {
            Some(cache) => match cache.get(hash) {
                Some(record) => return Ok(Some(record)),
                None => Some(cache.generation()),
            },
            None => None,
        };
        let row = sqlx::query(
            "SELECT a.user_id, a.device_id, a.expires_ts, a.refresh_token_id, r.predecessor_id
             FROM access_tokens a LEFT JOIN refresh_tokens r ON r.id = a.refresh_token_id
             WHERE a.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let expires: Option<i64> = row.try_get("expires_ts")?;
            let predecessor: Option<i64> = row.try_get("predecessor_id")?;
            Ok(AccessTokenRecord {
                user_id: owned_user(row.try_get("user_id")?)?,
                device_id: OwnedDeviceId::from(row.try_get::<String, _>("device_id")?),
                expires_ts: expires.map(from_db),
                refresh_token_id: row.try_get("refresh_token_id")?,
                has_predecessor: predecessor.is_some(),
            })
        })
        .transpose()
        .inspect(|found| {
            // A token whose predecessor is still to retire is read again until it is.
            if let (Some(cache), Some(read_at), Some(record)) = (&self.access_cache, read_at, found)
                && !record.has_predecessor
            {
                cache.insert(hash, record, read_at);
            }
        })
    }

    async fn find_refresh(&self, hash: &str) -> StorageResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query("SELECT id, user_id, device_id, predecessor_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let predecessor: Option<i64> = row.try_get("predecessor_id")?;
            Ok(RefreshTokenRecord {
                id: row.try_get("id")?,
                user_id: owned_user(row.try_get("user_id")?)?,
                device_id: OwnedDeviceId::from(row.try_get::<String, _>("device_id")?),
                has_predecessor: predecessor.is_some(),
            })
        })
        .transpose()
    }

    async fn retire_predecessor(&self, refresh_token_id: i64) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        // The predecessor is read, then retired.
        self.lock(&mut tx, &format!("refresh_token {refresh_token_id}"))
            .await?;
        let predecessor: Option<Option<i64>> =
            sqlx::query_scalar("SELECT predecessor_id FROM refresh_tokens WHERE id = $1")
                .bind(refresh_token_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(Some(predecessor)) = predecessor else {
            return Ok(());
        };
        // Other tokens obtained from the same predecessor lose the race and are revoked.
        sqlx::query(
            "DELETE FROM access_tokens WHERE refresh_token_id IN
               (SELECT id FROM refresh_tokens WHERE predecessor_id = $1 AND id <> $2)
             OR refresh_token_id = $1",
        )
        .bind(predecessor)
        .bind(refresh_token_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE (predecessor_id = $1 AND id <> $2) OR id = $1",
        )
        .bind(predecessor)
        .bind(refresh_token_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE refresh_tokens SET predecessor_id = NULL WHERE id = $1")
            .bind(refresh_token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_access_tokens();
        Ok(())
    }

    async fn revoke_device_tokens(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
        ] {
            sqlx::query(sql)
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_access_tokens();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{device_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{NewTokens, Storage};

    async fn issue(
        storage: &Storage,
        access: &str,
        refresh: &str,
        predecessor: Option<i64>,
    ) -> i64 {
        let tokens = NewTokens {
            user_id: user_id!("@alice:example.org"),
            device_id: device_id!("PHONE"),
            access_token_hash: access,
            access_expires_ts: Some(100),
            refresh_token_hash: Some(refresh),
            predecessor,
            now: 1,
        };
        storage.tokens.issue(&tokens).await.unwrap();
        storage
            .tokens
            .find_refresh(refresh)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn first_use_of_refreshed_tokens_retires_the_old_pair() {
        let (_dir, storage) = open_temporary().await;
        let first = issue(&storage, "a1", "r1", None).await;
        let second = issue(&storage, "a2", "r2", Some(first)).await;
        // A repeated refresh with r1 (the response was lost) is still allowed...
        let third = issue(&storage, "a3", "r3", Some(first)).await;
        let a3 = storage.tokens.find_access("a3").await.unwrap().unwrap();
        assert!(a3.has_predecessor);
        assert_eq!(a3.expires_ts, Some(100));
        // ...and using its result revokes r1, a1, and the abandoned r2/a2.
        storage.tokens.retire_predecessor(third).await.unwrap();
        for gone in ["a1", "a2"] {
            assert!(
                storage.tokens.find_access(gone).await.unwrap().is_none(),
                "{gone}"
            );
        }
        for gone in ["r1", "r2"] {
            assert!(
                storage.tokens.find_refresh(gone).await.unwrap().is_none(),
                "{gone}"
            );
        }
        assert!(
            !storage
                .tokens
                .find_access("a3")
                .await
                .unwrap()
                .unwrap()
                .has_predecessor
        );
        assert_ne!(second, third);
    }
}
