//! Choosing the database: SQLite by default, PostgreSQL by `--database-url`, `database.url` in
//! the configuration file or `ESTAFETTE_DATABASE_URL`.

mod common;

use std::process::Command;

use common::{BINARY, ServerProcess, inspect, test_database};
use estafette::storage::DatabaseTarget;
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
