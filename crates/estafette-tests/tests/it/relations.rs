//! Edits, reactions, redactions, threads and context, sent with matrix-sdk.

use estafette_tests::{TestServer, User};
use matrix_sdk::Room;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ReplacementMetadata, ReplyMetadata, ReplyWithinThread, RoomMessageEventContent,
};
use serde_json::Value;

async fn room_with_bob(server: &TestServer) -> (User, Room, User, Room) {
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let room = alice.client.create_room(request).await.unwrap();
    let bob_room = bob.client.join_room_by_id(room.room_id()).await.unwrap();
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    (alice, room, bob, bob_room)
}

async fn send_text(room: &Room, content: RoomMessageEventContent) -> OwnedEventId {
    room.send(content).await.unwrap().response.event_id
}

/// The event as served by `/rooms/{roomId}/event/{eventId}`, as JSON.
async fn fetch(room: &Room, event_id: &OwnedEventId) -> Value {
    room.event(event_id, None)
        .await
        .unwrap()
        .raw()
        .deserialize_as_unchecked::<Value>()
        .unwrap()
}

#[tokio::test]
async fn the_latest_edit_is_bundled_with_the_original() {
    let server = TestServer::start().await;
    let (_alice, room, _bob, bob_room) = room_with_bob(&server).await;
    let original = send_text(&room, RoomMessageEventContent::text_plain("helo")).await;
    let metadata = || ReplacementMetadata::new(original.clone(), None);
    send_text(
        &room,
        RoomMessageEventContent::text_plain("hello").make_replacement(metadata()),
    )
    .await;
    let latest = send_text(
        &room,
        RoomMessageEventContent::text_plain("hello!").make_replacement(metadata()),
    )
    .await;
    // An edit by someone else is not a valid replacement.
    send_text(
        &bob_room,
        RoomMessageEventContent::text_plain("hijack").make_replacement(metadata()),
    )
    .await;

    let seen = fetch(&bob_room, &original).await;
    let replace = &seen["unsigned"]["m.relations"]["m.replace"];
    assert_eq!(replace["event_id"], latest.as_str(), "{seen}");
    assert_eq!(replace["content"]["m.new_content"]["body"], "hello!");
    assert_eq!(
        seen["content"]["body"], "helo",
        "the original content is kept"
    );

    // A redacted edit no longer counts: the previous edit is bundled again.
    room.redact(&latest, None, None).await.unwrap();
    let seen = fetch(&bob_room, &original).await;
    assert_eq!(
        seen["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"], "hello",
        "{seen}"
    );
    let redacted = fetch(&bob_room, &latest).await;
    assert_eq!(redacted["content"], serde_json::json!({}));

    // Redacted state is served redacted, also once it has been read before.
    let raw = server
        .raw()
        .with_token(bob_room.client().access_token().unwrap());
    let topic_path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
        room.room_id()
    );
    room.set_room_topic("secret plans").await.unwrap();
    let topic = raw.get(&format!("{topic_path}?format=event")).await;
    assert_eq!(topic.body["content"]["topic"], "secret plans");
    let topic_id = OwnedEventId::try_from(topic.body["event_id"].as_str().unwrap()).unwrap();
    room.redact(&topic_id, None, None).await.unwrap();
    assert_eq!(raw.get(&topic_path).await.body, serde_json::json!({}));
}

#[tokio::test]
async fn reactions_are_listed_as_relations() {
    let server = TestServer::start().await;
    let (alice, room, bob, bob_room) = room_with_bob(&server).await;
    let message = send_text(&room, RoomMessageEventContent::text_plain("vote")).await;
    bob_room
        .send(ReactionEventContent::new(Annotation::new(
            message.clone(),
            "👍".into(),
        )))
        .await
        .unwrap();
    room.send(ReactionEventContent::new(Annotation::new(
        message.clone(),
        "🎉".into(),
    )))
    .await
    .unwrap();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let path = format!(
        "/_matrix/client/v1/rooms/{}/relations/{message}/m.annotation",
        room.room_id()
    );
    let relations = raw.get(&path).await;
    relations.assert_ok();
    let keys: Vec<&str> = relations.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["m.relates_to"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["🎉", "👍"], "newest first");
    let bob_id = bob.client.user_id().unwrap().to_string();
    let by_type = raw.get(&format!("{path}/m.reaction?dir=f&limit=1")).await;
    assert_eq!(by_type.body["chunk"][0]["sender"], bob_id);
    let next = by_type.body["next_batch"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = raw
        .get(&format!("{path}/m.reaction?dir=f&limit=1&from={next}"))
        .await;
    assert_eq!(
        second.body["chunk"][0]["content"]["m.relates_to"]["key"],
        "🎉"
    );
}

#[tokio::test]
async fn redaction_prunes_content_and_needs_power_for_others_events() {
    let server = TestServer::start().await;
    let (alice, room, _bob, bob_room) = room_with_bob(&server).await;
    let secret = send_text(
        &room,
        RoomMessageEventContent::text_plain("my password is hunter2"),
    )
    .await;
    let bob_message = send_text(
        &bob_room,
        RoomMessageEventContent::text_plain("bob's words"),
    )
    .await;

    let refused = bob_room.redact(&secret, None, None).await.unwrap_err();
    assert_eq!(
        refused
            .client_api_error_kind()
            .map(|k| k.errcode().to_string()),
        Some("M_FORBIDDEN".into())
    );
    let redaction = room
        .redact(&secret, Some("oops"), None)
        .await
        .unwrap()
        .event_id;
    let seen = fetch(&bob_room, &secret).await;
    assert_eq!(seen["content"], serde_json::json!({}), "{seen}");
    assert_eq!(
        seen["unsigned"]["redacted_because"]["event_id"],
        redaction.as_str()
    );
    assert_eq!(
        seen["unsigned"]["redacted_because"]["content"]["reason"],
        "oops"
    );

    // The room creator has the power to redact Bob's message; Bob may redact his own.
    room.redact(&bob_message, None, None).await.unwrap();
    let own = send_text(&bob_room, RoomMessageEventContent::text_plain("again")).await;
    bob_room.redact(&own, None, None).await.unwrap();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let messages = raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            room.room_id()
        ))
        .await;
    let leaked = messages.body.to_string();
    assert!(
        !leaked.contains("hunter2") && !leaked.contains("bob's words"),
        "{leaked}"
    );
}

#[tokio::test]
async fn thread_replies_are_summarised_on_the_root_and_listed() {
    let server = TestServer::start().await;
    let (alice, room, bob, bob_room) = room_with_bob(&server).await;
    let alice_id = alice.client.user_id().unwrap().to_owned();
    let root = send_text(&room, RoomMessageEventContent::text_plain("Agenda?")).await;
    let reply = |body: &str| {
        RoomMessageEventContent::text_plain(body).make_for_thread(
            ReplyMetadata::new(&root, &alice_id, None),
            ReplyWithinThread::No,
            AddMentions::No,
        )
    };
    send_text(&bob_room, reply("Budget")).await;
    let last = send_text(&room, reply("And staffing")).await;
    send_text(&room, RoomMessageEventContent::text_plain("unrelated")).await;

    let seen = fetch(&bob_room, &root).await;
    let thread = &seen["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(thread["count"], 2, "{seen}");
    assert_eq!(thread["latest_event"]["event_id"], last.as_str());
    assert_eq!(thread["current_user_participated"], true);

    let carol = server.register_user("carol").await;
    let carol_room = carol.client.join_room_by_id(room.room_id()).await.unwrap();
    assert_eq!(
        fetch(&carol_room, &root).await["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        false
    );

    let raw = server.raw().with_token(bob.client.access_token().unwrap());
    let threads = raw
        .get(&format!(
            "/_matrix/client/v1/rooms/{}/threads",
            room.room_id()
        ))
        .await;
    threads.assert_ok();
    let roots: Vec<&str> = threads.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(roots, vec![root.as_str()]);
    let carol_raw = server
        .raw()
        .with_token(carol.client.access_token().unwrap());
    let none = carol_raw
        .get(&format!(
            "/_matrix/client/v1/rooms/{}/threads?include=participated",
            room.room_id()
        ))
        .await;
    assert_eq!(none.body["chunk"], serde_json::json!([]));

    let context = raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/context/{last}?limit=2",
            room.room_id()
        ))
        .await;
    context.assert_ok();
    assert_eq!(context.body["event"]["event_id"], last.as_str());
    assert_eq!(context.body["events_before"].as_array().unwrap().len(), 1);
    assert_eq!(
        context.body["events_after"][0]["content"]["body"],
        "unrelated"
    );
    assert!(
        context.body["state"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.create")
    );
}
