//! Opening a database: which backend, its connection settings, its migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions};

use super::{Db, Dialect, migrations, storage};
use crate::{Storage, StorageError, StorageResult};

/// Where a server keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// The embedded default: one SQLite file; media next to it unless configured elsewhere.
    Sqlite(PathBuf),
    /// A `postgres://` URL, shared by every process of the server.
    Postgres(String),
}

impl DatabaseTarget {
    /// `postgres://` or `postgresql://` URLs name PostgreSQL; nothing else is accepted as a URL.
    pub fn from_url(url: &str) -> StorageResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(StorageError::InvalidUrl(format!(
                "expected postgres://…, not {}",
                redacted(url)
            )))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A URL for logs and errors: the password replaced.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.split('@').next_back().unwrap_or(url).to_owned(),
    }
}

/// Opens (creating a SQLite file if needed) and migrates the database; media files go under
/// `media_root`.
pub async fn open(
    target: &DatabaseTarget,
    max_connections: u32,
    media_root: &Path,
) -> StorageResult<Storage> {
    let db = open_db(target, max_connections).await?;
    Ok(storage(db, media_root.to_path_buf()))
}

pub(super) async fn open_db(target: &DatabaseTarget, max_connections: u32) -> StorageResult<Db> {
    let (pool, writer) = match target {
        // SQLite takes one writer at a time; writers that queue for its lock sleep in steps of
        // up to 100 ms (its busy handler). One connection of their own makes them queue in
        // order instead, and commit in groups; the readers' connections refuse writes so none
        // slips past it.
        DatabaseTarget::Sqlite(_) => {
            let conn = connect(target, 1, Access::ReadWrite)
                .await?
                .acquire()
                .await?
                .detach();
            let readers = pool_of(target, max_connections, Access::ReadOnly).await?;
            (readers, Some(super::write_group::WriteGate::new(conn)))
        }
        DatabaseTarget::Postgres(_) => (
            connect(target, max_connections, Access::ReadWrite).await?,
            None,
        ),
    };
    let (postgres_url, allocator) = match target {
        DatabaseTarget::Postgres(url) => (
            Some(url.clone()),
            Some(pool_of(target, 2, Access::ReadWrite).await?),
        ),
        DatabaseTarget::Sqlite(_) => (None, None),
    };
    let access_cache = (target.dialect() == super::Dialect::Sqlite).then(Default::default);
    Ok(Db {
        pool,
        writer,
        dialect: target.dialect(),
        postgres_url,
        allocator,
        access_cache,
    })
}

/// Whether a pool's SQLite connections may write (PostgreSQL pools always may).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
}

/// A pool on the migrated database.
pub(super) async fn connect(
    target: &DatabaseTarget,
    max_connections: u32,
    access: Access,
) -> StorageResult<AnyPool> {
    let pool = pool_of(target, max_connections, access).await?;
    migrations::run(&pool, target.dialect()).await?;
    Ok(pool)
}

async fn pool_of(
    target: &DatabaseTarget,
    max_connections: u32,
    access: Access,
) -> StorageResult<AnyPool> {
    sqlx::any::install_default_drivers();
    let pool = match target {
        DatabaseTarget::Sqlite(path) => {
            let url = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .to_url_lossy();
            AnyPoolOptions::new()
                .max_connections(max_connections)
                // A SQLite connection does not go stale, and the check is one more hand-off to
                // the connection's thread for every statement.
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .execute(&mut *conn)
                        .await?;
                        if access == Access::ReadOnly {
                            sqlx::raw_sql("PRAGMA query_only = ON")
                                .execute(conn)
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_url(&url)?)
                .await?
        }
        DatabaseTarget::Postgres(url) => {
            let options =
                AnyConnectOptions::from_url(&url.parse().map_err(|err| {
                    StorageError::InvalidUrl(format!("{}: {err}", redacted(url)))
                })?)?;
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                // Connections are checked before use (a round trip): after a restart of
                // PostgreSQL or an administrator ending sessions, requests find new ones
                // instead of failing on dropped ones.
                .connect_with(options)
                .await?
        }
    };
    Ok(pool)
}
