use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, ROOM_IDS_PER_STATEMENT, corrupt, from_db, placeholders, to_db};
use crate::{ReceiptRecord, ReceiptRepository, StorageResult};

#[async_trait]
impl ReceiptRepository for Db {
    async fn set(
        &self,
        room_id: &RoomId,
        receipt_type: &str,
        user_id: &UserId,
        thread_id: &str,
        event_id: &EventId,
        ts: u64,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let stream_id = self.next_stream_id(&mut tx).await?;
        sqlx::query(
            "INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (room_id, receipt_type, user_id, thread_id)
             DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts, stream_id = excluded.stream_id",
        )
        .bind(room_id.as_str())
        .bind(receipt_type)
        .bind(user_id.as_str())
        .bind(thread_id)
        .bind(event_id.as_str())
        .bind(to_db(ts))
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        if matches!(receipt_type, "m.read" | "m.read.private") {
            super::push::recount(self, &mut tx, user_id, room_id).await?;
        }
        tx.commit().await?;
        Ok(stream_id)
    }

    async fn changed_since(
        &self,
        room_ids: &[&RoomId],
        since: i64,
    ) -> StorageResult<Vec<ReceiptRecord>> {
        let mut records = Vec::new();
        for chunk in room_ids.chunks(ROOM_IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id FROM receipts
                 WHERE stream_id > $1 AND room_id IN ({}) ORDER BY stream_id",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since);
            for room_id in chunk {
                query = query.bind(room_id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                records.push(decode(&row)?);
            }
        }
        Ok(records)
    }

    async fn between(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ReceiptRecord>> {
        sqlx::query(
            "SELECT room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id FROM receipts
             WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id LIMIT $3",
        )
        .bind(after)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}

fn decode(row: &sqlx::any::AnyRow) -> StorageResult<ReceiptRecord> {
    Ok(ReceiptRecord {
        room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
            .map_err(|e| corrupt("receipts.room_id", e))?,
        receipt_type: row.try_get("receipt_type")?,
        user_id: OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
            .map_err(|e| corrupt("receipts.user_id", e))?,
        thread_id: row.try_get("thread_id")?,
        event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
            .map_err(|e| corrupt("receipts.event_id", e))?,
        ts: from_db(row.try_get("ts")?),
        stream_id: row.try_get("stream_id")?,
    })
}
