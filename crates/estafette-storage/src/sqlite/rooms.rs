use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use super::{Db, corrupt, to_db};
use crate::{RoomRecord, RoomRepository, StorageResult};

#[async_trait]
impl RoomRepository for Db {
    async fn create(
        &self,
        room_id: &RoomId,
        room_version: &str,
        creator: &UserId,
        is_public: bool,
        now: u64,
    ) -> StorageResult<bool> {
        let result = sqlx::query(
            "INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room_id.as_str())
        .bind(room_version)
        .bind(creator.as_str())
        .bind(is_public)
        .bind(to_db(now))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn get(&self, room_id: &RoomId) -> StorageResult<Option<RoomRecord>> {
        let row = sqlx::query(
            "SELECT room_id, room_version, creator, is_public, current_state_group FROM rooms WHERE room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RoomRecord {
                room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                    .map_err(|e| corrupt("rooms.room_id", e))?,
                room_version: row.try_get("room_version")?,
                creator: OwnedUserId::try_from(row.try_get::<String, _>("creator")?)
                    .map_err(|e| corrupt("rooms.creator", e))?,
                is_public: row.try_get("is_public")?,
                current_state_group: row.try_get("current_state_group")?,
            })
        })
        .transpose()
    }

    async fn set_public(&self, room_id: &RoomId, is_public: bool) -> StorageResult<()> {
        sqlx::query("UPDATE rooms SET is_public = $1 WHERE room_id = $2")
            .bind(is_public)
            .bind(room_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>> {
        let rooms: Vec<String> =
            sqlx::query_scalar("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")
                .fetch_all(&self.pool)
                .await?;
        rooms
            .into_iter()
            .map(|r| OwnedRoomId::try_from(r).map_err(|e| corrupt("rooms.room_id", e)))
            .collect()
    }
}
