//! Crashes: the server killed (SIGKILL) while clients create rooms, then started again on the
//! same data. Every room exists whole or not at all, and every room a client was told about
//! is there.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ServerProcess, database_args, get_from, inspect, post_to, put_to, test_database};
use estafette::storage::DatabaseTarget;
use serde_json::{Value, json};
use sqlx::Row;

/// The state every room has from its creation on.
const ROOM_BASICS: &[&str] = &[
    "m.room.create",
    "m.room.member",
    "m.room.power_levels",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
];

/// Each room of the database and the event types it holds.
async fn rooms_in(target: &DatabaseTarget) -> Vec<(String, BTreeSet<String>, bool)> {
    let pool = inspect(target).await;
    let rooms = sqlx::query("SELECT room_id, current_state_group FROM rooms")
        .fetch_all(&pool)
        .await
        .expect("the rooms");
    let types = sqlx::query("SELECT DISTINCT room_id, event_type FROM events")
        .fetch_all(&pool)
        .await
        .expect("the event types");
    pool.close().await;
    rooms
        .iter()
        .map(|row| {
            let room_id: String = row.get("room_id");
            let state: Option<i64> = row.get("current_state_group");
            let types = types
                .iter()
                .filter(|t| t.get::<String, _>("room_id") == room_id)
                .map(|t| t.get::<String, _>("event_type"))
                .collect();
            (room_id, types, state.is_some())
        })
        .collect()
}

#[tokio::test]
async fn a_crash_during_room_creation_leaves_every_room_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = test_database(dir.path()).await;
    let database = database_args(&target);
    let mut args = vec!["--open-registration", "--no-rate-limit"];
    args.extend(database.iter().map(String::as_str));
    let server = ServerProcess::start(dir.path(), &args).await;
    let registered = server.register("alice").await;
    let token = registered["access_token"].as_str().unwrap().to_owned();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut server = Some(server);

    for round in 0..3u64 {
        let running = server.take().expect("a running server");
        let mut creators = Vec::new();
        for creator in 0..6 {
            let (base_url, token, acknowledged) = (
                running.base_url.clone(),
                token.clone(),
                acknowledged.clone(),
            );
            creators.push(tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({"preset": "private_chat",
                        "name": format!("Room {round}-{creator}-{n}"), "topic": "Crash test",
                        "initial_state": [{"type": "org.example.extra", "state_key": "",
                                           "content": {"n": n}}]});
                    let path = "/_matrix/client/v3/createRoom";
                    let (status, body) = post_to(&base_url, &token, path, body).await;
                    match (status, body["room_id"].as_str()) {
                        (200, Some(room_id)) => {
                            acknowledged.lock().unwrap().push(room_id.to_owned())
                        }
                        _ => break,
                    }
                }
            }));
        }
        // Let the creators get going, then kill the server under them.
        let created = || acknowledged.lock().unwrap().len();
        under_load(created, 6 * (round as usize + 1), 200 + 300 * round).await;
        running.kill();
        for creator in creators {
            creator.await.unwrap();
        }
        server = Some(ServerProcess::start(dir.path(), &args).await);
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "too few rooms were created to test anything"
    );
    let rooms = rooms_in(&target).await;
    let stored: BTreeSet<&String> = rooms.iter().map(|(id, _, _)| id).collect();
    for room_id in &acknowledged {
        assert!(
            stored.contains(room_id),
            "{room_id} was acknowledged and lost"
        );
    }
    for (room_id, types, has_state) in &rooms {
        let missing: Vec<&&str> = ROOM_BASICS
            .iter()
            .filter(|t| !types.contains(**t))
            .collect();
        assert!(
            missing.is_empty() && *has_state,
            "{room_id} is half-created: it lacks {missing:?} ({} rooms, {} acknowledged)",
            rooms.len(),
            acknowledged.len()
        );
    }
    // The restarted server serves the rooms.
    let server = server.expect("the restarted server");
    let (status, _) = server
        .post_as(&token, "/_matrix/client/v3/createRoom", json!({}))
        .await;
    assert_eq!(status, 200);
}

/// A PUT of a message with its transaction ID, to a server that may be killed meanwhile.
async fn send_message(base_url: &str, token: &str, room_id: &str, txn: &str) -> (u16, Value) {
    let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
    let body = json!({"msgtype": "m.text", "body": format!("message {txn}")});
    put_to(base_url, token, &path, body).await
}

#[tokio::test]
async fn a_crash_during_a_send_load_loses_no_acknowledged_message_and_retries_never_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let target = test_database(dir.path()).await;
    let database = database_args(&target);
    let mut args = vec!["--open-registration", "--no-rate-limit"];
    args.extend(database.iter().map(String::as_str));
    let server = ServerProcess::start(dir.path(), &args).await;
    let token = server.register("alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, room) = server
        .post_as(&token, "/_matrix/client/v3/createRoom", json!({}))
        .await;
    assert_eq!(status, 200);
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    // Transaction ID → the event ID the server acknowledged; and those cut off by the crash.
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let cut_off: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut server = Some(server);
    for round in 0..2u64 {
        let running = server.take().expect("a running server");
        let mut senders = Vec::new();
        for sender in 0..6 {
            let (base_url, token, room_id) =
                (running.base_url.clone(), token.clone(), room_id.clone());
            let (acknowledged, cut_off) = (acknowledged.clone(), cut_off.clone());
            senders.push(tokio::spawn(async move {
                for n in 0.. {
                    let txn = format!("r{round}s{sender}n{n}");
                    match send_message(&base_url, &token, &room_id, &txn).await {
                        (200, body) => {
                            let event_id = body["event_id"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().insert(txn, event_id);
                        }
                        _ => {
                            cut_off.lock().unwrap().push(txn);
                            break;
                        }
                    }
                }
            }));
        }
        let sent = || acknowledged.lock().unwrap().len();
        under_load(sent, 12 * (round as usize + 1), 100 + 300 * round).await;
        running.kill();
        for sender in senders {
            sender.await.unwrap();
        }
        server = Some(ServerProcess::start(dir.path(), &args).await);
    }
    let server = server.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 20, "too few messages to test anything");

    // Every acknowledged message is there, and its retry answers the same event.
    for (txn, event_id) in &acknowledged {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}");
        let (status, _) = get_from(&server.base_url, &token, &path).await;
        assert_eq!(status, 200, "{event_id} ({txn}) was acknowledged and lost");
        let (status, retried) = send_message(&server.base_url, &token, &room_id, txn).await;
        assert_eq!(
            (status, retried["event_id"].as_str()),
            (200, Some(event_id.as_str()))
        );
    }
    // A request the crash cut off may or may not have been stored; retried twice, it is
    // stored once.
    let cut_off = cut_off.lock().unwrap().clone();
    for txn in &cut_off {
        let first = send_message(&server.base_url, &token, &room_id, txn).await;
        let second = send_message(&server.base_url, &token, &room_id, txn).await;
        assert_eq!(first.0, 200);
        assert_eq!(first.1["event_id"], second.1["event_id"]);
    }
    let pool = inspect(&target).await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT json FROM events WHERE event_type = 'm.room.message' AND room_id = $1",
    )
    .bind(&room_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut bodies: Vec<String> = stored
        .iter()
        .map(|json| {
            let event: Value = serde_json::from_str(json).unwrap();
            event["content"]["body"].as_str().unwrap().to_owned()
        })
        .collect();
    let total = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), total, "a message was stored twice");
    assert_eq!(total, acknowledged.len() + cut_off.len());
}

/// Waits until the load has been acknowledged `at_least` times (however slow the machine),
/// then `then_ms` more, so that a kill lands in the middle of it.
async fn under_load(acknowledged: impl Fn() -> usize, at_least: usize, then_ms: u64) {
    for _ in 0..3_000 {
        if acknowledged() >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(then_ms)).await;
}
