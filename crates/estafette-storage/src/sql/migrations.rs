//! Versioned schema migrations, embedded in the binary and applied in order, each in its own
//! transaction, recording the version reached.

use sqlx::AnyPool;

use super::Dialect;

use crate::{StorageError, StorageResult};

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
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
    (
        14,
        include_str!("../../migrations/sqlite/0014_stream_position.sql"),
    ),
    (15, include_str!("../../migrations/sqlite/0015_cluster.sql")),
    (
        16,
        include_str!("../../migrations/sqlite/0016_expiry_indexes.sql"),
    ),
    (
        17,
        include_str!("../../migrations/sqlite/0017_membership_stream.sql"),
    ),
    (
        18,
        include_str!("../../migrations/sqlite/0018_push_counts.sql"),
    ),
    (
        19,
        include_str!("../../migrations/sqlite/0019_antivirus.sql"),
    ),
    (
        20,
        include_str!("../../migrations/sqlite/0020_media_retention.sql"),
    ),
    (
        21,
        include_str!("../../migrations/sqlite/0021_threepids.sql"),
    ),
    (
        22,
        include_str!("../../migrations/sqlite/0022_threepid_validations.sql"),
    ),
    (
        23,
        include_str!("../../migrations/sqlite/0023_account_validity.sql"),
    ),
    (
        24,
        include_str!("../../migrations/sqlite/0024_identity.sql"),
    ),
    (
        25,
        include_str!("../../migrations/sqlite/0025_email_invitations.sql"),
    ),
    (
        26,
        include_str!("../../migrations/sqlite/0026_rejected_events.sql"),
    ),
    (
        27,
        include_str!("../../migrations/sqlite/0027_sliding_sync.sql"),
    ),
    (28, include_str!("../../migrations/sqlite/0028_oauth.sql")),
    (
        29,
        include_str!("../../migrations/sqlite/0029_login_tokens.sql"),
    ),
    (30, include_str!("../../migrations/sqlite/0030_reports.sql")),
    (
        31,
        include_str!("../../migrations/sqlite/0031_device_grants.sql"),
    ),
    (
        32,
        include_str!("../../migrations/sqlite/0032_rendezvous.sql"),
    ),
    (
        33,
        include_str!("../../migrations/sqlite/0033_delayed_events.sql"),
    ),
    (
        34,
        include_str!("../../migrations/sqlite/0034_account_sessions.sql"),
    ),
    (
        35,
        include_str!("../../migrations/sqlite/0035_thread_subscriptions.sql"),
    ),
    (
        36,
        include_str!("../../migrations/sqlite/0036_push_delivery.sql"),
    ),
    (
        37,
        include_str!("../../migrations/sqlite/0037_appservices.sql"),
    ),
    (
        38,
        include_str!("../../migrations/sqlite/0038_webhooks.sql"),
    ),
    (
        39,
        include_str!("../../migrations/sqlite/0039_push_tweaks.sql"),
    ),
    (
        40,
        include_str!("../../migrations/sqlite/0040_webhook_limits.sql"),
    ),
];

/// PostgreSQL started from the SQLite schema as it stood at version 14, in one step.
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_schema.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_cluster.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_expiry_indexes.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_stream_in_flight.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_membership_stream.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_push_counts.sql"),
    ),
    (
        7,
        include_str!("../../migrations/postgres/0007_antivirus.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_media_retention.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_threepids.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_threepid_validations.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_account_validity.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres/0012_identity.sql"),
    ),
    (
        13,
        include_str!("../../migrations/postgres/0013_email_invitations.sql"),
    ),
    (
        14,
        include_str!("../../migrations/postgres/0014_rejected_events.sql"),
    ),
    (
        15,
        include_str!("../../migrations/postgres/0015_sliding_sync.sql"),
    ),
    (16, include_str!("../../migrations/postgres/0016_oauth.sql")),
    (
        17,
        include_str!("../../migrations/postgres/0017_login_tokens.sql"),
    ),
    (
        18,
        include_str!("../../migrations/postgres/0018_reports.sql"),
    ),
    (
        19,
        include_str!("../../migrations/postgres/0019_device_grants.sql"),
    ),
    (
        20,
        include_str!("../../migrations/postgres/0020_rendezvous.sql"),
    ),
    (
        21,
        include_str!("../../migrations/postgres/0021_delayed_events.sql"),
    ),
    (
        22,
        include_str!("../../migrations/postgres/0022_account_sessions.sql"),
    ),
    (
        23,
        include_str!("../../migrations/postgres/0023_thread_subscriptions.sql"),
    ),
    (
        24,
        include_str!("../../migrations/postgres/0024_push_delivery.sql"),
    ),
    (
        25,
        include_str!("../../migrations/postgres/0025_appservices.sql"),
    ),
    (
        26,
        include_str!("../../migrations/postgres/0026_webhooks.sql"),
    ),
    (
        27,
        include_str!("../../migrations/postgres/0027_push_tweaks.sql"),
    ),
    (
        28,
        include_str!("../../migrations/postgres/0028_webhook_limits.sql"),
    ),
];

pub(super) async fn run(pool: &AnyPool, dialect: Dialect) -> StorageResult<()> {
    let migrations = match dialect {
        Dialect::Sqlite => SQLITE_MIGRATIONS,
        Dialect::Postgres => POSTGRES_MIGRATIONS,
    };
    let mut conn = pool.acquire().await?;
    // Processes starting together on one PostgreSQL migrate one after the other.
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, migrations).await;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

/// The advisory lock key held while migrating ("migrate" in ASCII).
const MIGRATION_LOCK: i64 = 0x006d_6967_7261_7465;

async fn apply(
    conn: &mut sqlx::AnyConnection,
    migrations: &[(i64, &'static str)],
) -> StorageResult<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let current = current.unwrap_or(0);
    for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
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
    use crate::sql::testing::test_database;

    #[tokio::test]
    async fn reopening_a_migrated_database_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let target = test_database(dir.path()).await.unwrap();
        let media = dir.path().join("media");
        drop(crate::open(&target, 1, &media).await.unwrap());
        crate::open(&target, 1, &media)
            .await
            .expect("second open must succeed");
    }
}
