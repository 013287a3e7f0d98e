use async_trait::async_trait;
use ruma::{RoomId, UserId};
use sqlx::Row;

use super::{Db, to_db};
use crate::{AccountDataRepository, StorageResult};

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
    ) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO account_data (user_id, room_id, data_type, content_json, updated_ts)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, room_id, data_type)
             DO UPDATE SET content_json = excluded.content_json, updated_ts = excluded.updated_ts",
        )
        .bind(user_id.as_str())
        .bind(room_key(room_id))
        .bind(data_type)
        .bind(content_json)
        .bind(to_db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
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

    async fn list_global(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT data_type, content_json FROM account_data WHERE user_id = $1 AND room_id = '' ORDER BY data_type",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("data_type")?, row.try_get("content_json")?)))
            .collect()
    }

    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()> {
        sqlx::query("DELETE FROM account_data WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{room_id, user_id};

    use crate::sqlite::open_temporary;

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
        storage
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
        assert_eq!(
            storage.account_data.list_global(alice).await.unwrap().len(),
            1
        );
    }
}
