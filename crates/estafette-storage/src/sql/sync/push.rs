use async_trait::async_trait;
use ruma::{EventId, OwnedRoomId, RoomId, UserId};
use sqlx::any::AnyArguments;
use sqlx::{Any, AnyConnection, Row};

use crate::sql::{Db, Dialect, ROOM_IDS_PER_STATEMENT, Tx, corrupt, from_db, placeholders, to_db};
use crate::{
    EventPush, NotificationCounts, NotificationRecord, PushAction, PushActionRepository,
    PusherRecord, PusherRepository, StorageResult,
};

/// Rows per insert: four parameters each, well under both backends' parameter limits.
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
        let event = EventPush { thread_id, actions };
        if self.dialect == Dialect::Postgres {
            // One statement per chunk, each a transaction of its own: a retry completes what
            // a failure left, and what is stored already counts nothing twice.
            let mut conn = self.pool.acquire().await?;
            return store_actions(
                self.dialect,
                &mut conn,
                room_id,
                event_id,
                stream_ordering,
                &event,
            )
            .await;
        }
        let mut tx = self.write_transaction().await?;
        store_actions(
            self.dialect,
            &mut tx,
            room_id,
            event_id,
            stream_ordering,
            &event,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_ids: &[&RoomId],
    ) -> StorageResult<Vec<NotificationCounts>> {
        let mut counts = Vec::new();
        for chunk in room_ids.chunks(ROOM_IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT room_id, thread_id, notifications, highlights FROM push_counts
                 WHERE room_id IN ({}) AND user_id = $1
                   AND (notifications > 0 OR highlights > 0)",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id.as_str());
            for room_id in chunk {
                query = query.bind(room_id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                counts.push(NotificationCounts {
                    room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                        .map_err(|e| corrupt("push_counts.room_id", e))?,
                    thread_id: row.try_get("thread_id")?,
                    notifications: from_db(row.try_get("notifications")?),
                    highlights: from_db(row.try_get("highlights")?),
                });
            }
        }
        Ok(counts)
    }

    async fn notifications(
        &self,
        user_id: &UserId,
        before: i64,
        limit: u32,
        only_highlights: bool,
    ) -> StorageResult<Vec<NotificationRecord>> {
        // Read: at or before the position of the latest read receipt covering it (the room's
        // unthreaded or main receipt, or its thread's).
        let rows = sqlx::query(
            "SELECT a.room_id, a.event_id, a.stream_ordering, a.highlight,
               CASE WHEN a.stream_ordering <= COALESCE((
                   SELECT MAX(e.stream_ordering) FROM receipts r
                   JOIN events e ON e.event_id = r.event_id
                   WHERE r.room_id = a.room_id AND r.user_id = a.user_id
                     AND r.receipt_type IN ('m.read', 'm.read.private')
                     AND (r.thread_id IN ('', 'main') OR r.thread_id = a.thread_id)), 0)
                 THEN 1 ELSE 0 END AS is_read
             FROM event_push_actions a
             WHERE a.user_id = $1 AND a.notify = 1 AND a.stream_ordering < $2
               AND ($3 = 0 OR a.highlight = 1)
             ORDER BY a.stream_ordering DESC LIMIT $4",
        )
        .bind(user_id.as_str())
        .bind(before)
        .bind(i64::from(only_highlights))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NotificationRecord {
                    room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                        .map_err(|e| corrupt("event_push_actions.room_id", e))?,
                    event_id: ruma::OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                        .map_err(|e| corrupt("event_push_actions.event_id", e))?,
                    stream_ordering: row.try_get("stream_ordering")?,
                    highlight: row.try_get::<i64, _>("highlight")? != 0,
                    read: row.try_get::<i64, _>("is_read")? != 0,
                })
            })
            .collect()
    }
}

/// Stores an event's push actions and adds them to the members' unread totals, serialised
/// with receipts that count a room's totals again ([`recount`]). Only the actions stored now
/// add to the totals: storing an event's actions again counts nothing twice. PostgreSQL does
/// both in one statement.
pub(in crate::sql) async fn store_actions(
    dialect: Dialect,
    conn: &mut AnyConnection,
    room_id: &RoomId,
    event_id: &EventId,
    stream_ordering: i64,
    event: &EventPush<'_>,
) -> StorageResult<()> {
    for chunk in event.actions.chunks(PUSH_ACTIONS_PER_STATEMENT) {
        // SQLite names no columns of a `VALUES` list: the rows go straight into the insert.
        let rows = |first: usize, row: fn(usize) -> String| {
            (0..chunk.len())
                .map(|i| row(first + 4 * i))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let insert_actions = |rows: &str, source: &str| {
            format!(
                "INSERT INTO event_push_actions (room_id, stream_ordering, user_id, event_id, thread_id, notify, highlight, tweaks)
                 {rows}{source}
                 ON CONFLICT (room_id, stream_ordering, user_id) DO NOTHING
                 RETURNING user_id, notify, highlight"
            )
        };
        const ADD_TO_TOTALS: &str = "ON CONFLICT (room_id, user_id, thread_id) DO UPDATE
             SET notifications = push_counts.notifications + excluded.notifications,
                 highlights = push_counts.highlights + excluded.highlights";
        let bind_actions = |mut query: sqlx::query::Query<'static, Any, AnyArguments>| {
            for action in chunk {
                query = query
                    .bind(action.user_id.to_string())
                    .bind(i64::from(action.notify))
                    .bind(i64::from(action.highlight))
                    .bind(action.tweaks.clone());
            }
            query
        };
        let common = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(room_id.to_string())
                .bind(stream_ordering)
                .bind(event_id.to_string())
                .bind(event.thread_id.to_owned())
        };
        if dialect == Dialect::Postgres {
            let sql = format!(
                "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($5, 0))),
                 stored AS ({})
                 INSERT INTO push_counts (room_id, user_id, thread_id, notifications, highlights)
                 SELECT $1, user_id, $4, notify, highlight FROM stored {ADD_TO_TOTALS}",
                insert_actions(
                    &format!(
                        "SELECT $1, $2, v.user_id, $3, $4, v.notify, v.highlight, v.tweaks
                         FROM (VALUES {}) AS v (user_id, notify, highlight, tweaks)",
                        rows(6, |n| format!(
                            "(${n}, CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                            n + 1,
                            n + 2,
                            n + 3
                        ))
                    ),
                    " CROSS JOIN locked"
                )
            );
            bind_actions(common(sql).bind(push_counts_key(room_id)))
                .execute(&mut *conn)
                .await?;
            continue;
        }
        let values = format!(
            "VALUES {}",
            rows(5, |n| format!(
                "($1, $2, ${n}, $3, $4, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3
            ))
        );
        let stored = bind_actions(common(insert_actions(&values, "")))
            .fetch_all(&mut *conn)
            .await?;
        if stored.is_empty() {
            continue;
        }
        let rows = (0..stored.len())
            .map(|i| {
                let n = 3 + 3 * i;
                format!("($1, ${n}, $2, ${}, ${})", n + 1, n + 2)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO push_counts (room_id, user_id, thread_id, notifications, highlights)
             VALUES {rows} {ADD_TO_TOTALS}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id.as_str())
            .bind(event.thread_id.to_owned());
        for row in &stored {
            query = query
                .bind(row.try_get::<String, _>("user_id")?)
                .bind(row.try_get::<i64, _>("notify")?)
                .bind(row.try_get::<i64, _>("highlight")?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn push_counts_key(room_id: &RoomId) -> String {
    format!("push counts {room_id}")
}

/// Counts a member's totals in a room again from the push actions, after their read receipt
/// moved, in the receipt's transaction: a thread counts after its newest read receipt and
/// after the newest unthreaded (or main) one.
pub(in crate::sql) async fn recount(
    db: &Db,
    tx: &mut Tx,
    user_id: &UserId,
    room_id: &RoomId,
) -> StorageResult<()> {
    db.lock(tx, &push_counts_key(room_id)).await?;
    sqlx::query("DELETE FROM push_counts WHERE room_id = $1 AND user_id = $2")
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "WITH read AS (
            SELECT CASE WHEN r.thread_id IN ('', 'main') THEN '' ELSE r.thread_id END AS thread,
                   MAX(e.stream_ordering) AS position
            FROM receipts r JOIN events e ON e.event_id = r.event_id
            WHERE r.room_id = $1 AND r.user_id = $2
              AND r.receipt_type IN ('m.read', 'm.read.private')
            GROUP BY CASE WHEN r.thread_id IN ('', 'main') THEN '' ELSE r.thread_id END
         )
         INSERT INTO push_counts (room_id, user_id, thread_id, notifications, highlights)
         SELECT $1, $2, a.thread_id, CAST(SUM(a.notify) AS BIGINT), CAST(SUM(a.highlight) AS BIGINT)
         FROM event_push_actions a
         WHERE a.room_id = $1 AND a.user_id = $2
           AND a.stream_ordering > COALESCE((SELECT position FROM read WHERE thread = ''), 0)
           AND a.stream_ordering > COALESCE((SELECT position FROM read
                WHERE read.thread = a.thread_id), 0)
         GROUP BY a.thread_id",
    )
    .bind(room_id.as_str())
    .bind(user_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
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
               lang, data_json, device_id, created_ts, delivered_stream)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
               (SELECT COALESCE(MAX(stream_ordering), 0) FROM events))
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
        self.write(
            sqlx::query("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3")
                .bind(user_id.as_str())
                .bind(app_id)
                .bind(pushkey),
        )
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
                tweaks: String::new(),
            })
            .collect();
        // The second event's actions stored twice count once.
        for (event, position) in [
            (event_id!("$one"), 5),
            (event_id!("$two"), 6),
            (event_id!("$two"), 6),
        ] {
            storage
                .push_actions
                .insert(room, event, position, "", &actions)
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
            tweaks: String::new(),
        };
        let (first, second, quiet) = (room_id!("!one:x"), room_id!("!two:x"), room_id!("!three:x"));
        for (room, event, position, highlight) in [
            (first, event_id!("$a"), 1, false),
            (first, event_id!("$b"), 2, true),
            (second, event_id!("$c"), 3, false),
        ] {
            storage
                .push_actions
                .insert(room, event, position, "", &[action(highlight)])
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
