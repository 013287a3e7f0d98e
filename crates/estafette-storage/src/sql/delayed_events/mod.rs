//! Delayed events. A process claims one before sending it (a timestamp, taken over when a
//! minute old), so that two processes never send the same event and one that died while
//! sending leaves it to another rather than losing it.

use async_trait::async_trait;
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{DelayedEventRecord, DelayedEventRepository, StorageResult};

const COLUMNS: &str = "delay_id, user_id, device_id, room_id, event_type, state_key, content, \
                       delay_ms, created_ts, running_since, send_ts";

fn decode(row: &AnyRow) -> StorageResult<DelayedEventRecord> {
    let user_id: String = row.try_get("user_id")?;
    let device_id: String = row.try_get("device_id")?;
    let room_id: String = row.try_get("room_id")?;
    Ok(DelayedEventRecord {
        delay_id: row.try_get("delay_id")?,
        user_id: OwnedUserId::try_from(user_id)
            .map_err(|e| corrupt("delayed_events.user_id", e))?,
        device_id: OwnedDeviceId::from(device_id),
        room_id: OwnedRoomId::try_from(room_id)
            .map_err(|e| corrupt("delayed_events.room_id", e))?,
        event_type: row.try_get("event_type")?,
        state_key: row.try_get("state_key")?,
        content: row.try_get("content")?,
        delay_ms: from_db(row.try_get("delay_ms")?),
        created_ts: from_db(row.try_get("created_ts")?),
        running_since: from_db(row.try_get("running_since")?),
        send_ts: from_db(row.try_get("send_ts")?),
    })
}

#[async_trait]
impl DelayedEventRepository for Db {
    async fn add(&self, event: &DelayedEventRecord, max_per_user: u64) -> StorageResult<bool> {
        let mut tx = self.write_transaction().await?;
        self.lock(&mut tx, &format!("delayed_events:{}", event.user_id))
            .await?;
        let scheduled: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM delayed_events WHERE user_id = $1")
                .bind(event.user_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let room = from_db(scheduled) < max_per_user;
        if room {
            sqlx::query(
                "INSERT INTO delayed_events (delay_id, user_id, device_id, room_id, event_type,
                   state_key, content, delay_ms, created_ts, running_since, send_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&event.delay_id)
            .bind(event.user_id.as_str())
            .bind(event.device_id.as_str())
            .bind(event.room_id.as_str())
            .bind(&event.event_type)
            .bind(event.state_key.as_deref())
            .bind(&event.content)
            .bind(to_db(event.delay_ms))
            .bind(to_db(event.created_ts))
            .bind(to_db(event.running_since))
            .bind(to_db(event.send_ts))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<DelayedEventRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM delayed_events WHERE user_id = $1 ORDER BY send_ts, delay_id"
        )))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn get(&self, delay_id: &str) -> StorageResult<Option<DelayedEventRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM delayed_events WHERE delay_id = $1"
        )))
        .bind(delay_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn restart(&self, delay_id: &str, now: u64) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE delayed_events SET running_since = $2, send_ts = $2 + delay_ms
                     WHERE delay_id = $1 AND claimed_ts IS NULL",
                )
                .bind(delay_id)
                .bind(to_db(now)),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn cancel(&self, delay_id: &str) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "DELETE FROM delayed_events WHERE delay_id = $1 AND claimed_ts IS NULL",
                )
                .bind(delay_id),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn due(&self, now: u64, stale_before: u64, limit: u32) -> StorageResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT delay_id FROM delayed_events
             WHERE send_ts <= $1 AND (claimed_ts IS NULL OR claimed_ts < $2)
             ORDER BY send_ts LIMIT $3",
        )
        .bind(to_db(now))
        .bind(to_db(stale_before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim(
        &self,
        delay_id: &str,
        now: u64,
        stale_before: u64,
        due: bool,
    ) -> StorageResult<Option<DelayedEventRecord>> {
        let claimed = self
            .write(
                sqlx::query(
                    "UPDATE delayed_events SET claimed_ts = $2
                     WHERE delay_id = $1 AND (claimed_ts IS NULL OR claimed_ts < $3)
                       AND ($4 = 0 OR send_ts <= $2)",
                )
                .bind(delay_id)
                .bind(to_db(now))
                .bind(to_db(stale_before))
                .bind(i64::from(due)),
            )
            .await?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        self.get(delay_id).await
    }

    async fn finish(&self, delay_id: &str) -> StorageResult<()> {
        self.write(sqlx::query("DELETE FROM delayed_events WHERE delay_id = $1").bind(delay_id))
            .await?;
        Ok(())
    }

    async fn next_send_ts(&self) -> StorageResult<Option<u64>> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(send_ts) FROM delayed_events WHERE claimed_ts IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(next.map(from_db))
    }
}

#[cfg(test)]
mod tests {
    use ruma::{owned_device_id, owned_room_id, owned_user_id};

    use super::*;
    use crate::sql::testing::open_temporary;

    fn event(delay_id: &str, user: &str, running_since: u64) -> DelayedEventRecord {
        DelayedEventRecord {
            delay_id: delay_id.to_owned(),
            user_id: OwnedUserId::try_from(user).unwrap(),
            device_id: owned_device_id!("PHONE"),
            room_id: owned_room_id!("!call:x"),
            event_type: "org.matrix.msc3401.call.member".to_owned(),
            state_key: Some("_@alice:x_PHONE".to_owned()),
            content: "{}".to_owned(),
            delay_ms: 100,
            created_ts: running_since,
            running_since,
            send_ts: running_since + 100,
        }
    }

    #[tokio::test]
    async fn events_wait_restart_and_go_to_one_claimant() {
        let (_dir, storage) = open_temporary().await;
        let store = &storage.delayed_events;
        let alice = owned_user_id!("@alice:x");
        assert!(store.add(&event("a", "@alice:x", 1_000), 2).await.unwrap());
        assert!(store.add(&event("b", "@alice:x", 1_050), 2).await.unwrap());
        assert!(!store.add(&event("c", "@alice:x", 1_050), 2).await.unwrap());
        assert!(store.add(&event("d", "@bob:x", 1_000), 2).await.unwrap());
        let ids = |events: Vec<DelayedEventRecord>| -> Vec<String> {
            events.into_iter().map(|e| e.delay_id).collect()
        };
        assert_eq!(ids(store.of_user(&alice).await.unwrap()), ["a", "b"]);
        assert_eq!(store.next_send_ts().await.unwrap(), Some(1_100));

        assert!(store.restart("a", 1_090).await.unwrap());
        let a = store.get("a").await.unwrap().unwrap();
        assert_eq!((a.running_since, a.send_ts), (1_090, 1_190));
        assert_eq!(store.due(1_150, 0, 10).await.unwrap(), ["d", "b"]);
        assert!(
            store.claim("a", 1_150, 0, true).await.unwrap().is_none(),
            "not due"
        );
        assert!(store.claim("b", 1_150, 0, true).await.unwrap().is_some());
        assert!(
            store.claim("b", 1_151, 0, true).await.unwrap().is_none(),
            "claimed"
        );
        assert!(!store.restart("b", 1_151).await.unwrap());
        assert!(!store.cancel("b").await.unwrap());
        let taken_over = store.claim("b", 70_000, 10_000, true).await.unwrap();
        assert!(taken_over.is_some(), "a stale claim is taken over");
        store.finish("b").await.unwrap();
        assert!(store.get("b").await.unwrap().is_none());

        assert!(
            store.claim("a", 1_100, 0, false).await.unwrap().is_some(),
            "sent now"
        );
        assert!(store.cancel("d").await.unwrap());
        assert_eq!(store.next_send_ts().await.unwrap(), None);
    }
}
