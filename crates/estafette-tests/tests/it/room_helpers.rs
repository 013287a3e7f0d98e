//! Room scenarios over raw HTTP, shared by the federation tests (Estafette and Synapse alike).

use std::time::Duration;

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

/// Polls `check` until it returns something, for at most ten seconds.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The bodies of the `m.room.message` events a user can read in a room, oldest first.
pub(crate) async fn messages(client: &RawClient, room_id: &str) -> Vec<String> {
    let response = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"
        ))
        .await;
    let mut bodies: Vec<String> = response.body["chunk"]
        .as_array()
        .map(|chunk| {
            chunk
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .filter_map(|e| e["content"]["body"].as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default();
    bodies.reverse();
    bodies
}

pub(crate) async fn joined_members(client: &RawClient, room_id: &str) -> Vec<String> {
    let response = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/joined_members"
        ))
        .await;
    let mut members: Vec<String> = response.body["joined"]
        .as_object()
        .map(|joined| joined.keys().cloned().collect())
        .unwrap_or_default();
    members.sort();
    members
}

pub(crate) async fn send_text(client: &RawClient, room_id: &str, txn: &str, body: &str) -> String {
    let response = client
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}"),
            json!({"msgtype": "m.text", "body": body}),
        )
        .await;
    response.assert_ok();
    response.body["event_id"].as_str().unwrap().to_owned()
}

pub(crate) async fn user(raw: RawClient, name: &str) -> (String, RawClient) {
    let (user_id, token, _) = raw.register(name, &format!("{name}'s password")).await;
    (user_id, raw.clone_with(&token))
}

pub(crate) async fn create_room(client: &RawClient, body: Value) -> String {
    let response = client.post("/_matrix/client/v3/createRoom", body).await;
    response.assert_ok();
    response.body["room_id"].as_str().unwrap().to_owned()
}

pub(crate) async fn invited_rooms(client: &RawClient) -> Vec<String> {
    let sync = client.get("/_matrix/client/v3/sync?timeout=0").await;
    sync.body["rooms"]["invite"]
        .as_object()
        .map(|rooms| rooms.keys().cloned().collect())
        .unwrap_or_default()
}

/// User IDs in a stable order, for comparing member lists.
pub(crate) fn sorted<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().cloned().collect();
    ids.sort();
    ids
}

/// Who is typing in a room, from one long-poll-free sync.
pub(crate) async fn typing_users(client: &RawClient, room_id: &str) -> Vec<String> {
    let sync = client.get("/_matrix/client/v3/sync?timeout=0").await;
    sync.body["rooms"]["join"][room_id]["ephemeral"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.typing")
        .flat_map(|e| {
            e["content"]["user_ids"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|u| u.as_str().map(ToOwned::to_owned))
        .collect()
}

/// The event a user's public read receipt points at in a room, as another member syncs it.
pub(crate) async fn read_receipt_of(
    client: &RawClient,
    room_id: &str,
    user_id: &str,
) -> Option<String> {
    let sync = client.get("/_matrix/client/v3/sync?timeout=0").await;
    let events = sync.body["rooms"]["join"][room_id]["ephemeral"]["events"]
        .as_array()?
        .clone();
    events
        .iter()
        .filter(|e| e["type"] == "m.receipt")
        .flat_map(|e| e["content"].as_object().cloned().unwrap_or_default())
        .find(|(_, receipt)| receipt["m.read"].get(user_id).is_some())
        .map(|(event_id, _)| event_id)
}

/// The `membership` a user has in a room, as a member's server sees it.
pub(crate) async fn membership_of(
    client: &RawClient,
    room_id: &str,
    user_id: &str,
) -> Option<String> {
    let state = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user_id}"
        ))
        .await;
    state.body["membership"].as_str().map(ToOwned::to_owned)
}

/// `client` invites `user_id` into the room.
pub(crate) async fn invite(client: &RawClient, room_id: &str, user_id: &str) {
    client
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": user_id}),
        )
        .await
        .assert_ok();
}

/// `client` joins the room as soon as its invite has arrived.
pub(crate) async fn join_once_invited(client: &RawClient, room_id: &str) {
    eventually("the invite to arrive", || async {
        client
            .post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
            .await
            .status
            .eq(&200)
            .then_some(())
    })
    .await;
}

/// Alice's room with Bob (of another server) joined: the usual start of a scenario.
pub(crate) async fn shared_room(
    home: &TestServer,
    remote: &TestServer,
) -> (String, (String, RawClient), (String, RawClient)) {
    let (alice_id, alice) = user(home.raw(), "alice").await;
    let (bob_id, bob) = user(remote.raw(), "bob").await;
    let room_id = create_room(&alice, json!({"preset": "public_chat"})).await;
    // A v12 room ID names no server: the joining server is told where to ask.
    let via = home.server_name();
    bob.post(
        &format!("/_matrix/client/v3/join/{room_id}?via={via}"),
        json!({}),
    )
    .await
    .assert_ok();
    let both = sorted([&alice_id, &bob_id]);
    eventually("Alice's server to see Bob's join", || async {
        (joined_members(&alice, &room_id).await == both).then_some(())
    })
    .await;
    (room_id, (alice_id, alice), (bob_id, bob))
}

/// The room's current state as `(type, state_key) → event_id`, as a member's server has it.
pub(crate) async fn state_ids(
    client: &estafette_tests::RawClient,
    room_id: &str,
) -> Vec<(String, String, String)> {
    let state = client
        .get(&format!("/_matrix/client/v3/rooms/{room_id}/state"))
        .await;
    let mut ids: Vec<(String, String, String)> = state
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|e: &Value| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["state_key"].as_str().unwrap_or_default().to_owned(),
                e["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// Every event ID in a room's timeline, as a member's server has it.
pub(crate) async fn event_ids(client: &estafette_tests::RawClient, room_id: &str) -> Vec<String> {
    let history = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=1000"
        ))
        .await;
    let mut ids: Vec<String> = history.body["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str().map(ToOwned::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Every event of a room a client can page back to with `/messages`, ten at a time, newest
/// first.
pub(crate) async fn page_back(client: &RawClient, room_id: &str) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..50 {
        let query = from
            .as_ref()
            .map(|f| format!("&from={f}"))
            .unwrap_or_default();
        let page = client
            .get(&format!(
                "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=10{query}"
            ))
            .await;
        page.assert_ok();
        let chunk = page.body["chunk"].as_array().cloned().unwrap_or_default();
        let done = chunk.is_empty();
        events.extend(chunk);
        match page.body["end"].as_str() {
            Some(end) if !done => from = Some(end.to_owned()),
            _ => break,
        }
    }
    events
}

/// `guest` joins `#alias:server`; returns once `watcher`'s server sees exactly `members`.
pub(crate) async fn join_by_alias(
    guest: &RawClient,
    alias: &str,
    server: &str,
    watcher: &RawClient,
    room_id: &str,
    members: &[String],
) {
    guest
        .post(
            &format!("/_matrix/client/v3/join/%23{alias}:{server}"),
            json!({}),
        )
        .await
        .assert_ok();
    eventually("the other server to see the join", || async {
        (joined_members(watcher, room_id).await == members).then_some(())
    })
    .await;
}

/// `text` percent-encoded for a URL path segment or query value.
pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Turns encryption on in `room_id` (Megolm, as clients do).
pub(crate) async fn encrypt_room(client: &RawClient, room_id: &str) {
    client
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.encryption/"),
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await
        .assert_ok();
}
