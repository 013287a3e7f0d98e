//! The SQL backends: embedded SQLite (one file in WAL mode) and PostgreSQL, behind one
//! implementation of every repository.

mod account_validity;
mod accounts;
mod admin;
mod antivirus;
mod appservices;
mod cluster;
mod connect;
mod copy;
mod delayed_events;
mod e2ee;
mod federation;
mod identity;
mod media;
mod migrations;
mod oauth;
mod push;
mod ratelimit;
mod rendezvous;
mod reports;
mod rooms;
mod sliding_sync;
mod sync;
pub mod testing;
mod threads;
mod webhooks;
mod write_group;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyQueryResult};
use sqlx::{Any, AnyConnection, AnyPool};

pub use connect::{DatabaseTarget, open, redacted};
pub use copy::{CopyReport, copy_database};

use crate::{Storage, StorageError};

/// A write transaction, on either backend: a transaction of its own on PostgreSQL, a turn of
/// SQLite's one writer in a group of writers that commit together
/// ([`write_group`]).
enum Tx {
    Postgres(sqlx::Transaction<'static, Any>),
    Sqlite(write_group::GroupWrite),
}

impl Tx {
    /// Returns once what the transaction wrote is committed.
    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx) => tx.commit().await,
            Self::Sqlite(write) => write.commit().await,
        }
    }

    #[cfg(test)]
    async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx) => tx.rollback().await,
            Self::Sqlite(write) => write.rollback().await,
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Postgres(tx) => tx,
            Self::Sqlite(write) => write,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Postgres(tx) => tx,
            Self::Sqlite(write) => write,
        }
    }
}

/// Which SQL the connected database speaks, where the two backends differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

fn storage(db: Db, media_root: std::path::PathBuf) -> Storage {
    let db = Arc::new(db);
    Storage {
        users: db.clone(),
        devices: db.clone(),
        device_lists: db.clone(),
        tokens: db.clone(),
        login_tokens: db.clone(),
        profiles: db.clone(),
        account_data: db.clone(),
        filters: db.clone(),
        federation_outbox: db.clone(),
        uia_sessions: db.clone(),
        registration_nonces: db.clone(),
        openid_tokens: db.clone(),
        threepids: db.clone(),
        threepid_validations: db.clone(),
        account_validity: db.clone(),
        renewal_tokens: db.clone(),
        identity_tokens: db.clone(),
        email_invitations: db.clone(),
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
        antivirus_verdicts: db.clone(),
        antivirus_detections: db.clone(),
        backup: db.clone(),
        dehydrated_devices: db.clone(),
        server_keys: db.clone(),
        aliases: db.clone(),
        relations: db.clone(),
        search: db.clone(),
        cluster: db.clone(),
        rate_limits: db.clone(),
        sliding_sync: db.clone(),
        room_activity: db.clone(),
        oauth_clients: db.clone(),
        oauth_grants: db.clone(),
        oauth_upstream: db.clone(),
        oauth_device_grants: db.clone(),
        oauth_account: db.clone(),
        reports: db.clone(),
        rendezvous: db.clone(),
        delayed_events: db.clone(),
        thread_subscriptions: db.clone(),
        push_delivery: db.clone(),
        appservices: db.clone(),
        webhooks: db.clone(),
        admin: db.clone(),
        streams: db,
    }
}

/// The pool that every repository shares, on either backend: the SQL is written once, in the
/// subset both speak, and [`Dialect`] picks the few statements where they differ.
pub struct Db {
    /// Reads, and on PostgreSQL writes. SQLite's connections here are read-only.
    pool: AnyPool,
    /// SQLite: the one connection that writes, in transactions or not.
    writer: Option<write_group::WriteGate>,
    dialect: Dialect,
    /// For the LISTEN connection of the cluster feed, which the `Any` pool cannot give.
    postgres_url: Option<String>,
    /// PostgreSQL: a few connections of their own for taking stream positions, so that a
    /// writer holding a connection of `pool` never waits for a second one from it.
    allocator: Option<AnyPool>,
    /// SQLite: access tokens already resolved (see `accounts::access_cache`).
    access_cache: Option<accounts::AccessCache>,
}

impl Db {
    /// After a transaction that deleted access tokens committed: no cached token outlives it.
    fn forget_access_tokens(&self) {
        if let Some(cache) = &self.access_cache {
            cache.forget_all();
        }
    }

    /// A write transaction. On SQLite writers take turns on the one writing connection, so
    /// a transaction holds the database's write lock from its start. On
    /// PostgreSQL writers run side by side, in every process: a transaction that reads and
    /// then writes on what it read takes the lock of what it reads ([`Db::lock`] or a row
    /// lock), and stream positions allow out-of-order commits ([`Db::next_stream_id`]).
    async fn write_transaction(&self) -> Result<Tx, sqlx::Error> {
        match &self.writer {
            Some(writer) => Ok(Tx::Sqlite(writer.begin().await?)),
            None => Ok(Tx::Postgres(self.pool.begin().await?)),
        }
    }

    /// One statement that writes, in a transaction of its own.
    async fn write<'q>(
        &self,
        statement: sqlx::query::Query<'q, Any, AnyArguments>,
    ) -> Result<AnyQueryResult, sqlx::Error> {
        if self.writer.is_none() {
            return statement.execute(&self.pool).await;
        }
        let mut tx = self.write_transaction().await?;
        let result = statement.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Serialises, until `tx` ends, with every other transaction locking the same `key` in any
    /// process (a PostgreSQL advisory lock on the key's hash; a hash collision only serialises
    /// more). SQLite transactions are serialised already.
    async fn lock(&self, tx: &mut Tx, key: &str) -> Result<(), sqlx::Error> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Takes the next position of the one stream everything syncs on, for rows that `tx`
    /// writes. SQLite has one writer at a time, so positions commit in the order they are
    /// taken. PostgreSQL writers commit in any order: the position is taken in a transaction
    /// of its own that also records it in `stream_in_flight` with `tx`'s transaction ID, and
    /// `tx` deletes that record, so that its rows and the end of "in flight" become visible
    /// in one commit. Readers stop below the smallest position still in flight
    /// (`StreamRepository::current`; the argument is in docs/scaling.md).
    async fn next_stream_id(&self, tx: &mut Tx) -> Result<i64, sqlx::Error> {
        let Some(allocator) = &self.allocator else {
            return sqlx::query_scalar(
                "UPDATE stream_position SET position = position + 1 RETURNING position",
            )
            .fetch_one(&mut **tx)
            .await;
        };
        let xid: i64 =
            sqlx::query_scalar("SELECT CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)")
                .fetch_one(&mut **tx)
                .await?;
        let position: i64 = sqlx::query_scalar(
            "WITH taken AS (UPDATE stream_position SET position = position + 1 RETURNING position)
             INSERT INTO stream_in_flight (position, xid) SELECT position, $1 FROM taken
             RETURNING position",
        )
        .bind(xid)
        .fetch_one(allocator)
        .await?;
        sqlx::query("DELETE FROM stream_in_flight WHERE position = $1")
            .bind(position)
            .execute(&mut **tx)
            .await?;
        Ok(position)
    }
}

/// Event IDs per `IN (…)` list, well under both backends' parameter limits.
const EVENT_IDS_PER_STATEMENT: usize = 500;

/// Room IDs per `IN (…)` list.
const ROOM_IDS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite integers are signed; timestamps and counters never reach 2^63.
fn to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_db(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// A 0/1 flag column (integers on both backends, so the same SQL compares them).
fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedDeviceId, user_id};

    use super::testing::open_temporary;
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
