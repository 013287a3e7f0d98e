use async_trait::async_trait;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, to_db};
use crate::{AliasRepository, StorageResult};

#[async_trait]
impl AliasRepository for Db {
    async fn create(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
        now: u64,
    ) -> StorageResult<bool> {
        let result = self.write(sqlx::query(
            "INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)
             ON CONFLICT (alias) DO NOTHING",
        )
        .bind(alias.as_str())
        .bind(room_id.as_str())
        .bind(creator.as_str())
        .bind(to_db(now)))
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn resolve(
        &self,
        alias: &RoomAliasId,
    ) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>> {
        let row = sqlx::query("SELECT room_id, creator FROM room_aliases WHERE alias = $1")
            .bind(alias.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let room = OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                .map_err(|e| corrupt("alias room", e))?;
            let creator = OwnedUserId::try_from(row.try_get::<String, _>("creator")?)
                .map_err(|e| corrupt("alias creator", e))?;
            Ok((room, creator))
        })
        .transpose()
    }

    async fn delete(&self, alias: &RoomAliasId) -> StorageResult<bool> {
        let result = self
            .write(sqlx::query("DELETE FROM room_aliases WHERE alias = $1").bind(alias.as_str()))
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<OwnedRoomAliasId>> {
        let aliases: Vec<String> =
            sqlx::query_scalar("SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias")
                .bind(room_id.as_str())
                .fetch_all(&self.pool)
                .await?;
        aliases
            .into_iter()
            .map(|a| OwnedRoomAliasId::try_from(a).map_err(|e| corrupt("room_aliases.alias", e)))
            .collect()
    }

    async fn move_room(&self, from: &RoomId, to: &RoomId) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE room_aliases SET room_id = $1 WHERE room_id = $2")
                .bind(to.as_str())
                .bind(from.as_str()),
        )
        .await?;
        Ok(())
    }
}
