use async_trait::async_trait;
use ruma::{EventId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, from_db, to_db};
use crate::{
    NotificationCounts, PushAction, PushActionRepository, PusherRecord, PusherRepository,
    StorageResult,
};

#[async_trait]
impl PushActionRepository for Db {
    async fn insert(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        stream_ordering: i64,
        thread_id: &str,
        actions: &[PushAction],
    ) -> StorageResult<()> {
        if actions.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for action in actions {
            sqlx::query(
                "INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering, thread_id, notify, highlight)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, event_id) DO NOTHING",
            )
            .bind(action.user_id.as_str())
            .bind(room_id.as_str())
            .bind(event_id.as_str())
            .bind(stream_ordering)
            .bind(thread_id)
            .bind(i64::from(action.notify))
            .bind(i64::from(action.highlight))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> StorageResult<Vec<NotificationCounts>> {
        // A thread's counts start after the newest receipt in that thread or, for the main
        // timeline and for threads without one, after the newest unthreaded or main receipt.
        let rows = sqlx::query(
            "WITH read AS (
                SELECT CASE WHEN r.thread_id IN ('', 'main') THEN '' ELSE r.thread_id END AS thread,
                       MAX(e.stream_ordering) AS position
                FROM receipts r JOIN events e ON e.event_id = r.event_id
                WHERE r.room_id = $2 AND r.user_id = $1 AND r.receipt_type IN ('m.read', 'm.read.private')
                GROUP BY thread
             )
             SELECT a.thread_id, CAST(SUM(a.notify) AS BIGINT) AS notifications,
                    CAST(SUM(a.highlight) AS BIGINT) AS highlights
             FROM event_push_actions a
             WHERE a.user_id = $1 AND a.room_id = $2
               AND a.stream_ordering > COALESCE((SELECT position FROM read WHERE thread = a.thread_id), 0)
               AND a.stream_ordering > COALESCE((SELECT position FROM read WHERE thread = ''), 0)
             GROUP BY a.thread_id",
        )
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NotificationCounts {
                    thread_id: row.try_get("thread_id")?,
                    notifications: from_db(
                        row.try_get::<Option<i64>, _>("notifications")?.unwrap_or(0),
                    ),
                    highlights: from_db(row.try_get::<Option<i64>, _>("highlights")?.unwrap_or(0)),
                })
            })
            .collect()
    }
}

#[async_trait]
impl PusherRepository for Db {
    async fn set(
        &self,
        user_id: &UserId,
        pusher: &PusherRecord,
        append: bool,
        now: u64,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        if !append {
            sqlx::query("DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3")
                .bind(&pusher.app_id)
                .bind(&pusher.pushkey)
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag,
               lang, data_json, device_id, created_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET kind = excluded.kind,
               app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
               profile_tag = excluded.profile_tag, lang = excluded.lang, data_json = excluded.data_json,
               device_id = excluded.device_id",
        )
        .bind(user_id.as_str())
        .bind(&pusher.app_id)
        .bind(&pusher.pushkey)
        .bind(&pusher.kind)
        .bind(&pusher.app_display_name)
        .bind(&pusher.device_display_name)
        .bind(pusher.profile_tag.as_deref())
        .bind(&pusher.lang)
        .bind(&pusher.data_json)
        .bind(pusher.device_id.as_deref())
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete(&self, user_id: &UserId, app_id: &str, pushkey: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3")
            .bind(user_id.as_str())
            .bind(app_id)
            .bind(pushkey)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<PusherRecord>> {
        let rows = sqlx::query(
            "SELECT app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data_json, device_id
             FROM pushers WHERE user_id = $1 ORDER BY created_ts",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PusherRecord {
                    app_id: row.try_get("app_id")?,
                    pushkey: row.try_get("pushkey")?,
                    kind: row.try_get("kind")?,
                    app_display_name: row.try_get("app_display_name")?,
                    device_display_name: row.try_get("device_display_name")?,
                    profile_tag: row.try_get("profile_tag")?,
                    lang: row.try_get("lang")?,
                    data_json: row.try_get("data_json")?,
                    device_id: row.try_get("device_id")?,
                })
            })
            .collect()
    }
}
