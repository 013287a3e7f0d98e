//! The `estafette` binary as an operator uses it: flags, configuration files, signals and
//! the admin command.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

mod common;

use common::{BINARY, ServerProcess, free_port};

#[tokio::test]
async fn serve_without_configuration_uses_the_defaults_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--open-registration"]).await;
    let registered = server.register("alice").await;
    assert_eq!(registered["user_id"], "@alice:localhost:8008");
    assert!(
        dir.path().join("estafette-data/estafette.db").exists(),
        "data lives in ./estafette-data"
    );
    let output = server.terminate();
    assert!(
        output.status.success(),
        "graceful shutdown exits 0: {output:?}"
    );
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("shutting down"), "{logs}");
}

#[tokio::test]
async fn registration_is_closed_unless_opened() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]).await;
    let (status, body) = server
        .post("/_matrix/client/v3/register", json!({"username": "x", "password": "a long password", "auth": {"type": "m.login.dummy"}}))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
}

#[tokio::test]
async fn flags_override_the_configuration_file_and_json_logs_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("estafette.toml");
    std::fs::write(
        &config,
        "server_name = \"from-file.example\"\ndata_dir = \"file-data\"\n[registration]\nopen = true\n[logging]\nformat = \"json\"\n",
    )
    .unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--server-name",
            "from-flag.example",
            "--data-dir",
            "flag-data",
        ],
    )
    .await;
    assert_eq!(
        server.register("bob").await["user_id"],
        "@bob:from-flag.example"
    );
    assert!(dir.path().join("flag-data/estafette.db").exists());
    assert!(!dir.path().join("file-data").exists());
    let output = server.terminate();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run estafette")
}

#[test]
fn a_bad_configuration_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[rate_limit]\nburst = 0\n", "rate_limit.burst"),
        ("sever_name = \"typo\"\n", "sever_name"),
        ("listen = \"not an address\"\n", "listen"),
        ("server_name = \"bad name!\"\n", "server_name"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let output = run(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "names {key}: {stderr}");
    }
    let missing = run(dir.path(), &["serve", "--config", "nowhere.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere.toml"));
}

#[tokio::test]
async fn admin_create_user_makes_an_account_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let common = ["--data-dir", "data", "--server-name", "gov.example"];
    let created = run(
        dir.path(),
        &[
            &[
                "admin",
                "create-user",
                "root",
                "--admin",
                "--password",
                "root password 1",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(created.status.success(), "{created:?}");
    assert!(String::from_utf8_lossy(&created.stdout).contains("@root:gov.example (admin)"));
    let generated = run(
        dir.path(),
        &[&["admin", "create-user", "clerk"][..], &common].concat(),
    );
    let stdout = String::from_utf8_lossy(&generated.stdout).to_string();
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password")
        .to_owned();
    let again = run(
        dir.path(),
        &[&["admin", "create-user", "root"][..], &common].concat(),
    );
    assert_eq!(again.status.code(), Some(2), "an existing user is refused");

    let server = ServerProcess::start(dir.path(), &common).await;
    for (user, password) in [("root", "root password 1"), ("clerk", password.as_str())] {
        let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
        let (status, body) = server.post("/_matrix/client/v3/login", login).await;
        assert_eq!(status, 200, "{user}: {body}");
    }
}

#[tokio::test]
async fn federation_flags_start_a_tls_listener_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let federation = format!("127.0.0.1:{}", free_port());
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--federation-listen",
            &federation,
            "--federation-insecure-tls",
        ],
    )
    .await;
    assert!(dir.path().join("estafette-data/federation.crt").exists());
    assert!(dir.path().join("estafette-data/federation.key").exists());
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let keys: Value = http
        .get(format!("https://{federation}/_matrix/key/v2/server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["server_name"], "localhost:8008");
    let output = server.terminate();
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("insecure_tls"),
        "the insecure mode is announced: {logs}"
    );
}
