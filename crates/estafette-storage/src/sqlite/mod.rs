//! The embedded SQLite backend: one database file in WAL mode behind a bounded pool.

mod accounts;
mod e2ee;
mod federation;
mod media;
mod migrations;
mod rooms;
mod sync;

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
    // Media bytes sit next to the database, in `media/`.
    let media_root = path
        .parent()
        .map(|dir| dir.join("media"))
        .unwrap_or_else(|| "media".into());
    Ok(storage(pool, media_root))
}

fn storage(pool: SqlitePool, media_root: std::path::PathBuf) -> Storage {
    let db = Arc::new(Db { pool });
    Storage {
        users: db.clone(),
        devices: db.clone(),
        device_lists: db.clone(),
        tokens: db.clone(),
        profiles: db.clone(),
        account_data: db.clone(),
        filters: db.clone(),
        federation_outbox: db.clone(),
        uia_sessions: db.clone(),
        registration_nonces: db.clone(),
        openid_tokens: db.clone(),
        rooms: db.clone(),
        events: db.clone(),
        state: db.clone(),
        memberships: db.clone(),
        receipts: db.clone(),
        push_actions: db.clone(),
        pushers: db.clone(),
        presence: db.clone(),
        to_device: db.clone(),
        keys: db.clone(),
        media: db.clone(),
        media_files: Arc::new(crate::files::FileStore::new(media_root)),
        backup: db.clone(),
        dehydrated_devices: db.clone(),
        server_keys: db.clone(),
        aliases: db.clone(),
        relations: db.clone(),
        search: db.clone(),
        streams: db,
    }
}

/// The pool that every SQLite repository shares.
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// A transaction that takes the write lock up front. A deferred transaction that reads
    /// before it writes fails at once (SQLITE_BUSY) when another writer got in between, instead
    /// of waiting for the busy timeout.
    async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// Takes the next position of the one stream everything syncs on. Inside the caller's write
/// transaction, so positions become visible in the order they were taken (SQLite has one
/// writer; a PostgreSQL backend must track the positions persisted so far instead).
async fn next_stream_id(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar("INSERT INTO stream_sequence DEFAULT VALUES RETURNING id")
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM stream_sequence WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(id)
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

#[cfg(test)]
mod tests {
    use ruma::{OwnedDeviceId, user_id};

    use super::open_temporary;
    use crate::{NewTokens, UiaSessionRecord};

    /// Many writers at once must queue, never fail with "database is locked".
    #[tokio::test]
    async fn concurrent_writers_do_not_fail() {
        let (_dir, storage) = open_temporary().await;
        let alice = user_id!("@alice:example.org");
        let session = UiaSessionRecord {
            session_id: "s".into(),
            action: "a".into(),
            user_id: None,
            completed: vec![],
            created_ts: 0,
        };
        storage.uia_sessions.create(&session).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let storage = storage.clone();
            tasks.push(tokio::spawn(async move {
                let device: OwnedDeviceId = format!("D{i}").into();
                storage.devices.upsert(alice, &device, None, 1).await?;
                let hash = format!("h{i}");
                let refresh = format!("r{i}");
                let tokens = NewTokens {
                    user_id: alice,
                    device_id: &device,
                    access_token_hash: &hash,
                    access_expires_ts: None,
                    refresh_token_hash: Some(&refresh),
                    predecessor: None,
                    now: 1,
                };
                storage.tokens.issue(&tokens).await?;
                storage
                    .uia_sessions
                    .add_completed("s", &format!("stage{i}"))
                    .await?;
                storage
                    .devices
                    .delete_all_except(alice, Some(&device))
                    .await?;
                Ok::<_, crate::StorageError>(())
            }));
        }
        for task in tasks {
            task.await.unwrap().expect("no write may fail");
        }
        let session = storage.uia_sessions.get("s").await.unwrap().unwrap();
        assert_eq!(session.completed.len(), 32, "no update was lost");
    }
}
