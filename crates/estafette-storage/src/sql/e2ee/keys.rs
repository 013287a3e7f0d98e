use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, Tx, corrupt, from_db};
use crate::{ClaimedKey, KeyRepository, NewKey, StorageResult};

/// Records that a user's device list changed, at a new stream position.
async fn record_change(db: &Db, tx: &mut Tx, user_id: &UserId) -> StorageResult<i64> {
    let stream_id = db.next_stream_id(tx).await?;
    sqlx::query("INSERT INTO device_list_changes (stream_id, user_id) VALUES ($1, $2)")
        .bind(stream_id)
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(stream_id)
}

#[async_trait]
impl KeyRepository for Db {
    async fn device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key_json FROM device_keys WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(key_json)
        .execute(&mut *tx)
        .await?;
        let position = record_change(self, &mut tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn update_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StorageResult<i64> {
        self.set_device_keys(user_id, device_id, key_json).await
    }

    async fn all_device_keys(
        &self,
        user_id: &UserId,
    ) -> StorageResult<BTreeMap<OwnedDeviceId, String>> {
        let rows = sqlx::query("SELECT device_id, key_json FROM device_keys WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    OwnedDeviceId::from(row.try_get::<String, _>("device_id")?),
                    row.try_get("key_json")?,
                ))
            })
            .collect()
    }

    async fn one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
        key_id: &str,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key_json FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[NewKey],
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for (algorithm, key_id, json) in keys {
            sqlx::query(
                "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(algorithm)
            .bind(key_id)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_fallback_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[NewKey],
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for (algorithm, key_id, json) in keys {
            // Re-uploading the same key keeps its used flag; a new key starts unused.
            sqlx::query(
                "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES ($1, $2, $3, $4, $5, 0)
                 ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
                   used = CASE WHEN fallback_keys.key_id = excluded.key_id THEN fallback_keys.used ELSE 0 END,
                   key_id = excluded.key_id, key_json = excluded.key_json",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(algorithm)
            .bind(key_id)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<BTreeMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT algorithm, COUNT(*) AS n FROM one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("algorithm")?, from_db(row.try_get("n")?))))
            .collect()
    }

    async fn key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<(BTreeMap<String, u64>, Vec<String>)> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT 'one_time' AS kind, algorithm, COUNT(*) AS n FROM one_time_keys
               WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
             UNION ALL
             SELECT 'fallback' AS kind, algorithm, 1 AS n FROM fallback_keys
               WHERE user_id = $1 AND device_id = $2 AND used = 0
             ORDER BY kind, algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let (mut one_time, mut fallback) = (BTreeMap::new(), Vec::new());
        for (kind, algorithm, n) in rows {
            if kind == "one_time" {
                one_time.insert(algorithm, from_db(n));
            } else {
                fallback.push(algorithm);
            }
        }
        Ok((one_time, fallback))
    }

    async fn claim(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> StorageResult<Option<ClaimedKey>> {
        let mut tx = self.write_transaction().await?;
        // Two claims never pick the same key, nor one fall back while keys remain.
        self.lock(&mut tx, &format!("one_time_keys {user_id} {device_id}"))
            .await?;
        let one_time = sqlx::query(
            "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = (
               SELECT key_id FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 LIMIT 1)
             RETURNING key_id, key_json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .fetch_optional(&mut *tx)
        .await?;
        let claimed = match one_time {
            Some(row) => Some((
                row.try_get::<String, _>("key_id")?,
                row.try_get::<String, _>("key_json")?,
            )),
            None => {
                let fallback = sqlx::query(
                    "UPDATE fallback_keys SET used = 1 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
                     RETURNING key_id, key_json",
                )
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .bind(algorithm)
                .fetch_optional(&mut *tx)
                .await?;
                fallback
                    .map(|row| {
                        Ok::<_, sqlx::Error>((row.try_get("key_id")?, row.try_get("key_json")?))
                    })
                    .transpose()?
            }
        };
        tx.commit().await?;
        Ok(claimed.map(|(key_id, json)| (format!("{algorithm}:{key_id}"), json)))
    }

    async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        for sql in [
            "DELETE FROM device_keys WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM fallback_keys WHERE user_id = $1 AND device_id = $2",
        ] {
            sqlx::query(sql)
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let position = record_change(self, &mut tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key_json FROM cross_signing_keys WHERE user_id = $1 AND key_type = $2",
        )
        .bind(user_id.as_str())
        .bind(key_type)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_cross_signing_keys(
        &self,
        user_id: &UserId,
        keys: &[(String, String)],
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        for (key_type, json) in keys {
            sqlx::query(
                "INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json",
            )
            .bind(user_id.as_str())
            .bind(key_type)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        let position = record_change(self, &mut tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn record_device_list_change(&self, user_id: &UserId) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let position = record_change(self, &mut tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn device_list_changes(&self, after: i64, until: i64) -> StorageResult<Vec<OwnedUserId>> {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > $1 AND stream_id <= $2",
        )
        .bind(after)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        users
            .into_iter()
            .map(|u| OwnedUserId::try_from(u).map_err(|e| corrupt("device_list_changes", e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ruma::{device_id, user_id};

    use crate::sql::testing::open_temporary;

    /// Many claims at once: each one-time key goes out once, then the fallback key.
    #[tokio::test]
    async fn concurrent_claims_never_share_a_key() {
        let (_dir, storage) = open_temporary().await;
        let (bob, phone) = (user_id!("@bob:example.org"), device_id!("PHONE"));
        let keys: Vec<_> = (0..10)
            .map(|i| {
                (
                    "signed_curve25519".to_owned(),
                    format!("K{i}"),
                    format!(r#"{{"key":"k{i}"}}"#),
                )
            })
            .collect();
        storage
            .keys
            .add_one_time_keys(bob, phone, &keys)
            .await
            .unwrap();
        let fallback = [(
            "signed_curve25519".to_owned(),
            "F".to_owned(),
            r#"{"key":"f","fallback":true}"#.to_owned(),
        )];
        storage
            .keys
            .set_fallback_keys(bob, phone, &fallback)
            .await
            .unwrap();
        let (one_time, fallbacks) = storage.keys.key_counts(bob, phone).await.unwrap();
        assert_eq!(one_time.get("signed_curve25519"), Some(&10));
        assert_eq!(fallbacks, vec!["signed_curve25519"]);
        let claims: Vec<_> = (0..25)
            .map(|_| {
                let storage = storage.clone();
                tokio::spawn(
                    async move { storage.keys.claim(bob, phone, "signed_curve25519").await },
                )
            })
            .collect();
        let mut one_time = HashSet::new();
        let mut fallbacks = 0;
        for claim in claims {
            let (id, _) = claim
                .await
                .unwrap()
                .unwrap()
                .expect("a key or the fallback");
            if id == "signed_curve25519:F" {
                fallbacks += 1;
            } else {
                assert!(one_time.insert(id.clone()), "{id} handed out twice");
            }
        }
        assert_eq!((one_time.len(), fallbacks), (10, 15));
        assert!(
            storage
                .keys
                .one_time_key_counts(bob, phone)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            storage.keys.key_counts(bob, phone).await.unwrap(),
            (Default::default(), Vec::<String>::new())
        );
        // Uploading a new fallback key makes one available again.
        let next = [(
            "signed_curve25519".to_owned(),
            "G".to_owned(),
            r#"{"key":"g"}"#.to_owned(),
        )];
        storage
            .keys
            .set_fallback_keys(bob, phone, &next)
            .await
            .unwrap();
        let (one_time, fallback) = storage.keys.key_counts(bob, phone).await.unwrap();
        assert!(one_time.is_empty());
        assert_eq!(fallback, vec!["signed_curve25519"]);
    }
}
