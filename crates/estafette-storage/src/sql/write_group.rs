//! SQLite's one writer, with group commit. Every write of the server goes through one
//! connection; a write transaction is a savepoint inside a transaction that the writers queued
//! at the same time share, committed once for all of them. Each commit writes the pages it
//! changed to the log (one event touches a dozen tables and indexes), so writers that arrive
//! together share those writes and the commit's own cost, instead of paying them one by one.
//!
//! A writer's `commit` returns only once the shared transaction is committed: what it wrote is
//! then durable and visible to readers, exactly as with a transaction of its own. If the
//! shared commit fails, every writer of the group gets the error.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{AnyConnection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The writer's connection and the group it is in.
pub(super) struct WriteGate {
    state: Arc<Mutex<GroupState>>,
}

struct GroupState {
    conn: AnyConnection,
    /// A writer dropped its savepoint without committing or rolling it back: the next one in
    /// rolls it back first.
    savepoint_left: bool,
    /// The group whose transaction is open, or the last one.
    group: u64,
    /// The last group whose `COMMIT` ended, and the last one whose `COMMIT` failed.
    committed: u64,
    failed: Option<(u64, String)>,
}

impl WriteGate {
    pub(super) fn new(conn: AnyConnection) -> Self {
        Self {
            state: Arc::new(Mutex::new(GroupState {
                conn,
                savepoint_left: false,
                group: 0,
                committed: 0,
                failed: None,
            })),
        }
    }

    /// A write transaction: the writer's turn on the connection, in the group's transaction.
    pub(super) async fn begin(&self) -> Result<GroupWrite, sqlx::Error> {
        let mut state = self.state.clone().lock_owned().await;
        state.discard_left_savepoint().await?;
        if !state.open() {
            state.conn.execute("BEGIN IMMEDIATE").await?;
            state.group += 1;
        }
        state.conn.execute("SAVEPOINT writer").await?;
        state.savepoint_left = true;
        Ok(GroupWrite {
            state,
            gate: self.state.clone(),
        })
    }
}

/// One writer's transaction, within its group's.
pub(super) struct GroupWrite {
    state: OwnedMutexGuard<GroupState>,
    gate: Arc<Mutex<GroupState>>,
}

impl GroupWrite {
    /// Keeps what this writer wrote, and returns once the group's transaction is committed.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { mut state, gate } = self;
        state.conn.execute("RELEASE SAVEPOINT writer").await?;
        state.savepoint_left = false;
        let group = state.group;
        // The writers queued behind this one write in the same transaction; this writer
        // queues again behind them. Back at the front, the group is committed already (by a
        // writer queued later) or this writer commits it.
        drop(state);
        let mut state = gate.lock_owned().await;
        if state.committed < group {
            state.discard_left_savepoint().await?;
            state.committed = group;
            if let Err(err) = state.conn.execute("COMMIT").await {
                let _ = state.conn.execute("ROLLBACK").await;
                state.failed = Some((group, err.to_string()));
                return Err(err);
            }
        }
        match &state.failed {
            Some((failed, why)) if *failed == group => Err(sqlx::Error::Protocol(format!(
                "the shared write transaction failed to commit: {why}"
            ))),
            _ => Ok(()),
        }
    }

    /// Undoes what this writer wrote; the rest of its group goes on.
    #[cfg(test)]
    pub(super) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.state.discard_left_savepoint().await
    }
}

impl GroupState {
    /// A transaction is open (`BEGIN IMMEDIATE` done, its `COMMIT` not yet).
    fn open(&self) -> bool {
        self.committed < self.group
    }

    /// A writer that went away without committing wrote nothing.
    async fn discard_left_savepoint(&mut self) -> Result<(), sqlx::Error> {
        if self.savepoint_left {
            self.conn
                .execute("ROLLBACK TO SAVEPOINT writer; RELEASE SAVEPOINT writer")
                .await?;
            self.savepoint_left = false;
        }
        Ok(())
    }
}

impl Deref for GroupWrite {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.state.conn
    }
}

impl DerefMut for GroupWrite {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.state.conn
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::sql::testing::open_temporary_db;

    /// Writers that arrive together commit together, and one that gives up (an error, its
    /// transaction dropped) takes nothing of the others with it, nor leaves anything behind.
    #[tokio::test]
    async fn writers_share_commits_and_one_that_gives_up_writes_nothing() {
        let (_dir, db) = open_temporary_db().await;
        let Some(state) = db.writer.as_ref().map(|gate| gate.state.clone()) else {
            return; // PostgreSQL: writers have transactions of their own
        };
        let db = Arc::new(db);
        let groups_before = state.lock().await.committed;
        let writers: Vec<_> = (0..24)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut tx = db.write_transaction().await.expect("begin");
                    sqlx::query("INSERT INTO filters (user_id, filter_json) VALUES ($1, '{}')")
                        .bind(format!("@w{i}:x"))
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                    tokio::task::yield_now().await;
                    if i % 3 == 0 {
                        drop(tx);
                    } else {
                        tx.commit().await.expect("commit");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
        // What a committed writer wrote is visible to readers once its commit returned.
        let mut stored: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM filters WHERE user_id LIKE '@w%'")
                .fetch_all(&db.pool)
                .await
                .expect("read");
        stored.sort();
        let mut expected: Vec<String> = (0..24)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("@w{i}:x"))
            .collect();
        expected.sort();
        assert_eq!(stored, expected);
        let groups = state.lock().await.committed - groups_before;
        assert!(
            (1..16).contains(&groups),
            "16 commits for 24 writers queued together: {groups}"
        );
        // The next writer after one that gave up last starts clean.
        db.write(sqlx::query(
            "INSERT INTO filters (user_id, filter_json) VALUES ('@after:x', '{}')",
        ))
        .await
        .expect("a later write");
    }
}
