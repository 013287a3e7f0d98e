//! The interleavings of writers that break naive stream designs, on PostgreSQL where writers
//! run side by side. (SQLite has one writer at a time: a second write transaction waits for
//! the first, so positions commit in order there and these cases cannot arise.)

use ruma::user_id;

use crate::sql::testing::open_temporary_db;
use crate::sql::{Db, Dialect, Tx};
use crate::{AccountDataRepository, StreamRepository};

/// A writer that has taken a position and written at it, not yet committed.
async fn writer_in_flight(db: &Db, data_type: &str) -> (Tx, i64) {
    let mut tx = db.write_transaction().await.unwrap();
    let position = db.next_stream_id(&mut tx).await.unwrap();
    sqlx::query(
        "INSERT INTO account_data (user_id, room_id, data_type, content_json, updated_ts, stream_id)
         VALUES ('@alice:example.org', '', $1, '{}', 0, $2)",
    )
    .bind(data_type)
    .bind(position)
    .execute(&mut *tx)
    .await
    .unwrap();
    (tx, position)
}

async fn types_after(db: &Db, since: i64) -> Vec<String> {
    let alice = user_id!("@alice:example.org");
    db.changed_since(alice, since)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.data_type)
        .collect()
}

async fn last_taken(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT position FROM stream_position")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Opens a test database, or `None` on SQLite, where writers take turns.
async fn postgres() -> Option<(tempfile::TempDir, Db)> {
    let (dir, db) = open_temporary_db().await;
    (db.dialect == Dialect::Postgres).then_some((dir, db))
}

#[tokio::test]
async fn a_later_position_committed_first_is_not_handed_out_before_the_earlier_one() {
    let Some((_dir, db)) = postgres().await else {
        return;
    };
    let alice = user_id!("@alice:example.org");
    let before = db.current().await.unwrap();
    let (slow, slow_position) = writer_in_flight(&db, "org.example.slow").await;
    let fast_position = db
        .set(alice, None, "org.example.fast", "{}", 0)
        .await
        .unwrap();
    assert!(fast_position > slow_position);

    // The naive token, the last position taken, would skip the slow write for good: a client
    // reading up to it and coming back from there would never see it.
    assert_eq!(last_taken(&db).await, fast_position);
    let token = db.current().await.unwrap();
    assert_eq!(
        token,
        slow_position - 1,
        "the token stops below the write in flight"
    );
    assert_eq!(token, before);

    slow.commit().await.unwrap();
    let next = db.current().await.unwrap();
    assert_eq!(next, fast_position);
    assert_eq!(
        types_after(&db, token).await,
        ["org.example.slow", "org.example.fast"],
        "a client coming back from its token gets both writes"
    );
}

#[tokio::test]
async fn a_writer_that_rolls_back_holds_nobody_back() {
    let Some((_dir, db)) = postgres().await else {
        return;
    };
    let alice = user_id!("@alice:example.org");
    let (failed, _) = writer_in_flight(&db, "org.example.failed").await;
    let later = db
        .set(alice, None, "org.example.later", "{}", 0)
        .await
        .unwrap();
    failed.rollback().await.unwrap();
    assert_eq!(db.current().await.unwrap(), later);
    assert_eq!(db.clear_abandoned().await.unwrap(), 1);
    assert_eq!(db.current().await.unwrap(), later);
}

#[tokio::test]
async fn a_writer_whose_process_died_holds_nobody_back() {
    let Some((_dir, db)) = postgres().await else {
        return;
    };
    let alice = user_id!("@alice:example.org");
    let (mut dying, dying_position) = writer_in_flight(&db, "org.example.dying").await;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *dying)
        .await
        .unwrap();
    let later = db
        .set(alice, None, "org.example.later", "{}", 0)
        .await
        .unwrap();
    assert_eq!(db.current().await.unwrap(), dying_position - 1);

    // The connection goes as a killed process's would: PostgreSQL aborts its transaction.
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(backend)
        .execute(&db.pool)
        .await
        .unwrap();
    let mut waited = 0;
    while db.current().await.unwrap() != later {
        waited += 1;
        assert!(waited < 100, "the dead writer still holds readers back");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(dying);
    assert_eq!(
        types_after(&db, dying_position - 1).await,
        ["org.example.later"],
        "what the dead writer wrote is gone, what came after is there"
    );
}

#[tokio::test]
async fn many_writers_committing_in_any_order_never_skip_a_position() {
    let Some((_dir, db)) = postgres().await else {
        return;
    };
    let db = std::sync::Arc::new(db);
    let alice = user_id!("@alice:example.org");
    let writers: Vec<_> = (0..16)
        .map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                for round in 0..10 {
                    let (tx, _) = writer_in_flight(&db, &format!("org.example.{n}.{round}")).await;
                    // Commit after a while that differs per writer and round, so that commits
                    // come in another order than positions were taken.
                    let pause = (n * 7 + round * 3) % 11;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    // A reader syncing all along, as a client would: from its token to the current position.
    let started = std::time::Instant::now();
    let mut token = db.current().await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 160 {
        let current = db.current().await.unwrap();
        for entry in db.changed_since(alice, token).await.unwrap() {
            if entry.data_type.starts_with("org.example.") {
                seen.insert(entry.data_type);
            }
        }
        let visible: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM account_data WHERE user_id = $1 AND stream_id <= $2",
        )
        .bind(alice.as_str())
        .bind(current)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(
            usize::try_from(visible).unwrap() <= seen.len(),
            "every write at or below the token had been read when the token was handed out"
        );
        token = current;
        assert!(started.elapsed().as_secs() < 60, "writers still running");
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen.len(), 160);
    assert_eq!(db.current().await.unwrap(), last_taken(&db).await);
}
