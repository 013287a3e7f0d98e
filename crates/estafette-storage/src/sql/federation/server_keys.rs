use async_trait::async_trait;
use ruma::ServerName;

use crate::sql::{Db, from_db, to_db};
use crate::{ServerKeyRepository, StorageResult};

#[async_trait]
impl ServerKeyRepository for Db {
    async fn get(
        &self,
        server_name: &ServerName,
        key_id: &str,
        now: u64,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key_base64 FROM server_signing_keys WHERE server_name = $1 AND key_id = $2 AND valid_until_ts > $3",
        )
        .bind(server_name.as_str())
        .bind(key_id)
        .bind(to_db(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put(
        &self,
        server_name: &ServerName,
        keys: &[(String, String)],
        valid_until_ts: u64,
        document: &str,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO server_key_documents (server_name, document, valid_until_ts) VALUES ($1, $2, $3)
             ON CONFLICT (server_name) DO UPDATE SET document = excluded.document,
               valid_until_ts = excluded.valid_until_ts",
        )
        .bind(server_name.as_str())
        .bind(document)
        .bind(to_db(valid_until_ts))
        .execute(&mut *tx)
        .await?;
        for (key_id, key) in keys {
            sqlx::query(
                "INSERT INTO server_signing_keys (server_name, key_id, key_base64, valid_until_ts) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (server_name, key_id) DO UPDATE SET key_base64 = excluded.key_base64,
                   valid_until_ts = excluded.valid_until_ts",
            )
            .bind(server_name.as_str())
            .bind(key_id)
            .bind(key)
            .bind(to_db(valid_until_ts))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn document(&self, server_name: &ServerName) -> StorageResult<Option<(String, u64)>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT document, valid_until_ts FROM server_key_documents WHERE server_name = $1",
        )
        .bind(server_name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(document, valid_until)| (document, from_db(valid_until))))
    }

    async fn own_key(&self) -> StorageResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT key_text FROM local_signing_key WHERE id = 0")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn offer_own_key(&self, candidate: &str) -> StorageResult<String> {
        self.write(sqlx::query(
            "INSERT INTO local_signing_key (id, key_text) VALUES (0, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(candidate))
        .await?;
        Ok(
            sqlx::query_scalar("SELECT key_text FROM local_signing_key WHERE id = 0")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
