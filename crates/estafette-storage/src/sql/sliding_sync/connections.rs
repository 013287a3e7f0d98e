use async_trait::async_trait;
use ruma::{DeviceId, OwnedRoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, Tx, corrupt};
use crate::{ConnectionKey, SentRoom, SlidingSyncConnectionRepository, StorageResult};

const WHERE_CONNECTION: &str = "user_id = $1 AND device_id = $2 AND conn_id = $3";

fn keyed<'q>(
    sql: String,
    connection: ConnectionKey<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(connection.user_id.as_str())
        .bind(connection.device_id.as_str())
        .bind(connection.conn_id)
}

async fn delete_after(tx: &mut Tx, connection: ConnectionKey<'_>, pos: i64) -> StorageResult<()> {
    for table in ["sliding_sync_positions", "sliding_sync_rooms"] {
        keyed(
            format!("DELETE FROM {table} WHERE {WHERE_CONNECTION} AND pos > $4"),
            connection,
        )
        .bind(pos)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl SlidingSyncConnectionRepository for Db {
    async fn reset(&self, connection: ConnectionKey<'_>) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        delete_after(&mut tx, connection, i64::MIN).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resume(&self, connection: ConnectionKey<'_>, pos: i64) -> StorageResult<Option<i64>> {
        let positions: Vec<(i64, i64)> = keyed(
            format!("SELECT pos, stream FROM sliding_sync_positions WHERE {WHERE_CONNECTION}"),
            connection,
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("pos")?, row.try_get("stream")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        let Some(&(_, stream)) = positions.iter().find(|(kept, _)| *kept == pos) else {
            return Ok(None);
        };
        if positions.iter().any(|(kept, _)| *kept > pos) {
            let mut tx = self.write_transaction().await?;
            delete_after(&mut tx, connection, pos).await?;
            tx.commit().await?;
        }
        Ok(Some(stream))
    }

    async fn sent_rooms(
        &self,
        connection: ConnectionKey<'_>,
        pos: i64,
    ) -> StorageResult<Vec<SentRoom>> {
        keyed(
            format!(
                "SELECT room_id, stream, state_config FROM sliding_sync_rooms
                 WHERE {WHERE_CONNECTION} AND pos <= $4"
            ),
            connection,
        )
        .bind(pos)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(SentRoom {
                room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                    .map_err(|e| corrupt("sliding_sync_rooms.room_id", e))?,
                stream: row.try_get("stream")?,
                state_config: row.try_get("state_config")?,
            })
        })
        .collect()
    }

    async fn advance(
        &self,
        connection: ConnectionKey<'_>,
        from: Option<i64>,
        stream: i64,
        rooms: &[SentRoom],
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        // Two requests of one connection at once (a retry) serialise here on PostgreSQL.
        let key = format!(
            "sliding_sync {} {} {}",
            connection.user_id, connection.device_id, connection.conn_id
        );
        self.lock(&mut tx, &key).await?;
        let latest: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(pos) FROM sliding_sync_positions WHERE {WHERE_CONNECTION}"
        )))
        .bind(connection.user_id.as_str())
        .bind(connection.device_id.as_str())
        .bind(connection.conn_id)
        .fetch_one(&mut *tx)
        .await?;
        let pos = latest.unwrap_or(0) + 1;
        keyed(
            "INSERT INTO sliding_sync_positions (user_id, device_id, conn_id, pos, stream)
             VALUES ($1, $2, $3, $4, $5)"
                .to_owned(),
            connection,
        )
        .bind(pos)
        .bind(stream)
        .execute(&mut *tx)
        .await?;
        keyed(
            format!("DELETE FROM sliding_sync_positions WHERE {WHERE_CONNECTION} AND pos < $4"),
            connection,
        )
        .bind(from.unwrap_or(pos))
        .execute(&mut *tx)
        .await?;
        for room in rooms {
            keyed(
                "INSERT INTO sliding_sync_rooms
                   (user_id, device_id, conn_id, room_id, pos, stream, state_config)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id, device_id, conn_id, room_id) DO UPDATE SET
                   pos = excluded.pos, stream = excluded.stream,
                   state_config = excluded.state_config"
                    .to_owned(),
                connection,
            )
            .bind(room.room_id.as_str())
            .bind(pos)
            .bind(room.stream)
            .bind(&room.state_config)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(pos)
    }

    async fn forget_device(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for table in ["sliding_sync_positions", "sliding_sync_rooms"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE user_id = $1 AND device_id = $2"
            )))
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{device_id, user_id};

    use super::*;
    use crate::sql::testing::open_temporary;

    fn sent(room: &str, stream: i64) -> SentRoom {
        SentRoom {
            room_id: OwnedRoomId::try_from(room).unwrap(),
            stream,
            state_config: "c".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_connection_resumes_from_its_latest_two_positions_only() {
        let (_dir, storage) = open_temporary().await;
        let repo = &storage.sliding_sync;
        let connection = ConnectionKey {
            user_id: user_id!("@alice:example.org"),
            device_id: device_id!("PHONE"),
            conn_id: "room-list",
        };
        let other = ConnectionKey {
            conn_id: "encryption",
            ..connection
        };
        let first = repo
            .advance(connection, None, 10, &[sent("!a:x", 10)])
            .await
            .unwrap();
        let second = repo
            .advance(connection, Some(first), 12, &[sent("!b:x", 12)])
            .await
            .unwrap();
        let third = repo
            .advance(connection, Some(second), 15, &[sent("!a:x", 15)])
            .await
            .unwrap();
        assert_eq!(repo.resume(connection, first).await.unwrap(), None);
        assert_eq!(repo.resume(other, third).await.unwrap(), None);
        assert_eq!(repo.resume(connection, 99).await.unwrap(), None);
        assert_eq!(repo.resume(connection, third).await.unwrap(), Some(15));
        let mut rooms = repo.sent_rooms(connection, third).await.unwrap();
        rooms.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        assert_eq!(rooms, vec![sent("!a:x", 15), sent("!b:x", 12)]);

        // Resuming from the one before forgets what the latest response sent.
        assert_eq!(repo.resume(connection, second).await.unwrap(), Some(12));
        assert_eq!(
            repo.sent_rooms(connection, second).await.unwrap(),
            vec![sent("!b:x", 12)]
        );
        assert_eq!(repo.resume(connection, third).await.unwrap(), None);

        repo.reset(connection).await.unwrap();
        assert_eq!(repo.resume(connection, second).await.unwrap(), None);
        assert!(repo.sent_rooms(connection, 99).await.unwrap().is_empty());

        let pos = repo.advance(other, None, 3, &[]).await.unwrap();
        repo.forget_device(connection.user_id, connection.device_id)
            .await
            .unwrap();
        assert_eq!(repo.resume(other, pos).await.unwrap(), None);
    }
}
