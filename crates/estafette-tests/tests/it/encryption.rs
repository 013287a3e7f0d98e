//! End-to-end encryption with real matrix-sdk crypto clients: keys, to-device, decryption.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_tests::TestServer;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use serde_json::json;

/// Collects the plaintext bodies a client decrypts during sync.
pub(crate) fn decrypted_bodies(client: &Client) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.content.body().to_owned());
        }
    });
    seen
}

/// Creates an encrypted room with `invitee` invited.
pub(crate) async fn create_encrypted_room(creator: &Client, invitee: &Client) -> matrix_sdk::Room {
    let mut request = create_room::v3::Request::new();
    request.invite = vec![invitee.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    creator.create_room(request).await.unwrap()
}

/// Syncs until `seen` holds `expected`, a bounded number of times.
pub(crate) async fn sync_until(client: &Client, seen: &Arc<Mutex<Vec<String>>>, expected: &[&str]) {
    for _ in 0..10 {
        client
            .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
            .await
            .unwrap();
        if expected
            .iter()
            .all(|e| seen.lock().unwrap().iter().any(|s| s == e))
        {
            return;
        }
    }
    panic!(
        "{:?} never decrypted {expected:?}; saw {:?}",
        client.user_id(),
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn two_users_with_two_devices_each_decrypt_everything() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let alice_laptop = server.login("alice", &alice.password).await;
    let bob_laptop = server.login("bob", &bob.password).await;
    let clients = [&alice.client, &alice_laptop, &bob.client, &bob_laptop];
    // The first sync uploads each device's identity and one-time keys.
    for client in clients {
        client.sync_once(SyncSettings::default()).await.unwrap();
    }

    let room = create_encrypted_room(&alice.client, &bob.client).await;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    bob.client.join_room_by_id(room.room_id()).await.unwrap();
    let seen: Vec<_> = clients.iter().map(|c| decrypted_bodies(c)).collect();
    for client in clients {
        client.sync_once(SyncSettings::default()).await.unwrap();
    }
    assert!(room.latest_encryption_state().await.unwrap().is_encrypted());

    room.send(RoomMessageEventContent::text_plain("from alice's phone"))
        .await
        .unwrap();
    let bob_room = bob_laptop
        .get_room(room.room_id())
        .expect("bob's laptop knows the room");
    bob_room
        .send(RoomMessageEventContent::text_plain("from bob's laptop"))
        .await
        .unwrap();

    for (client, seen) in clients.iter().zip(&seen) {
        sync_until(client, seen, &["from alice's phone", "from bob's laptop"]).await;
    }

    // The server only ever stored ciphertext.
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let history = raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b",
            room.room_id()
        ))
        .await;
    let text = history.body.to_string();
    assert!(
        text.contains("m.room.encrypted") && !text.contains("from alice's phone"),
        "{text}"
    );
}

#[tokio::test]
async fn key_upload_refuses_bad_keys_and_claims_fall_back() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let user_id = alice.client.user_id().unwrap().to_string();
    let device_id = alice.client.device_id().unwrap().to_string();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());

    // The SDK's keys are stored and served.
    let query = raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&user_id: []}}),
        )
        .await;
    let keys = &query.body["device_keys"][&user_id][&device_id];
    assert!(
        keys["keys"][format!("ed25519:{device_id}")].is_string(),
        "{query:?}"
    );
    let upload = raw.post("/_matrix/client/v3/keys/upload", json!({})).await;
    let available = upload.body["one_time_key_counts"]["signed_curve25519"]
        .as_u64()
        .unwrap();
    assert!(available > 0);

    // Identity keys cannot be swapped, and keys must be signed by the device.
    let mut changed = keys.clone();
    changed["keys"][format!("curve25519:{device_id}")] = json!("AAAA");
    raw.post(
        "/_matrix/client/v3/keys/upload",
        json!({"device_keys": changed}),
    )
    .await
    .assert_error(400, "M_INVALID_SIGNATURE");
    let mut someone_else = keys.clone();
    someone_else["user_id"] = json!("@mallory:example.org");
    raw.post(
        "/_matrix/client/v3/keys/upload",
        json!({"device_keys": someone_else}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    let forged = json!({"signed_curve25519:FORGED": {"key": "abc", "signatures": {&user_id: {format!("ed25519:{device_id}"): "bad"}}}});
    raw.post(
        "/_matrix/client/v3/keys/upload",
        json!({"one_time_keys": forged}),
    )
    .await
    .assert_error(400, "M_INVALID_SIGNATURE");
    let after = raw.post("/_matrix/client/v3/keys/upload", json!({})).await;
    assert_eq!(
        after.body["one_time_key_counts"]["signed_curve25519"].as_u64(),
        Some(available),
        "nothing changed"
    );

    // Every one-time key goes out once, then the fallback key.
    let bob = server.register_user("bob").await;
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    let claim = json!({"one_time_keys": {&user_id: {&device_id: "signed_curve25519"}}});
    let mut seen = std::collections::HashSet::new();
    for _ in 0..available {
        let claimed = bob_raw
            .post("/_matrix/client/v3/keys/claim", claim.clone())
            .await;
        let key_id = claimed.body["one_time_keys"][&user_id][&device_id]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        assert!(seen.insert(key_id));
    }
    let fallback = bob_raw
        .post("/_matrix/client/v3/keys/claim", claim.clone())
        .await;
    let fallback_key = fallback.body["one_time_keys"][&user_id][&device_id]
        .as_object()
        .unwrap();
    assert_eq!(
        fallback_key.values().next().unwrap()["fallback"],
        true,
        "{fallback:?}"
    );
    let sync = raw.get("/_matrix/client/v3/sync").await;
    assert_eq!(
        sync.body["device_one_time_keys_count"]
            .get("signed_curve25519")
            .and_then(|c| c.as_u64())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn device_list_changes_reach_room_mates_through_sync_and_keys_changes() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let room = alice.client.create_room(request).await.unwrap();
    bob.client.join_room_by_id(room.room_id()).await.unwrap();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let since = raw.get("/_matrix/client/v3/sync").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = bob.client.user_id().unwrap().to_string();

    // Bob's new device uploads its keys: Alice hears about it.
    let laptop = server.login("bob", &bob.password).await;
    laptop
        .sync_once(SyncSettings::default().timeout(Duration::from_millis(100)))
        .await
        .unwrap();
    let sync = raw
        .get(&format!("/_matrix/client/v3/sync?since={since}"))
        .await;
    let changed = sync.body["device_lists"]["changed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(changed.iter().any(|u| u == &json!(bob_id)), "{sync:?}");
    let now = sync.body["next_batch"].as_str().unwrap().to_owned();
    let changes = raw
        .get(&format!(
            "/_matrix/client/v3/keys/changes?from={since}&to={now}"
        ))
        .await;
    assert!(
        changes.body["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == &json!(bob_id))
    );

    // Bob leaves the only room they shared: Alice stops tracking him.
    bob.client
        .get_room(room.room_id())
        .unwrap()
        .leave()
        .await
        .unwrap();
    let after = raw
        .get(&format!("/_matrix/client/v3/sync?since={now}"))
        .await;
    let left = after.body["device_lists"]["left"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(left.iter().any(|u| u == &json!(bob_id)), "{after:?}");
}

#[tokio::test]
async fn bad_signature_uploads_are_reported_per_key_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    alice
        .client
        .sync_once(SyncSettings::default().timeout(Duration::from_millis(100)))
        .await
        .unwrap();
    alice
        .client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .unwrap();
    let user_id = alice.client.user_id().unwrap().to_string();
    let device_id = alice.client.device_id().unwrap().to_string();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let query = raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&user_id: []}}),
        )
        .await;
    let ssk_id = query.body["self_signing_keys"][&user_id]["keys"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let mut device = query.body["device_keys"][&user_id][&device_id].clone();
    device.as_object_mut().unwrap().remove("unsigned");
    device["signatures"] = json!({&user_id: {&ssk_id: "bm90IGEgc2lnbmF0dXJl"}});
    let upload = raw
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            json!({&user_id: {&device_id: device}}),
        )
        .await;
    upload.assert_ok();
    assert_eq!(
        upload.body["failures"][&user_id][&device_id]["errcode"], "M_INVALID_SIGNATURE",
        "{upload:?}"
    );
    let again = raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&user_id: []}}),
        )
        .await;
    assert_eq!(
        again.body["device_keys"][&user_id][&device_id]["signatures"],
        query.body["device_keys"][&user_id][&device_id]["signatures"],
        "the stored signatures did not change"
    );
}
