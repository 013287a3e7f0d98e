use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, flag, from_db, to_db};
use crate::{BackupKey, BackupRepository, BackupVersion, StorageResult};

fn decode_key(row: &AnyRow) -> StorageResult<BackupKey> {
    Ok(BackupKey {
        room_id: row.try_get("room_id")?,
        session_id: row.try_get("session_id")?,
        first_message_index: from_db(row.try_get("first_message_index")?),
        forwarded_count: from_db(row.try_get("forwarded_count")?),
        is_verified: flag(row, "is_verified")?,
        session_data_json: row.try_get("session_data_json")?,
    })
}

#[async_trait]
impl BackupRepository for Db {
    async fn create_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data_json: &str,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        // The next version number is read, then taken.
        self.lock(&mut tx, &format!("backup_versions {user_id}"))
            .await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM backup_versions WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO backup_versions (user_id, version, algorithm, auth_data_json) VALUES ($1, $2, $3, $4)")
            .bind(user_id.as_str())
            .bind(next)
            .bind(algorithm)
            .bind(auth_data_json)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn version(
        &self,
        user_id: &UserId,
        version: Option<i64>,
    ) -> StorageResult<Option<BackupVersion>> {
        let row = sqlx::query(
            "SELECT v.version, v.algorithm, v.auth_data_json, v.etag,
               (SELECT COUNT(*) FROM backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version) AS count
             FROM backup_versions v
             WHERE v.user_id = $1 AND v.deleted = 0 AND ($2 IS NULL OR v.version = $2)
             ORDER BY v.version DESC LIMIT 1",
        )
        .bind(user_id.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(BackupVersion {
                version: row.try_get("version")?,
                algorithm: row.try_get("algorithm")?,
                auth_data_json: row.try_get("auth_data_json")?,
                etag: row.try_get("etag")?,
                count: from_db(row.try_get("count")?),
            })
        })
        .transpose()
    }

    async fn update_version(
        &self,
        user_id: &UserId,
        version: i64,
        auth_data_json: &str,
    ) -> StorageResult<()> {
        self.write(sqlx::query("UPDATE backup_versions SET auth_data_json = $1 WHERE user_id = $2 AND version = $3 AND deleted = 0")
            .bind(auth_data_json)
            .bind(user_id.as_str())
            .bind(version))
            .await?;
        Ok(())
    }

    async fn delete_version(&self, user_id: &UserId, version: i64) -> StorageResult<bool> {
        let mut tx = self.write_transaction().await?;
        let result = sqlx::query("UPDATE backup_versions SET deleted = 1 WHERE user_id = $1 AND version = $2 AND deleted = 0")
            .bind(user_id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM backup_keys WHERE user_id = $1 AND version = $2")
            .bind(user_id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }

    async fn session(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: &str,
        session_id: &str,
    ) -> StorageResult<Option<BackupKey>> {
        sqlx::query("SELECT * FROM backup_keys WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4")
            .bind(user_id.as_str())
            .bind(version)
            .bind(room_id)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode_key)
            .transpose()
    }

    async fn put_sessions(
        &self,
        user_id: &UserId,
        version: i64,
        keys: &[BackupKey],
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO backup_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count,
                   is_verified, session_data_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
                   first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
                   is_verified = excluded.is_verified, session_data_json = excluded.session_data_json",
            )
            .bind(user_id.as_str())
            .bind(version)
            .bind(&key.room_id)
            .bind(&key.session_id)
            .bind(to_db(key.first_message_index))
            .bind(to_db(key.forwarded_count))
            .bind(i64::from(key.is_verified))
            .bind(&key.session_data_json)
            .execute(&mut *tx)
            .await?;
        }
        if !keys.is_empty() {
            sqlx::query(
                "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
            )
            .bind(user_id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn sessions(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StorageResult<Vec<BackupKey>> {
        sqlx::query(
            "SELECT * FROM backup_keys WHERE user_id = $1 AND version = $2
               AND ($3 IS NULL OR room_id = $3) AND ($4 IS NULL OR session_id = $4)
             ORDER BY room_id, session_id",
        )
        .bind(user_id.as_str())
        .bind(version)
        .bind(room_id)
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode_key)
        .collect()
    }

    async fn delete_sessions(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        let result = sqlx::query(
            "DELETE FROM backup_keys WHERE user_id = $1 AND version = $2
               AND ($3 IS NULL OR room_id = $3) AND ($4 IS NULL OR session_id = $4)",
        )
        .bind(user_id.as_str())
        .bind(version)
        .bind(room_id)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() > 0 {
            sqlx::query(
                "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
            )
            .bind(user_id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
