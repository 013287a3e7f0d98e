use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt};
use crate::{
    AddressedToDevice, StorageResult, ToDeviceDelivery, ToDeviceMessage, ToDeviceRepository,
};

#[async_trait]
impl ToDeviceRepository for Db {
    async fn send(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        txn_id: &str,
        event_type: &str,
        deliveries: &[ToDeviceDelivery],
    ) -> StorageResult<Option<i64>> {
        let mut tx = self.write_transaction().await?;
        let new = sqlx::query(
            "INSERT INTO to_device_transactions (user_id, device_id, event_type, txn_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(sender.as_str())
        .bind(sender_device.as_str())
        .bind(event_type)
        .bind(txn_id)
        .execute(&mut *tx)
        .await?;
        if new.rows_affected() == 0 {
            return Ok(None);
        }
        let mut position = None;
        for delivery in deliveries {
            let stream_id = self.next_stream_id(&mut tx).await?;
            sqlx::query(
                "INSERT INTO to_device_messages (stream_id, user_id, device_id, sender, event_type, content_json)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(stream_id)
            .bind(delivery.user_id.as_str())
            .bind(delivery.device_id.as_str())
            .bind(sender.as_str())
            .bind(event_type)
            .bind(&delivery.content_json)
            .execute(&mut *tx)
            .await?;
            position = Some(stream_id);
        }
        tx.commit().await?;
        Ok(Some(position.unwrap_or_default()))
    }

    async fn pending(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM to_device_messages WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn take(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        up_to: i64,
        limit: u32,
    ) -> StorageResult<Vec<ToDeviceMessage>> {
        // Most syncs have nothing to acknowledge: a read finds out, where a DELETE would take
        // SQLite's one write lock on every sync of every device.
        let delivered: Option<i64> = if up_to > 0 {
            sqlx::query_scalar(
                "SELECT stream_id FROM to_device_messages
                 WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3 LIMIT 1",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(up_to)
            .fetch_optional(&self.pool)
            .await?
        } else {
            None
        };
        if delivered.is_some() {
            self.write(sqlx::query("DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3")
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .bind(up_to))
                .await?;
        }
        let rows = sqlx::query(
            "SELECT stream_id, sender, event_type, content_json FROM to_device_messages
             WHERE user_id = $1 AND device_id = $2 AND stream_id > $3 ORDER BY stream_id LIMIT $4",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(up_to)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    async fn between(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<AddressedToDevice>> {
        let rows = sqlx::query(
            "SELECT stream_id, user_id, device_id, sender, event_type, content_json
             FROM to_device_messages WHERE stream_id > $1 AND stream_id <= $2
             ORDER BY stream_id LIMIT $3",
        )
        .bind(after)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AddressedToDevice {
                    user_id: OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
                        .map_err(|e| corrupt("to_device user_id", e))?,
                    device_id: OwnedDeviceId::from(row.try_get::<String, _>("device_id")?),
                    message: message(row)?,
                })
            })
            .collect()
    }
}

fn message(row: &sqlx::any::AnyRow) -> StorageResult<ToDeviceMessage> {
    Ok(ToDeviceMessage {
        stream_id: row.try_get("stream_id")?,
        sender: OwnedUserId::try_from(row.try_get::<String, _>("sender")?)
            .map_err(|e| corrupt("to_device sender", e))?,
        event_type: row.try_get("event_type")?,
        content_json: row.try_get("content_json")?,
    })
}
