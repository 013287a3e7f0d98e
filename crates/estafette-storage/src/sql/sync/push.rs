use async_trait::async_trait;
use ruma::{EventId, OwnedRoomId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, ROOM_IDS_PER_STATEMENT, corrupt, from_db, placeholders, to_db};
use crate::{
    NotificationCounts, PushAction, PushActionRepository, PusherRecord, PusherRepository,
    StorageResult,
};

/// Rows per insert: three parameters each, well under both backends' parameter limits.
const PUSH_ACTIONS_PER_STATEMENT: usize = 1000;

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
        // One statement per event, not per member (several in a very large room).
        let chunks: Vec<&[PushAction]> = actions.chunks(PUSH_ACTIONS_PER_STATEMENT).collect();
        let insert = |chunk: &[PushAction]| {
            let rows = (0..chunk.len())
                .map(|i| {
                    let n = 5 + 3 * i;
                    format!("(${n}, $1, $2, $3, $4, ${}, ${})", n + 1, n + 2)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering, thread_id, notify, highlight)
                 VALUES {rows} ON CONFLICT (user_id, event_id) DO NOTHING"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(room_id.as_str())
                .bind(event_id.as_str())
                .bind(stream_ordering)
                .bind(thread_id.to_owned());
            for action in chunk {
                query = query
                    .bind(action.user_id.to_string())
                    .bind(i64::from(action.notify))
                    .bind(i64::from(action.highlight));
            }
            query
        };
        if let [chunk] = chunks.as_slice() {
            insert(chunk).execute(&self.pool).await?;
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for chunk in chunks {
            insert(chunk).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_ids: &[&RoomId],
    ) -> StorageResult<Vec<NotificationCounts>> {
        // A thread's counts start after the newest receipt in that thread or, for the main
        // timeline and for threads without one, after the newest unthreaded or main receipt.
        let mut counts = Vec::new();
        for chunk in room_ids.chunks(ROOM_IDS_PER_STATEMENT) {
            let rooms = placeholders(2, chunk.len());
            let sql = format!(
                "WITH read AS (
                    SELECT r.room_id,
                           CASE WHEN r.thread_id IN ('', 'main') THEN '' ELSE r.thread_id END AS thread,
                           MAX(e.stream_ordering) AS position
                    FROM receipts r JOIN events e ON e.event_id = r.event_id
                    WHERE r.user_id = $1 AND r.room_id IN ({rooms})
                      AND r.receipt_type IN ('m.read', 'm.read.private')
                    GROUP BY r.room_id, thread
                 )
                 SELECT a.room_id, a.thread_id, CAST(SUM(a.notify) AS BIGINT) AS notifications,
                        CAST(SUM(a.highlight) AS BIGINT) AS highlights
                 FROM event_push_actions a
                 WHERE a.user_id = $1 AND a.room_id IN ({rooms})
                   AND a.stream_ordering > COALESCE((SELECT position FROM read
                        WHERE read.room_id = a.room_id AND read.thread = a.thread_id), 0)
                   AND a.stream_ordering > COALESCE((SELECT position FROM read
                        WHERE read.room_id = a.room_id AND read.thread = ''), 0)
                 GROUP BY a.room_id, a.thread_id"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id.as_str());
            for room_id in chunk {
                query = query.bind(room_id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                counts.push(NotificationCounts {
                    room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                        .map_err(|e| corrupt("event_push_actions.room_id", e))?,
                    thread_id: row.try_get("thread_id")?,
                    notifications: from_db(
                        row.try_get::<Option<i64>, _>("notifications")?.unwrap_or(0),
                    ),
                    highlights: from_db(row.try_get::<Option<i64>, _>("highlights")?.unwrap_or(0)),
                });
            }
        }
        Ok(counts)
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

#[cfg(test)]
mod tests {
    use ruma::{OwnedUserId, event_id, room_id};

    use crate::PushAction;
    use crate::sql::testing::open_temporary;

    /// A room larger than one statement's rows: every member's action is stored once, and the
    /// same event's actions stored again change nothing.
    #[tokio::test]
    async fn actions_of_a_very_large_room_are_stored_once_each() {
        let (_dir, storage) = open_temporary().await;
        let room = room_id!("!big:x");
        let members = super::PUSH_ACTIONS_PER_STATEMENT + 7;
        let actions: Vec<PushAction> = (0..members)
            .map(|i| PushAction {
                user_id: OwnedUserId::try_from(format!("@u{i}:x")).expect("user ID"),
                notify: true,
                highlight: i % 2 == 0,
            })
            .collect();
        for event in [event_id!("$one"), event_id!("$two"), event_id!("$two")] {
            storage
                .push_actions
                .insert(room, event, 5, "", &actions)
                .await
                .expect("insert");
        }
        for i in [0, 1, members - 2, members - 1] {
            let user = &actions[i].user_id;
            let expected_highlights = if i % 2 == 0 { 2 } else { 0 };
            let counts = storage
                .push_actions
                .unread_counts(user, &[room])
                .await
                .expect("counts");
            assert_eq!(counts.len(), 1, "{user}");
            assert_eq!(counts[0].notifications, 2, "{user}");
            assert_eq!(counts[0].highlights, expected_highlights, "{user}");
        }
    }

    /// Several rooms counted in one statement: each room's counts under its own ID.
    #[tokio::test]
    async fn rooms_are_counted_apart_in_one_call() {
        let (_dir, storage) = open_temporary().await;
        let user = OwnedUserId::try_from("@u:x").expect("user ID");
        let action = |highlight| PushAction {
            user_id: user.clone(),
            notify: true,
            highlight,
        };
        let (first, second, quiet) = (room_id!("!one:x"), room_id!("!two:x"), room_id!("!three:x"));
        for (room, event, highlight) in [
            (first, event_id!("$a"), false),
            (first, event_id!("$b"), true),
            (second, event_id!("$c"), false),
        ] {
            storage
                .push_actions
                .insert(room, event, 1, "", &[action(highlight)])
                .await
                .expect("insert");
        }
        let mut counts = storage
            .push_actions
            .unread_counts(&user, &[first, second, quiet])
            .await
            .expect("counts");
        counts.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        let summary: Vec<(String, u64, u64)> = counts
            .into_iter()
            .map(|c| (c.room_id.to_string(), c.notifications, c.highlights))
            .collect();
        assert_eq!(
            summary,
            [("!one:x".to_owned(), 2, 1), ("!two:x".to_owned(), 1, 0)]
        );
    }
}
