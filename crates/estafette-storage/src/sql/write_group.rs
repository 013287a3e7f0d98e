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
        let gate = self.state.clone();
        to_the_end(async move {
            let mut state = gate.clone().lock_owned().await;
            if let Err(err) = state.start_writer().await {
                state.abandon_group(&err).await;
                return Err(err);
            }
            Ok(GroupWrite { state, gate })
        })
        .await
    }
}

/// Runs a step on the connection to its end even if the writer is cancelled meanwhile (its
/// request dropped): a step cut off half-way would leave the connection in a state the
/// group's bookkeeping no longer describes, and fail every writer after it.
async fn to_the_end<T: Send + 'static>(
    step: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T, sqlx::Error> {
    tokio::spawn(step)
        .await
        .map_err(|err| sqlx::Error::Protocol(format!("the write step did not finish: {err}")))?
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
        to_the_end(async move {
            if let Err(err) = state.conn.execute("RELEASE SAVEPOINT writer").await {
                state.abandon_group(&err).await;
                return Err(err);
            }
            state.savepoint_left = false;
            let group = state.group;
            // The writers queued behind this one write in the same transaction; this writer
            // queues again behind them. Back at the front, the group is committed already (by
            // a writer queued later) or this writer commits it.
            drop(state);
            let mut state = gate.lock_owned().await;
            if state.committed < group {
                if let Err(err) = state.discard_left_savepoint().await {
                    state.abandon_group(&err).await;
                    return Err(err);
                }
                state.committed = group;
                if let Err(err) = state.conn.execute("COMMIT").await {
                    state.abandon_group(&err).await;
                    return Err(err);
                }
            }
            match &state.failed {
                Some((failed, why)) if *failed == group => Err(sqlx::Error::Protocol(format!(
                    "the shared write transaction failed to commit: {why}"
                ))),
                _ => Ok(()),
            }
        })
        .await
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

    /// Opens this writer's savepoint, in the open group or a new one.
    async fn start_writer(&mut self) -> Result<(), sqlx::Error> {
        self.discard_left_savepoint().await?;
        if !self.open() {
            self.conn.execute("BEGIN IMMEDIATE").await?;
            self.group += 1;
        }
        self.conn.execute("SAVEPOINT writer").await?;
        self.savepoint_left = true;
        Ok(())
    }

    /// A step failed half-way (the disk full, or SQLite itself rolled the transaction back):
    /// the group's transaction is rolled back whole, every writer waiting on it gets the error,
    /// and the next writer starts afresh rather than on a connection in an unknown state.
    async fn abandon_group(&mut self, err: &sqlx::Error) {
        // Fails harmlessly when no transaction is open any more.
        let _ = self.conn.execute("ROLLBACK").await;
        if self.open() {
            self.failed = Some((self.group, err.to_string()));
            self.committed = self.group;
        }
        self.savepoint_left = false;
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

    /// A writer cancelled at any point (its request dropped: the client went away) neither
    /// breaks the writers after it nor loses what those wrote.
    #[tokio::test]
    async fn writers_cancelled_at_any_await_leave_the_writer_usable() {
        let (_dir, db) = open_temporary_db().await;
        if db.writer.is_none() {
            return; // PostgreSQL: writers have transactions of their own
        }
        for polls in 0..12 {
            // Cancelled while committing.
            let mut tx = db.write_transaction().await.expect("begin");
            sqlx::query("INSERT INTO filters (user_id, filter_json) VALUES ($1, '{}')")
                .bind(format!("@commit{polls}:x"))
                .execute(&mut *tx)
                .await
                .expect("insert");
            poll_then_drop(tx.commit(), polls).await;
            // Cancelled while beginning.
            poll_then_drop(db.write_transaction(), polls).await;
            // Cancelled while writing.
            let mut tx = db.write_transaction().await.expect("begin");
            poll_then_drop(
                sqlx::query("INSERT INTO filters (user_id, filter_json) VALUES ($1, '{}')")
                    .bind(format!("@write{polls}:x"))
                    .execute(&mut *tx),
                polls,
            )
            .await;
            drop(tx);
            db.write(
                sqlx::query("INSERT INTO filters (user_id, filter_json) VALUES ($1, '{}')")
                    .bind(format!("@after{polls}:x")),
            )
            .await
            .unwrap_or_else(|err| panic!("a write after cancelling at poll {polls}: {err}"));
        }
        let after: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM filters WHERE user_id LIKE '@after%'")
                .fetch_one(&db.pool)
                .await
                .expect("read");
        assert_eq!(after, 12);
        let cancelled_writes: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM filters WHERE user_id LIKE '@write%'")
                .fetch_one(&db.pool)
                .await
                .expect("read");
        assert_eq!(
            cancelled_writes, 0,
            "a writer dropped uncommitted wrote nothing"
        );
    }

    /// When SQLite rolls the shared transaction back by itself (as on a full disk), the writers
    /// of the group that were waiting for its commit are told it failed, and the next writer
    /// starts a new transaction instead of failing too.
    #[tokio::test]
    async fn a_transaction_aborted_under_the_group_fails_its_writers_not_the_next() {
        let (_dir, db) = open_temporary_db().await;
        if db.writer.is_none() {
            return; // PostgreSQL: writers have transactions of their own
        }
        let db = Arc::new(db);
        let insert = "INSERT INTO filters (user_id, filter_json) VALUES ($1, '{}')";
        let mut waiting = db.write_transaction().await.expect("begin");
        sqlx::query(insert)
            .bind("@waiting:x")
            .execute(&mut *waiting)
            .await
            .expect("insert");
        // The aborting writer queues behind the first, the first then waits for the commit.
        let aborting = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.write_transaction().await.expect("begin");
                sqlx::query("ROLLBACK")
                    .execute(&mut *tx)
                    .await
                    .expect("abort");
                // It gives up: the next one in discards its savepoint, which is gone.
                drop(tx);
            }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let waited = waiting.commit().await;
        aborting.await.expect("task");
        assert!(waited.is_err(), "its write was rolled back: {waited:?}");
        db.write(sqlx::query(insert).bind("@next:x"))
            .await
            .expect("the next writer");
        let stored: Vec<String> = sqlx::query_scalar("SELECT user_id FROM filters")
            .fetch_all(&db.pool)
            .await
            .expect("read");
        assert_eq!(stored, vec!["@next:x".to_owned()]);
    }

    /// Polls a future `polls` times, letting the runtime run in between, then drops it.
    async fn poll_then_drop<F: std::future::Future>(future: F, polls: usize) {
        let mut future = std::pin::pin!(future);
        for _ in 0..polls {
            let ready = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(future.as_mut().poll(cx).is_ready())
            })
            .await;
            if ready {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}
