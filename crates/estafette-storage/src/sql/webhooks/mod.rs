//! Incoming webhooks, looked up by their token's digest.

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{StorageResult, WebhookRecord, WebhookRepository};

const COLUMNS: &str =
    "hook_id, room_id, name, format, msgtype, sender, creator, created_ts, allowed_ips, expires_ts";

fn decode(row: &AnyRow) -> StorageResult<WebhookRecord> {
    Ok(WebhookRecord {
        hook_id: row.try_get("hook_id")?,
        room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
            .map_err(|e| corrupt("webhooks.room_id", e))?,
        name: row.try_get("name")?,
        format: row.try_get("format")?,
        msgtype: row.try_get("msgtype")?,
        sender: OwnedUserId::try_from(row.try_get::<String, _>("sender")?)
            .map_err(|e| corrupt("webhooks.sender", e))?,
        creator: OwnedUserId::try_from(row.try_get::<String, _>("creator")?)
            .map_err(|e| corrupt("webhooks.creator", e))?,
        created_ts: from_db(row.try_get("created_ts")?),
        allowed_ips: serde_json::from_str(&row.try_get::<String, _>("allowed_ips")?)
            .map_err(|e| corrupt("webhooks.allowed_ips", e))?,
        expires_ts: row.try_get::<Option<i64>, _>("expires_ts")?.map(from_db),
    })
}

#[async_trait]
impl WebhookRepository for Db {
    async fn create(&self, hook: &WebhookRecord, token_digest: &str) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO webhooks (hook_id, token_digest, room_id, name, format, msgtype,
                   sender, creator, created_ts, allowed_ips, expires_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&hook.hook_id)
            .bind(token_digest)
            .bind(hook.room_id.as_str())
            .bind(&hook.name)
            .bind(&hook.format)
            .bind(&hook.msgtype)
            .bind(hook.sender.as_str())
            .bind(hook.creator.as_str())
            .bind(to_db(hook.created_ts))
            .bind(serde_json::to_string(&hook.allowed_ips).unwrap_or_else(|_| "[]".into()))
            .bind(hook.expires_ts.map(to_db)),
        )
        .await?;
        Ok(())
    }

    async fn by_token(&self, token_digest: &str) -> StorageResult<Option<WebhookRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE token_digest = $1"
        )))
        .bind(token_digest)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn get(&self, hook_id: &str) -> StorageResult<Option<WebhookRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE hook_id = $1"
        )))
        .bind(hook_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<WebhookRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE room_id = $1 ORDER BY created_ts, hook_id"
        )))
        .bind(room_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn set_token(&self, hook_id: &str, token_digest: &str) -> StorageResult<bool> {
        let updated = self
            .write(
                sqlx::query("UPDATE webhooks SET token_digest = $2 WHERE hook_id = $1")
                    .bind(hook_id)
                    .bind(token_digest),
            )
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn delete(&self, hook_id: &str) -> StorageResult<bool> {
        let deleted = self
            .write(sqlx::query("DELETE FROM webhooks WHERE hook_id = $1").bind(hook_id))
            .await?;
        Ok(deleted.rows_affected() == 1)
    }
}
