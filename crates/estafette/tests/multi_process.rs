//! Several `estafette serve` processes of one server on one PostgreSQL database, killed as a
//! crash would kill them. Runs in the PostgreSQL pass of the test command.

mod common;

use std::time::{Duration, Instant};

use common::{ServerProcess, free_port, get_from, inspect, post_to, put_to, test_database};
use estafette::storage::DatabaseTarget;
use serde_json::{Value, json};

/// Retries `check` for up to 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn text_bodies(messages: &Value) -> Vec<String> {
    let mut bodies: Vec<String> = messages["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str().map(ToOwned::to_owned))
        .collect();
    bodies.reverse();
    bodies
}

#[tokio::test]
async fn a_surviving_process_takes_over_the_deliveries_of_one_that_died() {
    let dir = tempfile::tempdir().unwrap();
    let target = test_database(dir.path()).await;
    let DatabaseTarget::Postgres(url) = &target else {
        eprintln!("SQLite pass: a server is one process");
        return;
    };
    let config = dir.path().join("x.toml");
    std::fs::write(
        &config,
        "[federation]\nlease_ms = 1000\nretry_initial_ms = 200\nretry_max_ms = 400\n",
    )
    .unwrap();
    let (x_port, second_port, y_port) = (free_port(), free_port(), free_port());
    let x_name = format!("localhost:{x_port}");
    let quiet = [("RUST_LOG", "warn")];
    let x_process = |federation_port: u16, data: &str| {
        let args: Vec<String> = [
            "--config",
            config.to_str().unwrap(),
            "--open-registration",
            "--federation-insecure-tls",
            "--server-name",
            &x_name,
            "--database-url",
            url,
            "--federation-listen",
            &format!("127.0.0.1:{federation_port}"),
            "--data-dir",
            data,
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        args
    };
    let first_args = x_process(x_port, "first");
    let second_args = x_process(second_port, "second");
    let y_args: Vec<String> = [
        "--open-registration",
        "--federation-insecure-tls",
        "--server-name",
        &format!("localhost:{y_port}"),
        "--federation-listen",
        &format!("127.0.0.1:{y_port}"),
        "--data-dir",
        "y",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    let first = ServerProcess::start_with_env(dir.path(), &as_strs(&first_args), &quiet).await;
    let y = ServerProcess::start_with_env(dir.path(), &as_strs(&y_args), &quiet).await;

    let alice = first.register("alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = y.register("carol").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol_id = format!("@carol:localhost:{y_port}");
    let (status, created) = first
        .post_as(
            &alice,
            "/_matrix/client/v3/createRoom",
            json!({"preset": "private_chat", "invite": [carol_id]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let room_id = created["room_id"].as_str().unwrap().to_owned();
    let join = format!("/_matrix/client/v3/join/{room_id}");
    eventually("Carol to join from the other server", || async {
        post_to(&y.base_url, &carol, &join, json!({})).await.0 == 200
    })
    .await;
    let members = format!("/_matrix/client/v3/rooms/{room_id}/joined_members");
    eventually("the room to have Carol as a member", || async {
        get_from(&first.base_url, &alice, &members).await.1["joined"]
            .get(&carol_id)
            .is_some()
    })
    .await;

    // The other server goes down; messages queue up for it in the first process, which holds
    // the delivery lease and retries; the second only knows of the queue from the database.
    y.kill();
    let mut sent = Vec::new();
    for n in 0..6 {
        let base_url = &first.base_url;
        let body = format!("while Y was down {n}");
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{n}");
        let (status, _) = put_to(
            base_url,
            &alice,
            &path,
            json!({"msgtype": "m.text", "body": body}),
        )
        .await;
        assert_eq!(status, 200);
        sent.push(body);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A second process starts now, when the first holds the lease: it finds the queue but
    // may not deliver.
    let second = ServerProcess::start_with_env(dir.path(), &as_strs(&second_args), &quiet).await;
    let pool = inspect(&target).await;
    let lease: Option<String> = sqlx::query_scalar("SELECT owner FROM federation_leases")
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert!(lease.is_some(), "the first process holds the lease");
    // The process delivering to Y dies without a trace: its lease expires, the survivor takes
    // the queue over.
    first.kill();
    let y = ServerProcess::start_with_env(dir.path(), &as_strs(&y_args), &quiet).await;
    let history = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50");
    eventually("the survivor to deliver everything, in order", || async {
        text_bodies(&get_from(&y.base_url, &carol, &history).await.1) == sent
    })
    .await;
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM federation_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "nothing is left queued");
    drop(second);
}
