//! The database a test runs on: the suites are written once and run on both backends, chosen by
//! the environment, so that no repository is tested on one backend only.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use super::DatabaseTarget;
use crate::StorageResult;

/// Names the PostgreSQL server tests run on (`postgres://user@host:port/postgres`); unset, they
/// run on SQLite.
pub const TEST_POSTGRES_VARIABLE: &str = "ESTAFETTE_TEST_POSTGRES";

/// A fresh, empty database for one test: a new database on the test PostgreSQL server when
/// [`TEST_POSTGRES_VARIABLE`] is set, otherwise a SQLite file in `dir`.
pub async fn test_database(dir: &Path) -> StorageResult<DatabaseTarget> {
    let Ok(server) = std::env::var(TEST_POSTGRES_VARIABLE) else {
        return Ok(DatabaseTarget::Sqlite(dir.join("test.db")));
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "estafette_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let mut url = url::Url::parse(&server).map_err(|err| {
        crate::StorageError::InvalidUrl(format!("{TEST_POSTGRES_VARIABLE}: {err}"))
    })?;
    url.set_path(&name);
    Ok(DatabaseTarget::Postgres(url.to_string()))
}

/// Opens a fresh test database (see [`test_database`]), its media under `dir`.
pub async fn open_test_storage(dir: &Path) -> StorageResult<crate::Storage> {
    let target = test_database(dir).await?;
    super::open(&target, 4, &dir.join("media")).await
}

#[cfg(test)]
pub(crate) async fn open_temporary() -> (tempfile::TempDir, crate::Storage) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = open_test_storage(dir.path()).await.expect("open database");
    (dir, storage)
}

/// A fresh test database as the backends' implementation itself, for tests of its internals.
#[cfg(test)]
pub(crate) async fn open_temporary_db() -> (tempfile::TempDir, super::Db) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let target = test_database(dir.path()).await.expect("a test database");
    let db = super::connect::open_db(&target, 20)
        .await
        .expect("open database");
    (dir, db)
}

/// A port for a test server to listen on. It is taken below the kernel's ephemeral range
/// (32768 and up), which binding to port 0 hands out: an outgoing connection of another test
/// can take such a port between this check and the server's bind, and did (Synapse failed with
/// "Address already in use"). Test processes start at different points of the range.
pub fn free_port() -> u16 {
    const FIRST: u32 = 10_000;
    const COUNT: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let start = std::process::id()
        .wrapping_mul(7_919)
        .wrapping_add(nanos / 1_000);
    for _ in 0..COUNT {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(97));
        let port = u16::try_from(FIRST + offset % COUNT).unwrap_or(u16::MAX);
        let free = |host: &str| std::net::TcpListener::bind((host, port)).is_ok();
        if free("127.0.0.1") && free("0.0.0.0") {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT)
}
