//! The hot queries (sending, syncing, state lookups, pagination, receipts, to-device, account
//! data) use indexes on PostgreSQL: a whole session of client traffic runs with sequential
//! scans disabled in the planner, and no table may have been scanned sequentially. (The
//! planner still scans when no index fits a query, so a missing index shows as a scan.)
//! Runs in the PostgreSQL pass of the test command.

use estafette_tests::TestServer;
use serde_json::json;
use sqlx::Connection;

use crate::room_helpers::{create_room, invite, page_back, send_text, user};

/// Tables read only whole (one row, or by design).
const SCANNED_BY_DESIGN: &[&str] = &["stream_position", "local_signing_key", "schema_migrations"];

#[tokio::test]
async fn client_traffic_on_postgres_never_scans_a_table() {
    let Ok(server_url) = std::env::var("ESTAFETTE_TEST_POSTGRES") else {
        eprintln!("SQLite pass: the planner check is PostgreSQL's");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let estafette::storage::DatabaseTarget::Postgres(url) =
        estafette::storage::sql::testing::test_database(dir.path())
            .await
            .unwrap()
    else {
        unreachable!("ESTAFETTE_TEST_POSTGRES names PostgreSQL");
    };
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&server_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} SET enable_seqscan = off"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let server = TestServer::builder()
        .configure(move |config| config.database.url = Some(url))
        .start()
        .await;
    // Creating the schema scanned every table: start counting from here.
    let own = format!("{}/{database}", server_url.rsplit_once('/').unwrap().0);
    end_sessions(&mut admin, &database).await;
    let mut conn = sqlx::PgConnection::connect(&own).await.unwrap();
    sqlx::query("SELECT pg_stat_reset()")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let room_id = create_room(&alice, json!({"preset": "private_chat", "name": "Plans"})).await;
    invite(&alice, &room_id, &bob_id).await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let since = bob.get("/_matrix/client/v3/sync?timeout=0").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    // A phone whose gateway refuses: delivery tries it, then retries.
    bob.post(
        "/_matrix/client/v3/pushers/set",
        json!({"kind": "http", "app_id": "org.example.plans", "pushkey": "k",
               "app_display_name": "Plans", "device_display_name": "phone", "lang": "fr",
               "data": {"url": "http://127.0.0.1:9/_matrix/push/v1/notify"}}),
    )
    .await
    .assert_ok();
    let mut last = String::new();
    for n in 0..40 {
        last = send_text(&alice, &room_id, &format!("t{n}"), &format!("message {n}")).await;
    }
    bob.get(&format!("/_matrix/client/v3/sync?since={since}&timeout=0"))
        .await
        .assert_ok();
    bob.get("/_matrix/client/v3/sync?timeout=0")
        .await
        .assert_ok();
    assert!(page_back(&bob, &room_id).await.len() > 40);
    for path in [
        format!("/_matrix/client/v3/rooms/{room_id}/state"),
        format!("/_matrix/client/v3/rooms/{room_id}/members"),
        format!("/_matrix/client/v3/rooms/{room_id}/event/{last}"),
        format!("/_matrix/client/v3/rooms/{room_id}/context/{last}"),
        format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=f&limit=20"),
        format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
        "/_matrix/client/v3/joined_rooms".to_owned(),
        "/_matrix/client/v3/notifications?limit=5".to_owned(),
    ] {
        bob.get(&path).await.assert_ok();
    }
    bob.post(
        &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{last}"),
        json!({}),
    )
    .await
    .assert_ok();
    bob.put(
        &format!("/_matrix/client/v3/user/{bob_id}/account_data/org.example.plans"),
        json!({"checked": true}),
    )
    .await
    .assert_ok();
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room_id}/typing/{bob_id}"),
        json!({"typing": true, "timeout": 5000}),
    )
    .await
    .assert_ok();
    let bob_device = bob.get("/_matrix/client/v3/account/whoami").await.body["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(
            "/_matrix/client/v3/sendToDevice/org.example.plans/p1",
            json!({"messages": {bob_id.clone(): {bob_device: {"n": 1}}}}),
        )
        .await
        .assert_ok();
    alice
        .get(&format!("/_matrix/client/v3/sync?since={since}&timeout=0"))
        .await
        .assert_ok();
    bob.get(&format!("/_matrix/client/v3/sync?since={since}&timeout=0"))
        .await
        .assert_ok();

    drop(conn);
    end_sessions(&mut admin, &database).await;
    let mut conn = sqlx::PgConnection::connect(&own).await.unwrap();
    let scanned: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CAST(relname AS TEXT), seq_scan FROM pg_stat_user_tables WHERE seq_scan > 0
         ORDER BY relname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let unexpected: Vec<&(String, i64)> = scanned
        .iter()
        .filter(|(table, _)| !SCANNED_BY_DESIGN.contains(&table.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "tables scanned without an index: {unexpected:?}"
    );
}

/// Ends the server's sessions on `database`, which flushes their statistics (the server
/// reconnects when it needs to).
async fn end_sessions(admin: &mut sqlx::PgConnection, database: &str) {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .execute(&mut *admin)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}
