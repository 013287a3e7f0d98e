//! Rooms on real PDUs: creation with every preset and version, membership, messages, /sync.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_tests::TestServer;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::RoomVersionId;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::{Client, RoomState};
use serde_json::json;

fn create_request(
    preset: create_room::v3::RoomPreset,
    version: RoomVersionId,
) -> create_room::v3::Request {
    let mut request = create_room::v3::Request::new();
    request.preset = Some(preset);
    request.room_version = Some(version);
    request.name = Some("Cabinet".to_owned());
    request.topic = Some("Weekly meeting".to_owned());
    request
}

/// Collects the bodies of the text messages a client receives through sync.
fn collect_messages(client: &Client) -> Arc<Mutex<Vec<String>>> {
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

#[tokio::test]
async fn rooms_of_every_preset_and_version_get_the_right_state() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    for version in [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12] {
        for (preset, join_rule) in [
            (create_room::v3::RoomPreset::PrivateChat, "invite"),
            (create_room::v3::RoomPreset::PublicChat, "public"),
            (create_room::v3::RoomPreset::TrustedPrivateChat, "invite"),
        ] {
            let room = alice
                .client
                .create_room(create_request(preset.clone(), version.clone()))
                .await
                .unwrap();
            let path = format!("/_matrix/client/v3/rooms/{}/state", room.room_id());
            let create = raw.get(&format!("{path}/m.room.create/")).await;
            assert_eq!(create.body["room_version"], version.as_str(), "{preset:?}");
            assert_eq!(
                raw.get(&format!("{path}/m.room.join_rules/")).await.body["join_rule"],
                join_rule
            );
            assert_eq!(
                raw.get(&format!("{path}/m.room.name/")).await.body["name"],
                "Cabinet"
            );
            assert_eq!(
                raw.get(&format!("{path}/m.room.topic/")).await.body["topic"],
                "Weekly meeting"
            );
            let state = raw.get(&path).await;
            assert!(state.body.as_array().unwrap().len() >= 7, "{state:?}");
        }
    }
    raw.post(
        "/_matrix/client/v3/createRoom",
        json!({"room_version": "1"}),
    )
    .await
    .assert_error(400, "M_UNSUPPORTED_ROOM_VERSION");
}

#[tokio::test]
async fn an_invited_user_joins_and_messages_arrive_through_sync() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let bob_id = bob.client.user_id().unwrap().to_owned();
    let mut request = create_request(create_room::v3::RoomPreset::PrivateChat, RoomVersionId::V12);
    request.invite = vec![bob_id.clone()];
    let room = alice.client.create_room(request).await.unwrap();
    let room_id = room.room_id().to_owned();

    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    let invited = bob.client.get_room(&room_id).expect("bob sees the invite");
    assert_eq!(invited.state(), RoomState::Invited);
    invited.join().await.unwrap();

    let bob_messages = collect_messages(&bob.client);
    let token = bob
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap()
        .next_batch;
    room.send(RoomMessageEventContent::text_plain("Hello Bob"))
        .await
        .unwrap();
    bob.client
        .sync_once(SyncSettings::default().token(token))
        .await
        .unwrap();
    assert_eq!(*bob_messages.lock().unwrap(), vec!["Hello Bob".to_owned()]);

    let bob_room = bob.client.get_room(&room_id).unwrap();
    assert_eq!(bob_room.state(), RoomState::Joined);
    bob_room
        .send(RoomMessageEventContent::text_plain("Hi Alice"))
        .await
        .unwrap();
    let history = room.messages(MessagesOptions::backward()).await.unwrap();
    let bodies: Vec<String> = history
        .chunk
        .iter()
        .filter_map(|event| {
            event
                .raw()
                .get_field::<serde_json::Value>("content")
                .ok()
                .flatten()
        })
        .filter_map(|content| {
            content
                .get("body")
                .and_then(|b| b.as_str())
                .map(ToOwned::to_owned)
        })
        .collect();
    assert_eq!(bodies, vec!["Hi Alice", "Hello Bob"], "newest first");
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let members = alice
        .client
        .get_room(&room_id)
        .unwrap()
        .joined_user_ids()
        .await
        .unwrap();
    assert!(members.contains(&bob_id));
}

#[tokio::test]
async fn a_waiting_sync_wakes_when_a_message_arrives() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, alice_token, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob_token, _) = raw.register("bob", "bob's password").await;
    let alice = raw.clone_with(&alice_token);
    let bob = raw.clone_with(&bob_token);
    let room = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat"}),
        )
        .await;
    let room_id = room.body["room_id"].as_str().unwrap().to_owned();
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let since = bob.get("/_matrix/client/v3/sync").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let waiting = tokio::spawn(async move {
        bob.get(&format!(
            "/_matrix/client/v3/sync?since={since}&timeout=30000"
        ))
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1"),
            json!({"msgtype": "m.text", "body": "wake up"}),
        )
        .await
        .assert_ok();
    let woke = waiting.await.unwrap();
    woke.assert_ok();
    let events = woke.body["rooms"]["join"][&room_id]["timeline"]["events"]
        .as_array()
        .expect("the room is in the sync")
        .clone();
    assert_eq!(events.len(), 1, "{woke:?}");
    assert_eq!(events[0]["content"]["body"], "wake up");
    assert_ne!(events[0]["sender"], bob_id);
}

#[tokio::test]
async fn sending_is_idempotent_per_transaction_and_history_paginates() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let alice = raw.with_token(token);
    let room_id = alice
        .post("/_matrix/client/v3/createRoom", json!({}))
        .await
        .body["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = &alice;
    let send = |txn: String, body: String| {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        async move {
            alice
                .put(&path, json!({"msgtype": "m.text", "body": body}))
                .await
        }
    };
    let first = send("txn-1".into(), "one".into()).await;
    let again = send("txn-1".into(), "one".into()).await;
    assert_eq!(first.body["event_id"], again.body["event_id"]);
    for i in 2..=15 {
        send(format!("txn-{i}"), format!("message {i}"))
            .await
            .assert_ok();
    }
    let mut bodies = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let path = match &from {
            Some(from) => {
                format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=4&from={from}")
            }
            None => format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=4"),
        };
        let page = alice.get(&path).await;
        page.assert_ok();
        for event in page.body["chunk"].as_array().unwrap() {
            if event["type"] == "m.room.message" {
                bodies.push(event["content"]["body"].as_str().unwrap().to_owned());
            }
        }
        match page.body["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (2..=15).rev().map(|i| format!("message {i}")).collect();
    expected.push("one".into());
    assert_eq!(bodies, expected, "each message once, newest first");
    let forward = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=f&limit=100"
        ))
        .await;
    let count = forward.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .count();
    assert_eq!(count, 15);
}

#[tokio::test]
async fn edits_reactions_redactions_and_leaves_arrive_through_sync() {
    use matrix_sdk::ruma::events::AnySyncTimelineEvent;
    use matrix_sdk::ruma::events::reaction::ReactionEventContent;
    use matrix_sdk::ruma::events::relation::Annotation;
    use matrix_sdk::ruma::events::room::message::ReplacementMetadata;
    use matrix_sdk::ruma::serde::Raw;

    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let mut request = create_request(create_room::v3::RoomPreset::PublicChat, RoomVersionId::V12);
    request.name = None;
    let room = alice.client.create_room(request).await.unwrap();
    let bob_room = bob.client.join_room_by_id(room.room_id()).await.unwrap();
    let token = bob
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap()
        .next_batch;

    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    bob.client
        .add_event_handler(move |event: Raw<AnySyncTimelineEvent>| {
            let sink = sink.clone();
            async move {
                let kind = event
                    .get_field::<String>("type")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                sink.lock().unwrap().push(kind);
            }
        });
    let original = room
        .send(RoomMessageEventContent::text_plain("draft"))
        .await
        .unwrap()
        .response
        .event_id;
    let edit = RoomMessageEventContent::text_plain("final")
        .make_replacement(ReplacementMetadata::new(original.clone(), None));
    room.send(edit).await.unwrap();
    room.send(ReactionEventContent::new(Annotation::new(
        original.clone(),
        "✅".into(),
    )))
    .await
    .unwrap();
    room.redact(&original, None, None).await.unwrap();
    let token = bob
        .client
        .sync_once(SyncSettings::default().token(token))
        .await
        .unwrap()
        .next_batch;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "m.room.message",
            "m.room.message",
            "m.reaction",
            "m.room.redaction"
        ],
    );

    bob_room.leave().await.unwrap();
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let members = alice
        .client
        .get_room(room.room_id())
        .unwrap()
        .joined_user_ids()
        .await
        .unwrap();
    assert!(
        !members
            .iter()
            .any(|m| Some(m.as_ref()) == bob.client.user_id()),
        "bob left: {members:?}"
    );
    bob.client
        .sync_once(SyncSettings::default().token(token))
        .await
        .unwrap();
    assert_eq!(
        bob.client.get_room(room.room_id()).unwrap().state(),
        RoomState::Left
    );
}
