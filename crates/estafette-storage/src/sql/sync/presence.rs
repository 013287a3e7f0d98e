use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{PresenceRecord, PresenceRepository, StorageResult};

fn decode(row: &AnyRow) -> StorageResult<PresenceRecord> {
    Ok(PresenceRecord {
        user_id: OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
            .map_err(|e| corrupt("presence.user_id", e))?,
        state: row.try_get("state")?,
        status_msg: row.try_get("status_msg")?,
        last_active_ts: from_db(row.try_get("last_active_ts")?),
        stream_id: row.try_get("stream_id")?,
    })
}

#[async_trait]
impl PresenceRepository for Db {
    async fn set(
        &self,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
        last_active_ts: u64,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let stream_id = self.next_stream_id(&mut tx).await?;
        sqlx::query(
            "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
               last_active_ts = excluded.last_active_ts, stream_id = excluded.stream_id",
        )
        .bind(user_id.as_str())
        .bind(state)
        .bind(status_msg)
        .bind(to_db(last_active_ts))
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stream_id)
    }

    async fn touch(&self, user_id: &UserId, last_active_ts: u64) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE presence SET last_active_ts = $1 WHERE user_id = $2")
                .bind(to_db(last_active_ts))
                .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>> {
        sqlx::query("SELECT * FROM presence WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn changed_since(
        &self,
        user_id: &UserId,
        since: i64,
    ) -> StorageResult<Vec<PresenceRecord>> {
        sqlx::query(
            "SELECT p.* FROM presence p
             WHERE p.stream_id > $2 AND p.user_id IN (
               SELECT other.user_id FROM room_memberships mine
               JOIN room_memberships other ON other.room_id = mine.room_id
               WHERE mine.user_id = $1 AND mine.membership = 'join' AND other.membership = 'join'
               UNION SELECT $1)
             ORDER BY p.stream_id",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}
