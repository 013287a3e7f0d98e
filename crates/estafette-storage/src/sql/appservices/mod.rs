//! Application services' delivery state. A process claims a service (a timestamp, taken over
//! when a minute old) before sending, so that one transaction is in flight per service.

use async_trait::async_trait;
use sqlx::Row;

use crate::sql::{Db, from_db, to_db};
use crate::{
    AppserviceRepository, AppserviceState, StorageError, StorageResult, StoredTransaction,
};

#[async_trait]
impl AppserviceRepository for Db {
    async fn state(&self, appservice_id: &str, start: i64) -> StorageResult<AppserviceState> {
        // Read on every delivery pass; written only the first time a service is seen.
        let select = || {
            sqlx::query(
                "SELECT stream_position, last_txn_id, down_since, backoff_ms, retry_ts
                 FROM appservice_states WHERE appservice_id = $1",
            )
            .bind(appservice_id)
        };
        let row = match select().fetch_optional(&self.pool).await? {
            Some(row) => row,
            None => {
                self.write(
                    sqlx::query(
                        "INSERT INTO appservice_states (appservice_id, stream_position,
                           last_txn_id, backoff_ms, retry_ts) VALUES ($1, $2, 0, 0, 0)
                         ON CONFLICT (appservice_id) DO NOTHING",
                    )
                    .bind(appservice_id)
                    .bind(start),
                )
                .await?;
                select().fetch_one(&self.pool).await?
            }
        };
        Ok(AppserviceState {
            stream_position: row.try_get("stream_position")?,
            last_txn_id: row.try_get("last_txn_id")?,
            down_since: row.try_get::<Option<i64>, _>("down_since")?.map(from_db),
            backoff_ms: from_db(row.try_get("backoff_ms")?),
            retry_ts: from_db(row.try_get("retry_ts")?),
        })
    }

    async fn claim(&self, appservice_id: &str, now: u64, stale_before: u64) -> StorageResult<bool> {
        let claimed = self
            .write(
                sqlx::query(
                    "UPDATE appservice_states SET claimed_ts = $2
                     WHERE appservice_id = $1 AND (claimed_ts IS NULL OR claimed_ts < $3)",
                )
                .bind(appservice_id)
                .bind(to_db(now))
                .bind(to_db(stale_before)),
            )
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn oldest_transaction(
        &self,
        appservice_id: &str,
    ) -> StorageResult<Option<StoredTransaction>> {
        let row = sqlx::query(
            "SELECT txn_id, body FROM appservice_transactions WHERE appservice_id = $1
             ORDER BY txn_id LIMIT 1",
        )
        .bind(appservice_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredTransaction {
                txn_id: row.try_get("txn_id")?,
                body: row.try_get("body")?,
            })
        })
        .transpose()
    }

    async fn store_transaction(
        &self,
        appservice_id: &str,
        position: i64,
        body: &str,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let txn_id: Option<i64> = sqlx::query_scalar(
            "UPDATE appservice_states SET last_txn_id = last_txn_id + 1, stream_position = $2
             WHERE appservice_id = $1 RETURNING last_txn_id",
        )
        .bind(appservice_id)
        .bind(position)
        .fetch_optional(&mut *tx)
        .await?;
        let txn_id = txn_id.ok_or_else(|| {
            StorageError::Corrupt(format!("no delivery state for appservice {appservice_id}"))
        })?;
        sqlx::query(
            "INSERT INTO appservice_transactions (appservice_id, txn_id, body) VALUES ($1, $2, $3)",
        )
        .bind(appservice_id)
        .bind(txn_id)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(txn_id)
    }

    async fn advance(&self, appservice_id: &str, position: i64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE appservice_states SET stream_position = $2
                 WHERE appservice_id = $1 AND stream_position < $2",
            )
            .bind(appservice_id)
            .bind(position),
        )
        .await?;
        Ok(())
    }

    async fn sent(&self, appservice_id: &str, txn_id: i64) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM appservice_transactions WHERE appservice_id = $1 AND txn_id = $2")
            .bind(appservice_id)
            .bind(txn_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE appservice_states SET down_since = NULL, backoff_ms = 0, retry_ts = 0
             WHERE appservice_id = $1",
        )
        .bind(appservice_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn failed(
        &self,
        appservice_id: &str,
        down_since: u64,
        backoff_ms: u64,
        retry_ts: u64,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE appservice_states SET down_since = $2, backoff_ms = $3, retry_ts = $4,
                   claimed_ts = NULL
                 WHERE appservice_id = $1",
            )
            .bind(appservice_id)
            .bind(to_db(down_since))
            .bind(to_db(backoff_ms))
            .bind(to_db(retry_ts)),
        )
        .await?;
        Ok(())
    }

    async fn retry_now(&self, appservice_id: &str) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE appservice_states SET retry_ts = 0, backoff_ms = 0 WHERE appservice_id = $1",
            )
            .bind(appservice_id),
        )
        .await?;
        Ok(())
    }

    async fn release(&self, appservice_id: &str) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE appservice_states SET claimed_ts = NULL WHERE appservice_id = $1")
                .bind(appservice_id),
        )
        .await?;
        Ok(())
    }

    async fn release_all(&self) -> StorageResult<()> {
        self.write(sqlx::query(
            "UPDATE appservice_states SET claimed_ts = NULL WHERE claimed_ts IS NOT NULL",
        ))
        .await?;
        Ok(())
    }
}
