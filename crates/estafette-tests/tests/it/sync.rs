//! `/sync` beyond room timelines: account data, local echoes, long-poll wake-ups.

use std::time::Duration;

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

async fn next_batch(client: &RawClient, since: Option<&str>) -> (String, Value) {
    let path = match since {
        Some(since) => format!("/_matrix/client/v3/sync?since={since}"),
        None => "/_matrix/client/v3/sync".to_owned(),
    };
    let sync = client.get(&path).await;
    sync.assert_ok();
    (
        sync.body["next_batch"].as_str().unwrap().to_owned(),
        sync.body,
    )
}

#[tokio::test]
async fn account_data_changes_wake_a_waiting_sync_and_arrive_once() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("alice", "alice's password").await;
    let alice = raw.with_token(token.clone());
    let room_id = alice
        .post("/_matrix/client/v3/createRoom", json!({}))
        .await
        .body["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (since, _) = next_batch(&alice, None).await;

    let waiting = {
        let alice = alice.clone_with(&token);
        let since = since.clone();
        tokio::spawn(async move {
            alice
                .get(&format!(
                    "/_matrix/client/v3/sync?since={since}&timeout=30000"
                ))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice
        .put(
            &format!("/_matrix/client/v3/user/{user_id}/account_data/org.example.theme"),
            json!({"dark": true}),
        )
        .await
        .assert_ok();
    let woke = waiting.await.unwrap();
    woke.assert_ok();
    assert_eq!(
        woke.body["account_data"]["events"],
        json!([{"type": "org.example.theme", "content": {"dark": true}}])
    );

    let next = woke.body["next_batch"].as_str().unwrap().to_owned();
    alice
        .put(
            &format!("/_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/m.tag"),
            json!({"tags": {"u.work": {}}}),
        )
        .await
        .assert_ok();
    let (after_tag, sync) = next_batch(&alice, Some(&next)).await;
    assert_eq!(
        sync["rooms"]["join"][&room_id]["account_data"]["events"][0]["type"],
        "m.tag"
    );
    assert!(
        sync["account_data"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "already delivered: {sync}"
    );
    let (_, quiet) = next_batch(&alice, Some(&after_tag)).await;
    assert!(
        quiet["rooms"]["join"].get(&room_id).is_none(),
        "nothing new: {quiet}"
    );

    let (_, initial) = next_batch(&alice, None).await;
    assert_eq!(
        initial["account_data"]["events"][0]["type"],
        "org.example.theme"
    );
    assert_eq!(
        initial["rooms"]["join"][&room_id]["account_data"]["events"][0]["type"],
        "m.tag"
    );
}

#[tokio::test]
async fn only_the_sending_device_sees_its_transaction_id() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, phone, _) = raw.register("alice", "alice's password").await;
    let laptop = raw.login("alice", "alice's password").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone = raw.clone_with(&phone);
    let laptop = raw.clone_with(&laptop);
    let room_id = phone
        .post("/_matrix/client/v3/createRoom", json!({}))
        .await
        .body["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    phone
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/echo-1"),
            json!({"msgtype": "m.text", "body": "hi"}),
        )
        .await
        .assert_ok();
    let message = |sync: &Value| {
        sync["rooms"]["join"][&room_id]["timeline"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "m.room.message")
            .cloned()
            .unwrap()
    };
    let (_, on_phone) = next_batch(&phone, None).await;
    assert_eq!(message(&on_phone)["unsigned"]["transaction_id"], "echo-1");
    let (_, on_laptop) = next_batch(&laptop, None).await;
    assert!(
        message(&on_laptop)["unsigned"]
            .get("transaction_id")
            .is_none()
    );
}

fn encoded(filter: Value) -> String {
    url::form_urlencoded::byte_serialize(filter.to_string().as_bytes()).collect()
}

#[tokio::test]
async fn filters_shape_timelines_rooms_and_members() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob, _) = raw.register("bob", "bob's password").await;
    let (_, carol, _) = raw.register("carol", "carol's password").await;
    let (alice, bob, carol) = (
        raw.clone_with(&alice),
        raw.clone_with(&bob),
        raw.clone_with(&carol),
    );
    let room_id = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat", "name": "Busy"}),
        )
        .await
        .body["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let quiet = alice
        .post("/_matrix/client/v3/createRoom", json!({}))
        .await
        .body["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for client in [&bob, &carol] {
        client
            .post(
                &format!("/_matrix/client/v3/rooms/{room_id}/join"),
                json!({}),
            )
            .await
            .assert_ok();
    }
    for i in 0..3 {
        alice
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{i}"),
                json!({"msgtype": "m.text", "body": format!("m{i}")}),
            )
            .await
            .assert_ok();
    }

    let filter = json!({"room": {"not_rooms": [quiet], "timeline": {"types": ["m.room.message"], "limit": 2},
                                 "state": {"lazy_load_members": true}}});
    let sync = alice
        .get(&format!(
            "/_matrix/client/v3/sync?filter={}",
            encoded(filter)
        ))
        .await;
    sync.assert_ok();
    assert!(
        sync.body["rooms"]["join"].get(&quiet).is_none(),
        "not_rooms excludes"
    );
    let room = &sync.body["rooms"]["join"][&room_id];
    let bodies: Vec<&str> = room["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["m1", "m2"]);
    assert_eq!(room["timeline"]["limited"], true);
    let members: Vec<&str> = room["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        members.len(),
        1,
        "only the sender (alice herself): {members:?}"
    );
    assert!(
        room["state"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.name")
    );

    let after = alice
        .get("/_matrix/client/v3/sync?use_state_after=true")
        .await;
    let busy = &after.body["rooms"]["join"][&room_id];
    assert!(
        busy["state_after"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{busy}"
    );

    // /messages applies the same filters, and lazy-loads the senders' member events.
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/b"),
        json!({"msgtype": "m.text", "body": "bob"}),
    )
    .await
    .assert_ok();
    let only_bob = encoded(json!({"senders": [bob_id], "lazy_load_members": true}));
    let page = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&filter={only_bob}"
        ))
        .await;
    page.assert_ok();
    let chunk = page.body["chunk"].as_array().unwrap();
    assert!(chunk.iter().all(|e| e["sender"] == bob_id), "{chunk:?}");
    assert!(chunk.iter().any(|e| e["content"]["body"] == "bob"));
    assert_eq!(page.body["state"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["state"][0]["state_key"], bob_id);
}

#[tokio::test]
async fn to_device_messages_arrive_once_in_order_and_only_where_sent() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob_phone, phone_id) = raw.register("bob", "bob's password").await;
    let bob_laptop = raw.login("bob", "bob's password").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (alice, bob_phone, bob_laptop) = (
        raw.clone_with(&alice),
        raw.clone_with(&bob_phone),
        raw.clone_with(&bob_laptop),
    );
    let (phone_since, _) = next_batch(&bob_phone, None).await;
    let (laptop_since, _) = next_batch(&bob_laptop, None).await;

    let send = |txn: &str, messages: Value| {
        let path = format!("/_matrix/client/v3/sendToDevice/org.example.ping/{txn}");
        let alice = alice.clone_with(alice.token_for_tests());
        async move { alice.put(&path, json!({"messages": messages})).await }
    };
    send("t1", json!({&bob_id: {&phone_id: {"n": 1}}}))
        .await
        .assert_ok();
    send("t2", json!({&bob_id: {"*": {"n": 2}}}))
        .await
        .assert_ok();
    send("t2", json!({&bob_id: {"*": {"n": 2}}}))
        .await
        .assert_ok();

    let (next, phone) = next_batch(&bob_phone, Some(&phone_since)).await;
    let numbers: Vec<u64> = phone["to_device"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        vec![1, 2],
        "in order, the repeated transaction once"
    );
    assert_eq!(phone["to_device"]["events"][0]["sender"], alice_id);
    let (_, again) = next_batch(&bob_phone, Some(&next)).await;
    assert!(
        again["to_device"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "delivered once: {again}"
    );

    let (_, laptop) = next_batch(&bob_laptop, Some(&laptop_since)).await;
    let numbers: Vec<u64> = laptop["to_device"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        vec![2],
        "the laptop only gets what was sent to all devices"
    );
}

#[tokio::test]
async fn a_full_device_queue_refuses_new_messages_instead_of_dropping_them() {
    let server = TestServer::builder()
        .configure(|config| config.limits.to_device_queue_per_device = 2)
        .start()
        .await;
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob, bob_device) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
    let (since, _) = next_batch(&bob, None).await;
    for (txn, expected) in [("1", 200), ("2", 200), ("3", 429)] {
        let sent = alice
            .put(
                &format!("/_matrix/client/v3/sendToDevice/org.example.x/{txn}"),
                json!({"messages": {&bob_id: {&bob_device: {"n": txn}}}}),
            )
            .await;
        assert_eq!(sent.status, expected, "{sent:?}");
    }
    let (next, delivered) = next_batch(&bob, Some(&since)).await;
    assert_eq!(
        delivered["to_device"]["events"].as_array().unwrap().len(),
        2
    );
    // Once acknowledged, the queue has room again.
    next_batch(&bob, Some(&next)).await;
    alice
        .put(
            "/_matrix/client/v3/sendToDevice/org.example.x/4",
            json!({"messages": {&bob_id: {&bob_device: {"n": "4"}}}}),
        )
        .await
        .assert_ok();
}

/// An incremental sync reads only the rooms with something new, yet each kind of news still
/// brings its room: a message (with its unread count), a receipt only, typing only, room
/// account data only — and nothing else of the user's other rooms.
#[tokio::test]
async fn an_incremental_sync_brings_each_room_with_news_and_no_other() {
    let server = TestServer::start().await;
    let (_, alice) = crate::room_helpers::user(server.raw(), "alice").await;
    let (bob_id, bob) = crate::room_helpers::user(server.raw(), "bob").await;
    let mut rooms = Vec::new();
    for n in 0..4 {
        let room_id =
            crate::room_helpers::create_room(&alice, json!({"preset": "public_chat"})).await;
        bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
            .await
            .assert_ok();
        crate::room_helpers::send_text(&alice, &room_id, &format!("first{n}"), "hello").await;
        rooms.push(room_id);
    }
    let (mut since, _) = next_batch(&bob, None).await;
    let joined = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body["rooms"]["join"]
            .as_object()
            .map(|rooms| rooms.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    };

    // A message in the first room: that room only, with one unread notification.
    crate::room_helpers::send_text(&alice, &rooms[0], "m", "news").await;
    let (next, body) = next_batch(&bob, Some(&since)).await;
    assert_eq!(joined(&body), [rooms[0].clone()]);
    let room = &body["rooms"]["join"][&rooms[0]];
    assert_eq!(
        room["unread_notifications"]["notification_count"], 2,
        "{room}"
    );
    since = next;

    // Alice's receipt in the second room, and nothing else there.
    let latest = crate::room_helpers::send_text(&alice, &rooms[1], "r", "to read").await;
    let (next, _) = next_batch(&bob, Some(&since)).await;
    since = next;
    alice
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{latest}",
                rooms[1]
            ),
            json!({}),
        )
        .await
        .assert_ok();
    let (next, body) = next_batch(&bob, Some(&since)).await;
    assert_eq!(joined(&body), [rooms[1].clone()]);
    let ephemeral = body["rooms"]["join"][&rooms[1]]["ephemeral"].to_string();
    assert!(ephemeral.contains("m.receipt"), "{ephemeral}");
    since = next;

    // Bob reads the first room himself: its unread count drops to nothing.
    let first_latest = crate::room_helpers::send_text(&alice, &rooms[0], "m2", "more").await;
    let (next, _) = next_batch(&bob, Some(&since)).await;
    since = next;
    bob.post(
        &format!(
            "/_matrix/client/v3/rooms/{}/receipt/m.read/{first_latest}",
            rooms[0]
        ),
        json!({}),
    )
    .await
    .assert_ok();
    let (next, body) = next_batch(&bob, Some(&since)).await;
    assert_eq!(joined(&body), [rooms[0].clone()]);
    let room = &body["rooms"]["join"][&rooms[0]];
    assert_eq!(
        room["unread_notifications"]["notification_count"], 0,
        "{room}"
    );
    since = next;

    // Alice typing in the third room.
    let alice_id = alice.get("/_matrix/client/v3/account/whoami").await.body["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{}/typing/{alice_id}", rooms[2]),
            json!({"typing": true, "timeout": 30000}),
        )
        .await
        .assert_ok();
    let (next, body) = next_batch(&bob, Some(&since)).await;
    assert_eq!(joined(&body), [rooms[2].clone()]);
    since = next;

    // Bob's own account data in the fourth room.
    bob.put(
        &format!(
            "/_matrix/client/v3/user/{bob_id}/rooms/{}/account_data/org.example.note",
            rooms[3]
        ),
        json!({"note": "keep"}),
    )
    .await
    .assert_ok();
    let (_, body) = next_batch(&bob, Some(&since)).await;
    assert_eq!(joined(&body), [rooms[3].clone()]);
    let account_data = body["rooms"]["join"][&rooms[3]]["account_data"].to_string();
    assert!(account_data.contains("org.example.note"), "{account_data}");
}

/// An incremental sync bundles the edits and thread replies of the events it returns when they
/// arrive in the same window, and bundles nothing for events nothing relates to.
#[tokio::test]
async fn an_incremental_sync_bundles_relations_that_arrive_with_their_target() {
    let server = TestServer::start().await;
    let (_, alice) = crate::room_helpers::user(server.raw(), "alice").await;
    let (_, bob) = crate::room_helpers::user(server.raw(), "bob").await;
    let room_id = crate::room_helpers::create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let (since, _) = next_batch(&bob, None).await;
    let send = |txn: &'static str, content: Value| {
        let alice = alice.clone_with(alice.token_for_tests());
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        async move {
            let sent = alice.put(&path, content).await;
            sent.assert_ok();
            sent.body["event_id"].as_str().unwrap().to_owned()
        }
    };
    let timeline = |body: &Value| body["rooms"]["join"][&room_id]["timeline"]["events"].clone();
    let find = |events: &Value, id: &str| -> Value {
        events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in {events}"))
    };

    // A window with plain messages only: nothing bundled.
    let plain = send("p1", json!({"msgtype": "m.text", "body": "plain"})).await;
    let (since, body) = next_batch(&bob, Some(&since)).await;
    let event = find(&timeline(&body), &plain);
    assert!(event["unsigned"].get("m.relations").is_none(), "{event}");

    // A window with an original, its edit and a thread reply to it.
    let original = send("o1", json!({"msgtype": "m.text", "body": "helo"})).await;
    let edit = send(
        "e1",
        json!({"msgtype": "m.text", "body": "* hello", "m.new_content": {"msgtype": "m.text", "body": "hello"},
               "m.relates_to": {"rel_type": "m.replace", "event_id": original}}),
    )
    .await;
    let reply = send(
        "r1",
        json!({"msgtype": "m.text", "body": "in thread",
               "m.relates_to": {"rel_type": "m.thread", "event_id": original}}),
    )
    .await;
    let (_, body) = next_batch(&bob, Some(&since)).await;
    let events = timeline(&body);
    let relations = &find(&events, &original)["unsigned"]["m.relations"];
    assert_eq!(
        relations["m.replace"]["event_id"],
        edit.as_str(),
        "{events}"
    );
    assert_eq!(
        relations["m.thread"]["latest_event"]["event_id"],
        reply.as_str()
    );
    assert_eq!(relations["m.thread"]["count"], 1);
}
