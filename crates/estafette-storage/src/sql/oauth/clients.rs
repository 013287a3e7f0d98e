use async_trait::async_trait;
use sqlx::Row;

use crate::sql::{Db, to_db};
use crate::{OAuthClientRecord, OAuthClientRepository, StorageResult};

#[async_trait]
impl OAuthClientRepository for Db {
    async fn register(&self, client_id: &str, metadata_json: &str, now: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO oauth_clients (client_id, metadata_json, created_ts) VALUES ($1, $2, $3)",
            )
            .bind(client_id)
            .bind(metadata_json)
            .bind(to_db(now)),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, client_id: &str) -> StorageResult<Option<OAuthClientRecord>> {
        let row =
            sqlx::query("SELECT client_id, metadata_json FROM oauth_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(OAuthClientRecord {
                client_id: row.try_get("client_id")?,
                metadata_json: row.try_get("metadata_json")?,
            })
        })
        .transpose()
    }
}
