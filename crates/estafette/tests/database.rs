//! Choosing the database: SQLite by default, PostgreSQL by `--database-url`, `database.url` in
//! the configuration file or `ESTAFETTE_DATABASE_URL`.

mod common;

use std::process::Command;

use common::{BINARY, ServerProcess, get_from, inspect, post_to, put_to, test_database};
use estafette::storage::DatabaseTarget;
use serde_json::{Value, json};
use sqlx::Row;

#[test]
fn a_database_url_that_is_not_postgres_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .current_dir(dir.path())
        .args([
            "serve",
            "--database-url",
            "mysql://root@127.0.0.1/estafette",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database.url"), "{stderr}");
    assert!(!dir.path().join("estafette-data/estafette.db").exists());
}

/// Runs in the PostgreSQL pass of the test command (on SQLite there is no URL to give).
#[tokio::test]
async fn postgres_is_chosen_by_flag_file_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let target = test_database(dir.path()).await;
    let DatabaseTarget::Postgres(url) = &target else {
        eprintln!("SQLite pass: nothing to choose");
        return;
    };
    let by_flag =
        ServerProcess::start(dir.path(), &["--open-registration", "--database-url", url]).await;
    by_flag.register("flag").await;
    by_flag.terminate();

    let config = dir.path().join("estafette.toml");
    std::fs::write(
        &config,
        format!("[registration]\nopen = true\n[database]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let by_file = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()]).await;
    by_file.register("file").await;
    by_file.terminate();

    let by_env = ServerProcess::start_with_env(
        dir.path(),
        &["--open-registration"],
        &[("ESTAFETTE_DATABASE_URL", url)],
    )
    .await;
    by_env.register("environment").await;
    by_env.terminate();

    let pool = inspect(&target).await;
    let users: Vec<String> = sqlx::query("SELECT user_id FROM users ORDER BY user_id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("user_id"))
        .collect();
    assert_eq!(
        users,
        [
            "@environment:localhost:8008",
            "@file:localhost:8008",
            "@flag:localhost:8008"
        ]
    );
    assert!(
        !dir.path().join("estafette-data/estafette.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
}

async fn put(server: &ServerProcess, token: &str, path: &str, body: Value) -> Value {
    let (status, body) = put_to(&server.base_url, token, path, body).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn get(server: &ServerProcess, token: &str, path: &str) -> Value {
    let (status, body) = get_from(&server.base_url, token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn post(server: &ServerProcess, token: &str, path: &str, body: Value) -> Value {
    let (status, body) = post_to(&server.base_url, token, path, body).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn copy_to(dir: &std::path::Path, url: &str) -> std::process::Output {
    Command::new(BINARY)
        .current_dir(dir)
        .args(["db", "copy", "--to", url])
        .output()
        .unwrap()
}

/// A server that started on SQLite moves to PostgreSQL with everything it held.
#[tokio::test]
async fn a_sqlite_server_is_copied_into_postgres_and_serves_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = test_database(dir.path()).await;
    let DatabaseTarget::Postgres(url) = &target else {
        eprintln!("SQLite pass: no PostgreSQL to copy into");
        return;
    };
    let on_sqlite =
        ServerProcess::start(dir.path(), &["--open-registration", "--no-rate-limit"]).await;
    let alice = on_sqlite.register("alice").await;
    let token = alice["access_token"].as_str().unwrap().to_owned();
    let user_id = alice["user_id"].as_str().unwrap().to_owned();
    let room = post(
        &on_sqlite,
        &token,
        "/_matrix/client/v3/createRoom",
        json!({"name": "Budget"}),
    )
    .await;
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    let mut event_ids = Vec::new();
    for n in 0..30 {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{n}");
        let sent = put(
            &on_sqlite,
            &token,
            &path,
            json!({"msgtype": "m.text", "body": format!("note {n} ministère")}),
        )
        .await;
        event_ids.push(sent["event_id"].as_str().unwrap().to_owned());
    }
    let redact = format!(
        "/_matrix/client/v3/rooms/{room_id}/redact/{}/r1",
        event_ids[3]
    );
    put(&on_sqlite, &token, &redact, json!({})).await;
    let filter_path = format!("/_matrix/client/v3/user/{user_id}/filter");
    let old_filter = post(
        &on_sqlite,
        &token,
        &filter_path,
        json!({"room": {"timeline": {"limit": 5}}}),
    )
    .await;
    on_sqlite.terminate();

    let output = copy_to(dir.path(), url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("users: 1 rows"), "{stdout}");
    assert!(stdout.contains("events verified"), "{stdout}");
    assert!(!stdout.contains(" 0 re-hashed"), "{stdout}");
    // (Not `rejected_events: 0 rows`, which a server that never rejected anything shows.)
    assert!(
        !stdout.lines().any(|line| line.trim() == "events: 0 rows"),
        "{stdout}"
    );

    // The same data directory, now on PostgreSQL.
    let on_postgres = ServerProcess::start(
        dir.path(),
        &[
            "--open-registration",
            "--no-rate-limit",
            "--database-url",
            url,
        ],
    )
    .await;
    let (status, login) = on_postgres
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "a long password"}),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    get(&on_postgres, &token, "/_matrix/client/v3/account/whoami").await;
    let history = get(
        &on_postgres,
        &token,
        &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"),
    )
    .await;
    let bodies: Vec<&str> = history["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap_or("(redacted)"))
        .collect();
    assert_eq!(bodies.len(), 30);
    assert_eq!(bodies[0], "note 29 ministère");
    assert_eq!(bodies[26], "(redacted)", "the redaction came along");
    let found = post(
        &on_postgres,
        &token,
        "/_matrix/client/v3/search",
        json!({"search_categories": {"room_events": {"search_term": "ministere note"}}}),
    )
    .await;
    assert_eq!(
        found["search_categories"]["room_events"]["count"], 29,
        "{found}"
    );
    // Writing continues after what was copied.
    let sent = put(
        &on_postgres,
        &token,
        &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/after"),
        json!({"msgtype": "m.text", "body": "after the move"}),
    )
    .await;
    let latest = get(
        &on_postgres,
        &token,
        &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=1"),
    )
    .await;
    assert_eq!(latest["chunk"][0]["event_id"], sent["event_id"]);
    let new_filter = post(
        &on_postgres,
        &token,
        &filter_path,
        json!({"room": {"timeline": {"limit": 7}}}),
    )
    .await;
    assert_ne!(new_filter["filter_id"], old_filter["filter_id"]);
    let kept = get(
        &on_postgres,
        &token,
        &format!(
            "{filter_path}/{}",
            old_filter["filter_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(kept["room"]["timeline"]["limit"], 5);
    on_postgres.terminate();

    // A database that holds data is never overwritten.
    let again = copy_to(dir.path(), url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));
    let pool = inspect(&target).await;
    let messages: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'm.room.message'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(messages, 31);
}
