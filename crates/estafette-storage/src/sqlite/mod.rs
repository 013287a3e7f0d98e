//! The embedded SQLite backend: one database file in WAL mode behind a bounded pool.

mod account_data;
mod devices;
mod filters;
mod migrations;
mod profiles;
mod registration_nonces;
mod tokens;
mod uia_sessions;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Storage, StorageError, StorageResult};

/// Opens (creating if needed) and migrates the database at `path`.
pub async fn open(path: &Path, max_connections: u32) -> StorageResult<Storage> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await?;
    migrations::run(&pool).await?;
    Ok(storage(pool))
}

fn storage(pool: SqlitePool) -> Storage {
    let db = Arc::new(Db { pool });
    Storage {
        users: db.clone(),
        devices: db.clone(),
        tokens: db.clone(),
        profiles: db.clone(),
        account_data: db.clone(),
        filters: db.clone(),
        uia_sessions: db.clone(),
        registration_nonces: db,
    }
}

/// The pool that every SQLite repository shares.
pub struct Db {
    pool: SqlitePool,
}

/// SQLite integers are signed; timestamps and counters never reach 2^63.
fn to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {err}"))
}

#[cfg(test)]
pub(crate) async fn open_temporary() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = open(&dir.path().join("test.db"), 4)
        .await
        .expect("open database");
    (dir, storage)
}
