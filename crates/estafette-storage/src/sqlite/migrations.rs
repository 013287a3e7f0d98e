//! Versioned schema migrations, embedded in the binary and applied in order, each in its own
//! transaction, recording the version reached.

use sqlx::SqlitePool;

use crate::{StorageError, StorageResult};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_accounts.sql")),
    (2, include_str!("../../migrations/sqlite/0002_rooms.sql")),
    (3, include_str!("../../migrations/sqlite/0003_push.sql")),
    (4, include_str!("../../migrations/sqlite/0004_e2e.sql")),
    (
        5,
        include_str!("../../migrations/sqlite/0005_federation.sql"),
    ),
    (6, include_str!("../../migrations/sqlite/0006_openid.sql")),
    (
        7,
        include_str!("../../migrations/sqlite/0007_federation_events.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_key_documents.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_device_list_tracking.sql"),
    ),
    (10, include_str!("../../migrations/sqlite/0010_media.sql")),
    (
        11,
        include_str!("../../migrations/sqlite/0011_transaction_scopes.sql"),
    ),
    (12, include_str!("../../migrations/sqlite/0012_search.sql")),
    (
        13,
        include_str!("../../migrations/sqlite/0013_event_times.sql"),
    ),
];

pub(super) async fn run(pool: &SqlitePool) -> StorageResult<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL)",
    )
    .execute(pool)
    .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    let current = current.unwrap_or(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(|err| StorageError::Migration {
                version: *version,
                reason: err.to_string(),
            })?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn reopening_a_migrated_database_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twice.db");
        drop(super::super::open(&path, 1).await.unwrap());
        super::super::open(&path, 1)
            .await
            .expect("second open must succeed");
    }
}
