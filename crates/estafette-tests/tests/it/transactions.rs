//! Transaction IDs are scoped to the device and the request path (the spec's "transaction
//! identifiers"): a retry on the same path is the same request, anything else is a new one.

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::create_room;

async fn put_ok(client: &RawClient, path: &str, body: Value) -> Value {
    let response = client.put(path, body).await;
    response.assert_ok();
    response.body
}

/// The event IDs of a room's events of `kind`, oldest first.
async fn events_of(client: &RawClient, room_id: &str, kind: &str) -> Vec<String> {
    let page = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=f&limit=100"
        ))
        .await;
    page.body["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == kind)
        .filter_map(|e| e["event_id"].as_str().map(ToOwned::to_owned))
        .collect()
}

#[tokio::test]
async fn one_transaction_id_on_different_paths_is_different_requests() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let alice = raw.clone_with(&token);
    let first_room = create_room(&alice, json!({})).await;
    let second_room = create_room(&alice, json!({})).await;
    let send = |room: &str, kind: &str| format!("/_matrix/client/v3/rooms/{room}/send/{kind}/1");
    let text = json!({"msgtype": "m.text", "body": "Bonjour"});

    // The same ID in two rooms: two messages, as a client numbering per room expects.
    let in_first = put_ok(&alice, &send(&first_room, "m.room.message"), text.clone()).await;
    let in_second = put_ok(&alice, &send(&second_room, "m.room.message"), text.clone()).await;
    assert_ne!(in_first["event_id"], in_second["event_id"]);
    assert_eq!(
        events_of(&alice, &second_room, "m.room.message").await,
        [in_second["event_id"].as_str().unwrap()]
    );

    // Another event type is another path; a retry on the first path is the first event.
    let reaction = json!({"m.relates_to": {"rel_type": "m.annotation",
        "event_id": in_first["event_id"], "key": "👍"}});
    let reacted = put_ok(&alice, &send(&first_room, "m.reaction"), reaction).await;
    assert_ne!(reacted["event_id"], in_first["event_id"]);
    let retried = put_ok(&alice, &send(&first_room, "m.room.message"), text.clone()).await;
    assert_eq!(retried["event_id"], in_first["event_id"]);
    assert_eq!(
        events_of(&alice, &first_room, "m.room.message").await,
        [in_first["event_id"].as_str().unwrap()]
    );

    // A redaction with the same ID redacts, and its retry is the same redaction.
    let redact = format!(
        "/_matrix/client/v3/rooms/{first_room}/redact/{}/1",
        reacted["event_id"].as_str().unwrap()
    );
    let redaction = put_ok(&alice, &redact, json!({})).await;
    assert_ne!(redaction["event_id"], in_first["event_id"]);
    assert_eq!(put_ok(&alice, &redact, json!({})).await, redaction);
    assert_eq!(
        events_of(&alice, &first_room, "m.room.redaction").await,
        [redaction["event_id"].as_str().unwrap()]
    );

    // Another device of the same user has its own IDs.
    let login = raw.login("alice", "alice's password").await;
    let other_device = raw.clone_with(login.body["access_token"].as_str().unwrap());
    let from_other = put_ok(&other_device, &send(&first_room, "m.room.message"), text).await;
    assert_ne!(from_other["event_id"], in_first["event_id"]);
    assert_eq!(
        events_of(&alice, &first_room, "m.room.message").await.len(),
        2
    );
}

#[tokio::test]
async fn one_transaction_id_for_two_to_device_types_delivers_both() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, alice_token, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob_token, bob_device) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice_token), raw.clone_with(&bob_token));
    let to_bob = |n: u32| json!({"messages": {&bob_id: {&bob_device: {"n": n}}}});
    for (kind, n) in [("org.example.ping", 1), ("org.example.pong", 2)] {
        put_ok(
            &alice,
            &format!("/_matrix/client/v3/sendToDevice/{kind}/7"),
            to_bob(n),
        )
        .await;
    }
    // A retry of the first is not delivered again.
    put_ok(
        &alice,
        "/_matrix/client/v3/sendToDevice/org.example.ping/7",
        to_bob(1),
    )
    .await;
    let sync = bob.get("/_matrix/client/v3/sync?timeout=0").await;
    let received: Vec<(String, Value)> = sync.body["to_device"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["sender"] == alice_id.as_str())
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["content"]["n"].clone(),
            )
        })
        .collect();
    assert_eq!(
        received,
        [
            ("org.example.ping".to_owned(), json!(1)),
            ("org.example.pong".to_owned(), json!(2))
        ]
    );
}
