use async_trait::async_trait;
use ruma::OwnedUserId;
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{StorageResult, UiaSessionRecord, UiaSessionRepository};

#[async_trait]
impl UiaSessionRepository for Db {
    async fn create(&self, session: &UiaSessionRecord) -> StorageResult<()> {
        let completed =
            serde_json::to_string(&session.completed).map_err(|e| corrupt("uia completed", e))?;
        self.write(sqlx::query(
            "INSERT INTO uia_sessions (session_id, action, user_id, completed_json, created_ts) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.session_id)
        .bind(&session.action)
        .bind(session.user_id.as_ref().map(|u| u.as_str()))
        .bind(completed)
        .bind(to_db(session.created_ts)))
        .await?;
        Ok(())
    }

    async fn get(&self, session_id: &str) -> StorageResult<Option<UiaSessionRecord>> {
        let row = sqlx::query(
            "SELECT session_id, action, user_id, completed_json, created_ts FROM uia_sessions WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let user_id: Option<String> = row.try_get("user_id")?;
            let completed: String = row.try_get("completed_json")?;
            Ok(UiaSessionRecord {
                session_id: row.try_get("session_id")?,
                action: row.try_get("action")?,
                user_id: user_id
                    .map(OwnedUserId::try_from)
                    .transpose()
                    .map_err(|e| corrupt("uia_sessions.user_id", e))?,
                completed: serde_json::from_str(&completed)
                    .map_err(|e| corrupt("uia_sessions.completed", e))?,
                created_ts: from_db(row.try_get("created_ts")?),
            })
        })
        .transpose()
    }

    async fn add_completed(&self, session_id: &str, stage: &str) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        // Stages completed together are all kept.
        self.lock(&mut tx, &format!("uia_session {session_id}"))
            .await?;
        let completed: Option<String> =
            sqlx::query_scalar("SELECT completed_json FROM uia_sessions WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(completed) = completed {
            let mut stages: Vec<String> = serde_json::from_str(&completed)
                .map_err(|e| corrupt("uia_sessions.completed", e))?;
            if !stages.iter().any(|s| s == stage) {
                stages.push(stage.to_owned());
            }
            let text = serde_json::to_string(&stages).map_err(|e| corrupt("uia completed", e))?;
            sqlx::query("UPDATE uia_sessions SET completed_json = $1 WHERE session_id = $2")
                .bind(text)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> StorageResult<()> {
        self.write(sqlx::query("DELETE FROM uia_sessions WHERE session_id = $1").bind(session_id))
            .await?;
        Ok(())
    }

    async fn delete_created_before(&self, ts: u64) -> StorageResult<u64> {
        let result = self
            .write(sqlx::query("DELETE FROM uia_sessions WHERE created_ts < $1").bind(to_db(ts)))
            .await?;
        Ok(result.rows_affected())
    }
}
