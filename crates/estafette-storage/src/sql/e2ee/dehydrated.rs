use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, UserId};
use sqlx::Row;

use crate::sql::Db;
use crate::{DehydratedDeviceRepository, StorageResult};

#[async_trait]
impl DehydratedDeviceRepository for Db {
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<(OwnedDeviceId, String)>> {
        let row = sqlx::query(
            "SELECT device_id, device_data_json FROM dehydrated_devices WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                OwnedDeviceId::from(row.try_get::<String, _>("device_id")?),
                row.try_get("device_data_json")?,
            ))
        })
        .transpose()
    }

    async fn set(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data_json: &str,
    ) -> StorageResult<()> {
        self.write(sqlx::query(
            "INSERT INTO dehydrated_devices (user_id, device_id, device_data_json) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data_json = excluded.device_data_json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(device_data_json))
        .await?;
        Ok(())
    }

    async fn delete(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM dehydrated_devices WHERE user_id = $1").bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }
}
