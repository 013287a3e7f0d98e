use std::collections::BTreeMap;
use std::sync::OnceLock;

use async_trait::async_trait;

use ruma::{DeviceId, OwnedRoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, Dialect, corrupt, flag};
use crate::{RoomWithNews, StorageError, StorageResult, StreamNews, StreamRepository};

/// The position up to which every write has committed: below the smallest position still in
/// flight, or the last one taken when none is. One statement, so one snapshot: a position's
/// allocation and its in-flight record commit together (`Db::next_stream_id`). A record whose
/// transaction rolled back or died does not count; "committed" counts, for a record read just
/// before its transaction's commit removed it.
macro_rules! current_postgres {
    () => {
        "COALESCE(
    (SELECT MIN(position) - 1 FROM stream_in_flight
     WHERE pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)) IN ('in progress', 'committed')),
    (SELECT position FROM stream_position))"
    };
}

/// With one writer at a time, the counter is the committed position.
macro_rules! current_sqlite {
    () => {
        "(SELECT position FROM stream_position)"
    };
}

/// What a sync asks: the current position ($4 below), flags of what moved for the user ($1)
/// and device ($2) after the token ($3), the device's key counts, and one row more per joined
/// room with news.
const NEWS: &str = "
    WITH cur AS $MATERIALIZED (SELECT $CURRENT AS position)
    SELECT flags.*, news.room_id, news.receipts, news.relations FROM (SELECT
      CAST($4 AS BIGINT) AS position,
      CASE WHEN EXISTS (SELECT 1 FROM to_device_messages
                        WHERE user_id = $1 AND device_id = $2) THEN 1 ELSE 0 END AS to_device,
      CASE WHEN EXISTS (SELECT 1 FROM account_data
                        WHERE user_id = $1 AND stream_id > $3) THEN 1 ELSE 0 END AS account_data,
      CASE WHEN EXISTS (SELECT 1 FROM room_memberships
                        WHERE user_id = $1 AND stream_ordering > $3) THEN 1 ELSE 0 END AS memberships,
      CASE WHEN EXISTS (SELECT 1 FROM room_memberships
                        WHERE stream_ordering > $3 AND stream_ordering <= $4)
           THEN 1 ELSE 0 END AS room_memberships,
      CASE WHEN EXISTS (SELECT 1 FROM device_list_changes
                        WHERE stream_id > $3 AND stream_id <= $4) THEN 1 ELSE 0 END AS device_lists,
      CASE WHEN EXISTS (SELECT 1 FROM presence WHERE stream_id > $3) THEN 1 ELSE 0 END AS presence,
      (SELECT $AGG(algorithm || ':' || CAST(n AS TEXT), ',') FROM (
         SELECT algorithm, COUNT(*) AS n FROM one_time_keys
         WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm) counted) AS one_time_keys,
      (SELECT $AGG(algorithm, ',') FROM fallback_keys
         WHERE user_id = $1 AND device_id = $2 AND used = 0) AS fallback_keys
    ) flags
    LEFT JOIN (
      SELECT rooms.room_id, rooms.receipts,
        CASE WHEN rooms.events = 1 AND EXISTS (
          SELECT 1 FROM events e JOIN event_relations r ON r.relates_to_id = e.event_id
          WHERE e.room_id = rooms.room_id AND e.stream_ordering > $3
            AND r.rel_type IN ('m.replace', 'm.thread', 'm.reference'))
        THEN 1 ELSE 0 END AS relations
      FROM (
        SELECT m.room_id,
          CASE WHEN EXISTS (SELECT 1 FROM events e
                            WHERE e.room_id = m.room_id AND e.stream_ordering > $3)
               THEN 1 ELSE 0 END AS events,
          CASE WHEN EXISTS (SELECT 1 FROM receipts r
                            WHERE r.room_id = m.room_id AND r.stream_id > $3)
               THEN 1 ELSE 0 END AS receipts
        FROM room_memberships m
        WHERE m.user_id = $1 AND m.membership = 'join' AND $4 > $3
      ) rooms WHERE rooms.events = 1 OR rooms.receipts = 1
    ) news ON 1 = 1";

/// The news query for a backend: its current position (read once: on PostgreSQL it looks at
/// live transaction states) and its string aggregate.
fn news_sql(dialect: Dialect) -> &'static str {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let (cell, current, aggregate, materialized) = match dialect {
        Dialect::Sqlite => (&SQLITE, current_sqlite!(), "group_concat", ""),
        Dialect::Postgres => (&POSTGRES, current_postgres!(), "string_agg", "MATERIALIZED"),
    };
    cell.get_or_init(|| {
        NEWS.replace("$MATERIALIZED", materialized)
            .replace("$CURRENT", current)
            .replace("$AGG(", &format!("{aggregate}("))
            .replace("$4", "(SELECT position FROM cur)")
    })
}

#[async_trait]
impl StreamRepository for Db {
    async fn current(&self) -> StorageResult<i64> {
        let sql = match self.dialect {
            Dialect::Sqlite => concat!("SELECT ", current_sqlite!()),
            Dialect::Postgres => concat!("SELECT ", current_postgres!()),
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    async fn news(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: i64,
    ) -> StorageResult<StreamNews> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(news_sql(self.dialect)))
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Err(StorageError::Corrupt(
                "the news query returned no row".into(),
            ));
        };
        let listed = |column: &str| -> StorageResult<Vec<String>> {
            Ok(first
                .try_get::<Option<String>, _>(column)?
                .map(|list| list.split(',').map(ToOwned::to_owned).collect())
                .unwrap_or_default())
        };
        let mut one_time = BTreeMap::new();
        for entry in listed("one_time_keys")? {
            if let Some((algorithm, count)) = entry.rsplit_once(':') {
                let count = count
                    .parse()
                    .map_err(|e| corrupt("one-time key count", e))?;
                one_time.insert(algorithm.to_owned(), count);
            }
        }
        let mut fallback = listed("fallback_keys")?;
        fallback.sort();
        let mut news = StreamNews {
            position: first.try_get("position")?,
            keys: (one_time, fallback),
            rooms: Vec::new(),
            to_device: flag(first, "to_device")?,
            account_data: flag(first, "account_data")?,
            memberships: flag(first, "memberships")?,
            room_memberships: flag(first, "room_memberships")?,
            device_lists: flag(first, "device_lists")?,
            presence: flag(first, "presence")?,
        };
        for row in &rows {
            let Some(room_id) = row.try_get::<Option<String>, _>("room_id")? else {
                continue;
            };
            news.rooms.push(RoomWithNews {
                room_id: OwnedRoomId::try_from(room_id)
                    .map_err(|e| corrupt("room_memberships", e))?,
                receipts: flag(row, "receipts")?,
                relations: flag(row, "relations")?,
            });
        }
        Ok(news)
    }

    /// A position for something kept in memory (typing): nothing is written at it, so it is
    /// never in flight.
    async fn allocate(&self) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let position = sqlx::query_scalar(
            "UPDATE stream_position SET position = position + 1 RETURNING position",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn clear_abandoned(&self) -> StorageResult<u64> {
        if self.dialect == Dialect::Sqlite {
            return Ok(0);
        }
        let result = self.write(sqlx::query(
            "DELETE FROM stream_in_flight
             WHERE COALESCE(pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)), 'aborted') = 'aborted'",
        ))
        .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ruma::{device_id, owned_event_id, room_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{MembershipChange, StreamNews, ToDeviceDelivery};

    /// Each kind of news is seen by the user it concerns after it happened, and by nobody
    /// else or in a later window; the window ends at the current position.
    #[tokio::test]
    async fn news_names_what_moved_after_the_token() {
        let (_dir, storage) = open_temporary().await;
        let (alice, bob) = (user_id!("@alice:x"), user_id!("@bob:x"));
        let device = device_id!("PHONE");
        let news = |user, after| {
            let streams = storage.streams.clone();
            async move { streams.news(user, device, after).await.expect("news") }
        };
        let start = storage.streams.current().await.expect("current");
        assert_eq!(
            news(alice, start).await,
            StreamNews {
                position: start,
                ..StreamNews::default()
            }
        );

        let data = storage
            .account_data
            .set(alice, None, "m.test", "{}", 0)
            .await
            .expect("account data");
        let invite = MembershipChange {
            user_id: alice.to_owned(),
            membership: "invite".into(),
            event_id: owned_event_id!("$invite"),
            display_name: None,
        };
        let membership = storage
            .memberships
            .record_outside_room(&invite, room_id!("!r:y"), "[]")
            .await
            .expect("membership");
        let keys = storage
            .keys
            .record_device_list_change(bob)
            .await
            .expect("device list");
        let presence = storage
            .presence
            .set(bob, "online", None, 0)
            .await
            .expect("presence");
        let delivery = ToDeviceDelivery {
            user_id: alice.to_owned(),
            device_id: device.to_owned(),
            content_json: "{}".into(),
        };
        storage
            .to_device
            .send(bob, device_id!("B"), "t1", "m.test", &[delivery])
            .await
            .expect("to-device");
        let one_time = [(
            "signed_curve25519".to_owned(),
            "K".to_owned(),
            r#"{"key":"k"}"#.to_owned(),
        )];
        storage
            .keys
            .add_one_time_keys(alice, device, &one_time)
            .await
            .expect("one-time key");
        let fallback = [(
            "signed_curve25519".to_owned(),
            "F".to_owned(),
            "{}".to_owned(),
        )];
        storage
            .keys
            .set_fallback_keys(alice, device, &fallback)
            .await
            .expect("fallback key");
        let last = storage.streams.current().await.expect("current");

        let everything = news(alice, start).await;
        assert_eq!(everything.position, last);
        assert_eq!(
            everything.keys,
            (
                BTreeMap::from([("signed_curve25519".to_owned(), 1)]),
                vec!["signed_curve25519".to_owned()]
            )
        );
        let flags = StreamNews {
            position: last,
            keys: everything.keys.clone(),
            ..StreamNews::ALL
        };
        assert_eq!(everything, flags);
        // Bob has no to-device messages, account data, membership or keys of his own.
        let bobs = news(bob, start).await;
        assert!(!bobs.to_device && !bobs.account_data && !bobs.memberships);
        assert!(bobs.keys.0.is_empty() && bobs.keys.1.is_empty());
        assert!(bobs.room_memberships && bobs.device_lists && bobs.presence);
        // Each flag turns off once the token is past what set it.
        assert!(!news(alice, data).await.account_data);
        assert!(news(alice, data - 1).await.account_data);
        assert!(!news(alice, membership).await.memberships);
        assert!(!news(alice, membership).await.room_memberships);
        assert!(news(alice, membership - 1).await.room_memberships);
        assert!(!news(alice, keys).await.device_lists);
        assert!(news(alice, keys - 1).await.device_lists);
        assert!(!news(alice, presence).await.presence);
        // Waiting messages count until acknowledged, whatever the window.
        assert!(news(alice, last).await.to_device);
    }
}
