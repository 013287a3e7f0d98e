//! Thread subscriptions. Each change takes a stream position, so that a sync sees it.

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, corrupt};
use crate::{StorageResult, Subscribed, ThreadSubscriptionRecord, ThreadSubscriptionRepository};

fn decode(row: &AnyRow) -> StorageResult<ThreadSubscriptionRecord> {
    let room_id: String = row.try_get("room_id")?;
    let thread_root: String = row.try_get("thread_root")?;
    Ok(ThreadSubscriptionRecord {
        room_id: OwnedRoomId::try_from(room_id)
            .map_err(|e| corrupt("thread_subscriptions.room_id", e))?,
        thread_root: OwnedEventId::try_from(thread_root)
            .map_err(|e| corrupt("thread_subscriptions.thread_root", e))?,
        subscribed: row.try_get::<i64, _>("subscribed")? != 0,
        automatic: row.try_get::<i64, _>("automatic")? != 0,
        stream_id: row.try_get("stream_id")?,
    })
}

const COLUMNS: &str = "room_id, thread_root, subscribed, automatic, stream_id";

#[async_trait]
impl ThreadSubscriptionRepository for Db {
    async fn subscribe(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
        automatic_up_to: Option<i64>,
    ) -> StorageResult<Subscribed> {
        let mut tx = self.write_transaction().await?;
        self.lock(&mut tx, &format!("thread_subscriptions:{user_id}"))
            .await?;
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM thread_subscriptions
             WHERE user_id = $1 AND room_id = $2 AND thread_root = $3"
        )))
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .bind(thread_root.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(decode)
        .transpose()?;
        let outcome = match (&current, automatic_up_to) {
            // A subscription stays as it is for an automatic one; a manual one only upgrades.
            (Some(c), Some(_)) if c.subscribed => None,
            (Some(c), None) if c.subscribed && !c.automatic => None,
            (Some(c), Some(up_to)) if !c.subscribed && c.stream_id > up_to => {
                Some(Subscribed::Conflict)
            }
            _ => Some(Subscribed::Changed(0)),
        };
        let outcome = match outcome {
            None => Subscribed::Unchanged,
            Some(Subscribed::Changed(_)) => {
                let stream_id = self.next_stream_id(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO thread_subscriptions
                       (user_id, room_id, thread_root, subscribed, automatic, stream_id)
                     VALUES ($1, $2, $3, 1, $4, $5)
                     ON CONFLICT (user_id, room_id, thread_root) DO UPDATE SET
                       subscribed = 1, automatic = excluded.automatic,
                       stream_id = excluded.stream_id",
                )
                .bind(user_id.as_str())
                .bind(room_id.as_str())
                .bind(thread_root.as_str())
                .bind(i64::from(automatic_up_to.is_some()))
                .bind(stream_id)
                .execute(&mut *tx)
                .await?;
                Subscribed::Changed(stream_id)
            }
            Some(other) => other,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn unsubscribe(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> StorageResult<Option<i64>> {
        let mut tx = self.write_transaction().await?;
        self.lock(&mut tx, &format!("thread_subscriptions:{user_id}"))
            .await?;
        let subscribed: Option<i64> = sqlx::query_scalar(
            "SELECT subscribed FROM thread_subscriptions
             WHERE user_id = $1 AND room_id = $2 AND thread_root = $3",
        )
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .bind(thread_root.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if subscribed.unwrap_or(0) == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        let stream_id = self.next_stream_id(&mut tx).await?;
        sqlx::query(
            "UPDATE thread_subscriptions SET subscribed = 0, automatic = 0, stream_id = $4
             WHERE user_id = $1 AND room_id = $2 AND thread_root = $3",
        )
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .bind(thread_root.as_str())
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(stream_id))
    }

    async fn get(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> StorageResult<Option<ThreadSubscriptionRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM thread_subscriptions
             WHERE user_id = $1 AND room_id = $2 AND thread_root = $3"
        )))
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .bind(thread_root.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn changes(
        &self,
        user_id: &UserId,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ThreadSubscriptionRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM thread_subscriptions
             WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3
             ORDER BY stream_id DESC LIMIT $4"
        )))
        .bind(user_id.as_str())
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

#[cfg(test)]
mod tests {
    use ruma::{event_id, room_id, user_id};

    use super::*;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn automatic_subscriptions_never_override_the_user() {
        let (_dir, storage) = open_temporary().await;
        let store = &storage.thread_subscriptions;
        let (alice, room) = (user_id!("@alice:x"), room_id!("!r:x"));
        let (one, two) = (event_id!("$one"), event_id!("$two"));
        let Subscribed::Changed(first) = store.subscribe(alice, room, one, Some(5)).await.unwrap()
        else {
            panic!("a new automatic subscription");
        };
        assert_eq!(
            store.subscribe(alice, room, one, Some(6)).await.unwrap(),
            Subscribed::Unchanged
        );
        let Subscribed::Changed(manual) = store.subscribe(alice, room, one, None).await.unwrap()
        else {
            panic!("automatic becomes manual");
        };
        assert!(manual > first);
        assert_eq!(
            store.subscribe(alice, room, one, None).await.unwrap(),
            Subscribed::Unchanged
        );
        let left = store.unsubscribe(alice, room, one).await.unwrap().unwrap();
        assert_eq!(store.unsubscribe(alice, room, one).await.unwrap(), None);
        assert_eq!(
            store
                .subscribe(alice, room, one, Some(left - 1))
                .await
                .unwrap(),
            Subscribed::Conflict,
            "an event before the unsubscription"
        );
        assert!(matches!(
            store
                .subscribe(alice, room, one, Some(left + 1))
                .await
                .unwrap(),
            Subscribed::Changed(_)
        ));
        store.subscribe(alice, room, two, None).await.unwrap();
        let all = store.changes(alice, 0, i64::MAX, 10).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].thread_root, two, "latest first");
        assert!(all[1].automatic && all[1].subscribed);
        let latest = store.changes(alice, 0, i64::MAX, 1).await.unwrap();
        assert_eq!(latest.len(), 1);
        assert!(
            store
                .changes(alice, all[0].stream_id, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .get(user_id!("@bob:x"), room, one)
                .await
                .unwrap()
                .is_none()
        );
    }
}
