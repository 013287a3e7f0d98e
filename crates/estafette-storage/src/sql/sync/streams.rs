use async_trait::async_trait;

use ruma::{DeviceId, UserId};

use crate::sql::{Db, Dialect, flag};
use crate::{StorageResult, StreamNews, StreamRepository};

/// The position up to which every write has committed: below the smallest position still in
/// flight, or the last one taken when none is. One statement, so one snapshot: a position's
/// allocation and its in-flight record commit together (`Db::next_stream_id`). A record whose
/// transaction rolled back or died does not count; "committed" counts, for a record read just
/// before its transaction's commit removed it.
const CURRENT_POSTGRES: &str = "SELECT COALESCE(
    (SELECT MIN(position) - 1 FROM stream_in_flight
     WHERE pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)) IN ('in progress', 'committed')),
    (SELECT position FROM stream_position))";

#[async_trait]
impl StreamRepository for Db {
    async fn current(&self) -> StorageResult<i64> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT position FROM stream_position",
            Dialect::Postgres => CURRENT_POSTGRES,
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    async fn news(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: i64,
        until: i64,
    ) -> StorageResult<StreamNews> {
        let row = sqlx::query(
            "SELECT
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
               CASE WHEN EXISTS (SELECT 1 FROM presence WHERE stream_id > $3) THEN 1 ELSE 0 END AS presence",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(after)
        .bind(until)
        .fetch_one(&self.pool)
        .await?;
        Ok(StreamNews {
            to_device: flag(&row, "to_device")?,
            account_data: flag(&row, "account_data")?,
            memberships: flag(&row, "memberships")?,
            room_memberships: flag(&row, "room_memberships")?,
            device_lists: flag(&row, "device_lists")?,
            presence: flag(&row, "presence")?,
        })
    }

    /// A position for something kept in memory (typing): nothing is written at it, so it is
    /// never in flight.
    async fn allocate(&self) -> StorageResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE stream_position SET position = position + 1 RETURNING position",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn clear_abandoned(&self) -> StorageResult<u64> {
        if self.dialect == Dialect::Sqlite {
            return Ok(0);
        }
        let result = sqlx::query(
            "DELETE FROM stream_in_flight
             WHERE COALESCE(pg_xact_status(CAST(CAST(xid AS TEXT) AS xid8)), 'aborted') = 'aborted'",
        )
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{device_id, owned_event_id, room_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{MembershipChange, StreamNews, ToDeviceDelivery};

    /// Each kind of news is seen by the user it concerns, inside its window, and by nobody
    /// else or outside it.
    #[tokio::test]
    async fn news_names_what_moved_in_the_window() {
        let (_dir, storage) = open_temporary().await;
        let (alice, bob) = (user_id!("@alice:x"), user_id!("@bob:x"));
        let device = device_id!("PHONE");
        let news = |user, after, until| {
            let streams = storage.streams.clone();
            async move {
                streams
                    .news(user, device, after, until)
                    .await
                    .expect("news")
            }
        };
        assert_eq!(news(alice, 0, 100).await, StreamNews::default());

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
        let last = storage.streams.current().await.expect("current");

        let everything = news(alice, 0, last).await;
        assert_eq!(everything, StreamNews::ALL);
        // Bob has no to-device messages, account data or membership of his own.
        let bobs = news(bob, 0, last).await;
        assert!(!bobs.to_device && !bobs.account_data && !bobs.memberships);
        assert!(bobs.room_memberships && bobs.device_lists && bobs.presence);
        // Each window holds only what moved in it.
        assert!(!news(alice, data, last).await.account_data);
        assert!(news(alice, data - 1, data).await.account_data);
        assert!(!news(alice, 0, membership - 1).await.room_memberships);
        assert!(!news(alice, membership, last).await.memberships);
        assert!(!news(alice, 0, keys - 1).await.device_lists);
        assert!(news(alice, keys - 1, keys).await.device_lists);
        assert!(!news(alice, presence, last).await.presence);
        // Waiting messages count until acknowledged, whatever the window.
        assert!(news(alice, last, last).await.to_device);
    }
}
