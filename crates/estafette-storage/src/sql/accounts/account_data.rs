use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, to_db};
use crate::{AccountDataEntry, AccountDataRepository, StorageResult};

fn room_key(room_id: Option<&RoomId>) -> &str {
    room_id.map(RoomId::as_str).unwrap_or("")
}

#[async_trait]
impl AccountDataRepository for Db {
    async fn set(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content_json: &str,
        now: u64,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let stream_id = self.next_stream_id(&mut tx).await?;
        sqlx::query(
            "INSERT INTO account_data (user_id, room_id, data_type, content_json, updated_ts, stream_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id, room_id, data_type)
             DO UPDATE SET content_json = excluded.content_json, updated_ts = excluded.updated_ts,
               stream_id = excluded.stream_id",
        )
        .bind(user_id.as_str())
        .bind(room_key(room_id))
        .bind(data_type)
        .bind(content_json)
        .bind(to_db(now))
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stream_id)
    }

    async fn changed_since(
        &self,
        user_id: &UserId,
        since: i64,
    ) -> StorageResult<Vec<AccountDataEntry>> {
        let rows = sqlx::query(
            "SELECT room_id, data_type, content_json FROM account_data
             WHERE user_id = $1 AND stream_id > $2 ORDER BY stream_id",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let room: String = row.try_get("room_id")?;
                let room_id = if room.is_empty() {
                    None
                } else {
                    Some(
                        OwnedRoomId::try_from(room)
                            .map_err(|e| corrupt("account_data.room_id", e))?,
                    )
                };
                Ok(AccountDataEntry {
                    room_id,
                    data_type: row.try_get("data_type")?,
                    content_json: row.try_get("content_json")?,
                })
            })
            .collect()
    }

    async fn get(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT content_json FROM account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
        )
        .bind(user_id.as_str())
        .bind(room_key(room_id))
        .bind(data_type)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn global_of_joined_members(
        &self,
        room_id: &RoomId,
        data_type: &str,
    ) -> StorageResult<Vec<(OwnedUserId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.user_id, a.content_json FROM room_memberships m
             JOIN account_data a ON a.user_id = m.user_id AND a.room_id = '' AND a.data_type = $2
             WHERE m.room_id = $1 AND m.membership = 'join'",
        )
        .bind(room_id.as_str())
        .bind(data_type)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(user_id, content)| {
                let user_id = OwnedUserId::try_from(user_id)
                    .map_err(|e| corrupt("account_data.user_id", e))?;
                Ok((user_id, content))
            })
            .collect()
    }

    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM account_data WHERE user_id = $1").bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{room_id, user_id};

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn global_and_room_data_are_separate() {
        let (_dir, storage) = open_temporary().await;
        let alice = user_id!("@alice:example.org");
        let room = room_id!("!room:example.org");
        storage
            .account_data
            .set(alice, None, "m.x", r#"{"a":1}"#, 1)
            .await
            .unwrap();
        storage
            .account_data
            .set(alice, Some(room), "m.x", r#"{"a":2}"#, 1)
            .await
            .unwrap();
        let last = storage
            .account_data
            .set(alice, None, "m.x", r#"{"a":3}"#, 2)
            .await
            .unwrap();
        assert_eq!(
            storage
                .account_data
                .get(alice, None, "m.x")
                .await
                .unwrap()
                .as_deref(),
            Some(r#"{"a":3}"#)
        );
        assert_eq!(
            storage
                .account_data
                .get(alice, Some(room), "m.x")
                .await
                .unwrap()
                .as_deref(),
            Some(r#"{"a":2}"#)
        );
        let all = storage.account_data.changed_since(alice, 0).await.unwrap();
        assert_eq!(all.len(), 2, "one global and one room entry");
        let latest = storage
            .account_data
            .changed_since(alice, last - 1)
            .await
            .unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].room_id, None);
        assert!(
            storage
                .account_data
                .changed_since(alice, last)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
