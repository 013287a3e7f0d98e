use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, Tx, corrupt, from_db, to_db};
use crate::{DeviceRecord, DeviceRepository, StorageResult};

macro_rules! select_devices {
    ($where:literal) => {
        concat!("SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip, created_ts FROM devices ", $where)
    };
}

fn decode(row: &AnyRow) -> StorageResult<DeviceRecord> {
    let user_id: String = row.try_get("user_id")?;
    let device_id: String = row.try_get("device_id")?;
    let last_seen: Option<i64> = row.try_get("last_seen_ts")?;
    Ok(DeviceRecord {
        user_id: OwnedUserId::try_from(user_id).map_err(|e| corrupt("devices.user_id", e))?,
        device_id: OwnedDeviceId::from(device_id),
        display_name: row.try_get("display_name")?,
        last_seen_ts: last_seen.map(from_db),
        last_seen_ip: row.try_get("last_seen_ip")?,
        created_ts: from_db(row.try_get("created_ts")?),
    })
}

/// Removes one device, every token bound to it and the pushers it set (a signed-out phone
/// is notified no more), inside the caller's transaction.
async fn delete_one(tx: &mut Tx, user_id: &str, device_id: &str) -> StorageResult<bool> {
    sqlx::query("DELETE FROM pushers WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    let result = sqlx::query("DELETE FROM devices WHERE user_id = $1 AND device_id = $2")
        .bind(user_id)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected() > 0)
}

#[async_trait]
impl DeviceRepository for Db {
    async fn upsert(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
        now: u64,
    ) -> StorageResult<()> {
        self.write(sqlx::query(
            "INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (user_id, device_id)
             DO UPDATE SET display_name = COALESCE(excluded.display_name, devices.display_name)",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(display_name)
        .bind(to_db(now)))
        .await?;
        Ok(())
    }

    async fn get(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<Option<DeviceRecord>> {
        sqlx::query(select_devices!("WHERE user_id = $1 AND device_id = $2"))
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn list(&self, user_id: &UserId) -> StorageResult<Vec<DeviceRecord>> {
        sqlx::query(select_devices!(
            "WHERE user_id = $1 ORDER BY created_ts, device_id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn set_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3",
                )
                .bind(display_name)
                .bind(user_id.as_str())
                .bind(device_id.as_str()),
            )
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn record_last_seen(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ts: u64,
        ip: Option<&str>,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE devices SET last_seen_ts = $1, last_seen_ip = COALESCE($2, last_seen_ip)
             WHERE user_id = $3 AND device_id = $4",
            )
            .bind(to_db(ts))
            .bind(ip)
            .bind(user_id.as_str())
            .bind(device_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn delete(
        &self,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> StorageResult<Vec<OwnedDeviceId>> {
        let mut tx = self.write_transaction().await?;
        let mut deleted = Vec::new();
        for device_id in device_ids {
            if delete_one(&mut tx, user_id.as_str(), device_id.as_str()).await? {
                deleted.push(device_id.clone());
            }
        }
        tx.commit().await?;
        self.forget_access_tokens();
        Ok(deleted)
    }

    async fn delete_all_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> StorageResult<Vec<OwnedDeviceId>> {
        let mut tx = self.write_transaction().await?;
        // The devices are listed, then deleted.
        self.lock(&mut tx, &format!("devices {user_id}")).await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let mut deleted = Vec::new();
        for id in ids
            .into_iter()
            .filter(|id| Some(id.as_str()) != keep.map(DeviceId::as_str))
        {
            delete_one(&mut tx, user_id.as_str(), &id).await?;
            deleted.push(OwnedDeviceId::from(id));
        }
        // Tokens whose device row is gone (none should exist) must not outlive a "log out all".
        if keep.is_none() {
            sqlx::query("DELETE FROM access_tokens WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_access_tokens();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedDeviceId, device_id, user_id};

    use crate::NewTokens;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn deleting_a_device_revokes_its_tokens_only() {
        let (_dir, storage) = open_temporary().await;
        let alice = user_id!("@alice:example.org");
        for (device, hash) in [("PHONE", "h1"), ("LAPTOP", "h2")] {
            let device: OwnedDeviceId = device.into();
            storage
                .devices
                .upsert(alice, &device, Some("name"), 1)
                .await
                .unwrap();
            let tokens = NewTokens {
                user_id: alice,
                device_id: &device,
                access_token_hash: hash,
                access_expires_ts: None,
                refresh_token_hash: None,
                predecessor: None,
                now: 1,
            };
            storage.tokens.issue(&tokens).await.unwrap();
            // Resolved once before any revocation (on SQLite, from then on from memory).
            assert!(storage.tokens.find_access(hash).await.unwrap().is_some());
        }
        let deleted = storage
            .devices
            .delete(alice, &["PHONE".into(), "NOPE".into()])
            .await
            .unwrap();
        assert_eq!(deleted, vec![OwnedDeviceId::from("PHONE")]);
        assert!(storage.tokens.find_access("h1").await.unwrap().is_none());
        assert!(storage.tokens.find_access("h2").await.unwrap().is_some());
        assert_eq!(storage.devices.list(alice).await.unwrap().len(), 1);

        storage
            .devices
            .upsert(alice, device_id!("LAPTOP"), None, 2)
            .await
            .unwrap();
        let laptop = storage
            .devices
            .get(alice, device_id!("LAPTOP"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            laptop.display_name.as_deref(),
            Some("name"),
            "upsert without a name keeps it"
        );

        storage
            .devices
            .delete_all_except(alice, None)
            .await
            .unwrap();
        assert!(storage.tokens.find_access("h2").await.unwrap().is_none());
        assert!(storage.devices.list(alice).await.unwrap().is_empty());

        // Revoking a device's tokens without deleting it.
        let tablet: OwnedDeviceId = "TABLET".into();
        let tokens = NewTokens {
            user_id: alice,
            device_id: &tablet,
            access_token_hash: "h3",
            access_expires_ts: None,
            refresh_token_hash: None,
            predecessor: None,
            now: 3,
        };
        storage.tokens.issue(&tokens).await.unwrap();
        assert!(storage.tokens.find_access("h3").await.unwrap().is_some());
        storage
            .tokens
            .revoke_device_tokens(alice, &tablet)
            .await
            .unwrap();
        assert!(storage.tokens.find_access("h3").await.unwrap().is_none());
    }
}
