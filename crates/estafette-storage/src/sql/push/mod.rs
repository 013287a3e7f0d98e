//! Push delivery. A process claims a pusher (a timestamp, taken over when a minute old)
//! before sending its notifications, so that each goes out once per pusher and in order.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{DuePusher, PendingPush, PushDeliveryRepository, PushFailure, StorageResult};

const KEY: &str = "user_id = $1 AND app_id = $2 AND pushkey = $3";

fn due_pusher(row: &sqlx::any::AnyRow) -> StorageResult<DuePusher> {
    let user_id: String = row.try_get("user_id")?;
    Ok(DuePusher {
        user_id: OwnedUserId::try_from(user_id).map_err(|e| corrupt("pushers.user_id", e))?,
        app_id: row.try_get("app_id")?,
        pushkey: row.try_get("pushkey")?,
        data_json: row.try_get("data_json")?,
        created_ts: from_db(row.try_get("created_ts")?),
        delivered_stream: row.try_get("delivered_stream")?,
        failing_since: row.try_get::<Option<i64>, _>("failing_since")?.map(from_db),
        backoff_ms: from_db(row.try_get("backoff_ms")?),
        retry_ts: from_db(row.try_get("retry_ts")?),
    })
}

impl Db {
    /// Unclaimed pushers (or claimed before `$2`) that meet `condition` (`$1`: now).
    async fn select_due(
        &self,
        condition: &str,
        (now, stale_before, limit): (u64, u64, u32),
    ) -> StorageResult<Vec<DuePusher>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT p.user_id, p.app_id, p.pushkey, p.data_json, p.created_ts,
                    p.delivered_stream, p.failing_since, p.backoff_ms, p.retry_ts
             FROM pushers p
             WHERE (p.claimed_ts IS NULL OR p.claimed_ts < $2) AND {condition}
             LIMIT $3"
        )))
        .bind(to_db(now))
        .bind(to_db(stale_before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(due_pusher).collect()
    }
}

#[async_trait]
impl PushDeliveryRepository for Db {
    async fn due(&self, now: u64, stale_before: u64, limit: u32) -> StorageResult<Vec<DuePusher>> {
        self.select_due(
            "p.kind = 'http'
             AND ((p.retry_ts <= $1
                   AND EXISTS (SELECT 1 FROM event_push_actions a
                               WHERE a.user_id = p.user_id AND a.notify = 1
                                 AND a.stream_ordering > p.delivered_stream))
               OR (p.retry_ts > $1
                   AND EXISTS (SELECT 1 FROM event_push_actions a
                               WHERE a.user_id = p.user_id AND a.notify = 1
                                 AND a.stream_ordering > p.attempted_stream)))",
            (now, stale_before, limit),
        )
        .await
    }

    async fn due_emails(
        &self,
        now: u64,
        stale_before: u64,
        limit: u32,
    ) -> StorageResult<Vec<DuePusher>> {
        self.select_due(
            "p.kind = 'email' AND p.retry_ts <= $1
             AND EXISTS (SELECT 1 FROM event_push_actions a
                         WHERE a.user_id = p.user_id AND a.notify = 1
                           AND a.stream_ordering > p.delivered_stream)",
            (now, stale_before, limit),
        )
        .await
    }

    async fn schedule(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        at: u64,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE pushers SET retry_ts = $4 WHERE {KEY} AND retry_ts = 0"
            )))
            .bind(user_id.as_str())
            .bind(app_id)
            .bind(pushkey)
            .bind(to_db(at)),
        )
        .await?;
        Ok(())
    }

    async fn claim(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        now: u64,
        stale_before: u64,
    ) -> StorageResult<bool> {
        let claimed = self
            .write(
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE pushers SET claimed_ts = $4
                     WHERE {KEY} AND (claimed_ts IS NULL OR claimed_ts < $5)"
                )))
                .bind(user_id.as_str())
                .bind(app_id)
                .bind(pushkey)
                .bind(to_db(now))
                .bind(to_db(stale_before)),
            )
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn pending(
        &self,
        user_id: &UserId,
        after: i64,
        limit: u32,
    ) -> StorageResult<Vec<PendingPush>> {
        let rows = sqlx::query(
            "SELECT room_id, event_id, stream_ordering, highlight, tweaks FROM event_push_actions
             WHERE user_id = $1 AND notify = 1 AND stream_ordering > $2
             ORDER BY stream_ordering LIMIT $3",
        )
        .bind(user_id.as_str())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingPush {
                    room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                        .map_err(|e| corrupt("event_push_actions.room_id", e))?,
                    event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                        .map_err(|e| corrupt("event_push_actions.event_id", e))?,
                    stream_ordering: row.try_get("stream_ordering")?,
                    highlight: row.try_get::<i64, _>("highlight")? != 0,
                    tweaks: row.try_get("tweaks")?,
                })
            })
            .collect()
    }

    async fn newest(&self, user_id: &UserId) -> StorageResult<i64> {
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(stream_ordering) FROM event_push_actions
             WHERE user_id = $1 AND notify = 1",
        )
        .bind(user_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(newest.unwrap_or_default())
    }

    async fn delivered(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        position: i64,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE pushers SET delivered_stream = $4, failing_since = NULL, backoff_ms = 0,
                   retry_ts = 0, claimed_ts = NULL
                 WHERE {KEY}"
            )))
            .bind(user_id.as_str())
            .bind(app_id)
            .bind(pushkey)
            .bind(position),
        )
        .await?;
        Ok(())
    }

    async fn failed(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        failure: PushFailure,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE pushers SET failing_since = $4, backoff_ms = $5, retry_ts = $6,
                   attempted_stream = $7, claimed_ts = NULL
                 WHERE {KEY}"
            )))
            .bind(user_id.as_str())
            .bind(app_id)
            .bind(pushkey)
            .bind(to_db(failure.failing_since))
            .bind(to_db(failure.backoff_ms))
            .bind(to_db(failure.retry_ts))
            .bind(failure.attempted_stream),
        )
        .await?;
        Ok(())
    }

    async fn unread_rooms(&self, user_id: &UserId) -> StorageResult<u64> {
        let rooms: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT room_id) FROM push_counts
             WHERE user_id = $1 AND notifications > 0",
        )
        .bind(user_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(from_db(rooms))
    }

    async fn next_retry(&self, now: u64) -> StorageResult<Option<u64>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(retry_ts) FROM pushers WHERE kind IN ('http', 'email') AND retry_ts > $1",
        )
        .bind(to_db(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(from_db))
    }
}
