//! Delayed events (MSC4140) on the wire, as MatrixRTC call stacks and schedulers use them: a
//! call membership that ends by itself when its client stops restarting the delay, messages
//! sent now, cancelled or in time, newer state of others left alone, and waiting events
//! that outlive a restart of the server.

use estafette_tests::{RawClient, TestServer, run_js_sdk};
use serde_json::{Value, json};

use crate::room_helpers::{create_room, eventually, messages, user};

const DELAYED: &str = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";
const MEMBER: &str = "org.matrix.msc3401.call.member";

fn member_path(room_id: &str, state_key: &str) -> String {
    format!("/_matrix/client/v3/rooms/{room_id}/state/{MEMBER}/{state_key}")
}

async fn state_of(client: &RawClient, path: &str) -> Value {
    client.get(path).await.body
}

/// A public room of alice's that bob joined.
async fn room_of_two(server: &TestServer) -> (RawClient, RawClient, String, String) {
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    (alice, bob, room, alice_id)
}

async fn delayed_message(client: &RawClient, room: &str, txn: &str, delay_ms: u64) -> String {
    let sent = client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}?org.matrix.msc4140.delay={delay_ms}"
            ),
            json!({"msgtype": "m.text", "body": txn}),
        )
        .await;
    sent.assert_ok();
    assert!(sent.body.get("event_id").is_none(), "{:?}", sent.body);
    sent.body["delay_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_call_membership_ends_when_its_client_stops_restarting_the_delay() {
    let server = TestServer::start().await;
    let (alice, bob, room, alice_id) = room_of_two(&server).await;
    let versions = alice.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4140"],
        true
    );

    let key = format!("_{alice_id}_PHONE");
    let path = member_path(&room, &key);
    let call = json!({"application": "m.call", "call_id": "", "device_id": "PHONE",
        "focus_active": {"type": "livekit"}, "scope": "m.room"});
    alice.put(&path, call.clone()).await.assert_ok();
    let leave = alice
        .put(&format!("{path}?org.matrix.msc4140.delay=10000"), json!({}))
        .await;
    leave.assert_ok();
    let delay_id = leave.body["delay_id"].as_str().unwrap().to_owned();
    let waiting = alice.get(DELAYED).await;
    let listed = &waiting.body["delayed_events"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{waiting:?}");
    assert_eq!(listed[0]["delay_id"], delay_id.as_str());
    assert_eq!(
        (
            &listed[0]["type"],
            &listed[0]["state_key"],
            &listed[0]["delay"]
        ),
        (&json!(MEMBER), &json!(key), &json!(10_000))
    );
    assert_eq!(
        bob.get(DELAYED).await.body["delayed_events"],
        json!([]),
        "bob sees only his own"
    );

    // The client restarts the delay while it runs: the membership stays.
    for _ in 0..3 {
        server.advance_clock(6_000);
        alice
            .post(
                &format!("{DELAYED}/{delay_id}"),
                json!({"action": "restart"}),
            )
            .await
            .assert_ok();
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(state_of(&bob, &path).await, call, "still in the call");

    // The phone goes quiet: ten seconds later the server sends the leave.
    server.advance_clock(10_000);
    eventually("the membership to end", || async {
        (state_of(&bob, &path).await == json!({})).then_some(())
    })
    .await;
    assert_eq!(alice.get(DELAYED).await.body["delayed_events"], json!([]));
    alice
        .post(
            &format!("{DELAYED}/{delay_id}"),
            json!({"action": "restart"}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn delayed_messages_are_sent_now_cancelled_or_in_time_by_their_owner() {
    let server = TestServer::start().await;
    let (alice, bob, room, _) = room_of_two(&server).await;

    let now = delayed_message(&alice, &room, "sent at once", 60_000).await;
    assert!(messages(&bob, &room).await.is_empty());
    bob.post(&format!("{DELAYED}/{now}"), json!({"action": "send"}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .post(&format!("{DELAYED}/{now}"), json!({"action": "send"}))
        .await
        .assert_ok();
    assert_eq!(messages(&bob, &room).await, ["sent at once"]);

    let cancelled = delayed_message(&alice, &room, "never", 1_000).await;
    let by_capability = delayed_message(&alice, &room, "restarted, cancelled", 1_000).await;
    let timed = delayed_message(&alice, &room, "in time", 5_000).await;
    let one = alice.get(&format!("{DELAYED}/{timed}")).await;
    assert_eq!(one.body["content"]["body"], "in time");
    assert_eq!(one.body["delay"], 5_000);
    alice
        .post(
            &format!("{DELAYED}/{cancelled}"),
            json!({"action": "cancel"}),
        )
        .await
        .assert_ok();
    // The newer form takes the delay_id as its only credential.
    let anonymous = server.raw();
    anonymous
        .post(&format!("{DELAYED}/{by_capability}/restart"), json!({}))
        .await
        .assert_ok();
    anonymous
        .post(&format!("{DELAYED}/{by_capability}/cancel"), json!({}))
        .await
        .assert_ok();
    anonymous
        .post(&format!("{DELAYED}/{by_capability}/cancel"), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .post(&format!("{DELAYED}/{timed}"), json!({"action": "explode"}))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    server.advance_clock(4_000);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(messages(&bob, &room).await, ["sent at once"], "not yet");
    server.advance_clock(1_000);
    eventually("the message in time", || async {
        let seen = messages(&bob, &room).await;
        (seen.len() == 2).then_some(seen)
    })
    .await
    .iter()
    .zip(["sent at once", "in time"])
    .for_each(|(seen, expected)| assert_eq!(seen, expected));

    // The newer form: the delay in the body.
    let newer = alice
        .put(
            &format!("/_matrix/client/unstable/org.matrix.msc4140/rooms/{room}/delayed_event/m.room.message/t9"),
            json!({"delay": 2_000, "content": {"msgtype": "m.text", "body": "newer form"}}),
        )
        .await;
    newer.assert_ok();
    assert!(newer.body["delay_id"].is_string());
    server.advance_clock(2_000);
    eventually("the newer form's message", || async {
        messages(&bob, &room)
            .await
            .contains(&"newer form".to_owned())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn bad_delays_are_refused_and_change_nothing() {
    let server = TestServer::builder()
        .configure(|config| config.limits.max_delayed_events_per_user = 2)
        .start()
        .await;
    let (alice, bob, room, _) = room_of_two(&server).await;
    let send = |query: &'static str| {
        let alice = alice.clone();
        let room = room.clone();
        async move {
            alice
                .put(
                    &format!(
                        "/_matrix/client/v3/rooms/{room}/send/m.room.message/t{query}?{query}"
                    ),
                    json!({"msgtype": "m.text", "body": "x"}),
                )
                .await
        }
    };
    send("org.matrix.msc4140.delay=abc")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    send("org.matrix.msc4140.delay=86400001")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let (_, carol) = user(server.raw(), "carol").await;
    carol
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/send/m.room.message/c1?org.matrix.msc4140.delay=10"
            ),
            json!({"msgtype": "m.text", "body": "x"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    let bob_id = bob.get("/_matrix/client/v3/account/whoami").await.body["user_id"].clone();
    alice
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}?org.matrix.msc4140.delay=10",
                bob_id.as_str().unwrap()
            ),
            json!({"membership": "leave"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    delayed_message(&alice, &room, "one", 60_000).await;
    delayed_message(&alice, &room, "two", 60_000).await;
    send("org.matrix.msc4140.delay=60000")
        .await
        .assert_error(429, "M_LIMIT_EXCEEDED");
    assert_eq!(
        alice.get(DELAYED).await.body["delayed_events"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    server
        .raw()
        .get(DELAYED)
        .await
        .assert_error(401, "M_MISSING_TOKEN");

    let off = TestServer::builder()
        .configure(|config| config.limits.max_event_delay_ms = 0)
        .start()
        .await;
    let (_, dave) = user(off.raw(), "dave").await;
    let versions = dave.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4140"],
        false
    );
    let room = create_room(&dave, json!({})).await;
    dave.put(
        &format!(
            "/_matrix/client/v3/rooms/{room}/send/m.room.message/d?org.matrix.msc4140.delay=1"
        ),
        json!({"msgtype": "m.text", "body": "x"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn newer_state_from_someone_else_is_not_overwritten() {
    let server = TestServer::start().await;
    let (alice, bob, room, _) = room_of_two(&server).await;
    let topic = format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/");
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            json!({"users": {bob.get("/_matrix/client/v3/account/whoami").await.body["user_id"].as_str().unwrap(): 50}}),
        )
        .await
        .assert_ok();
    let mine = alice
        .put(
            &format!("{topic}?org.matrix.msc4140.delay=5000"),
            json!({"topic": "alice's, later"}),
        )
        .await;
    mine.assert_ok();
    let overtaken = alice
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.name/?org.matrix.msc4140.delay=5000"
            ),
            json!({"name": "alice's name, later"}),
        )
        .await;
    overtaken.assert_ok();
    server.advance_clock(1_000);
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
        json!({"name": "bob's name, newer"}),
    )
    .await
    .assert_ok();
    alice
        .put(&topic, json!({"topic": "alice's, now"}))
        .await
        .assert_ok();

    server.advance_clock(4_000);
    eventually("alice's own later topic", || async {
        (state_of(&bob, &topic).await["topic"] == "alice's, later").then_some(())
    })
    .await;
    eventually("the overtaken name dropped", || async {
        (alice.get(DELAYED).await.body["delayed_events"] == json!([])).then_some(())
    })
    .await;
    assert_eq!(
        state_of(
            &bob,
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/")
        )
        .await["name"],
        "bob's name, newer"
    );
}

#[tokio::test]
async fn waiting_events_are_sent_after_a_restart() {
    let server = TestServer::start().await;
    let (alice, bob, room, _) = room_of_two(&server).await;
    delayed_message(&alice, &room, "across a restart", 30_000).await;
    let stopped = server.go_offline().await;
    let server = stopped.start().await;
    assert!(messages(&bob, &room).await.is_empty());
    server.advance_clock(30_000);
    eventually("the message after the restart", || async {
        (messages(&bob, &room).await == ["across a restart"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn element_calls_membership_through_matrix_js_sdk_leaves_by_itself() {
    let server = TestServer::start().await;
    let (_, bob, room, alice_id) = room_of_two(&server).await;
    let key = format!("_{alice_id}_WEB");
    let out = run_js_sdk(
        "delayed_call",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "alice's password",
               "roomId": room, "stateKey": key}),
    )
    .await;
    assert_eq!(out["error"], Value::Null, "{out}");
    let listed = out["listed"].as_array().expect("the waiting events");
    assert_eq!(listed.len(), 2, "{out}");
    assert!(
        listed
            .iter()
            .any(|event| event["delay_id"] == out["leaveDelayId"]
                && event["state_key"] == key.as_str()
                && event["delay"] == 10_000)
    );
    assert!(
        messages(&bob, &room)
            .await
            .contains(&"from the web, sent early".to_owned())
    );
    let path = member_path(&room, &key);
    assert_eq!(state_of(&bob, &path).await["device_id"], "WEB");
    server.advance_clock(10_000);
    eventually("the web client's leave", || async {
        (state_of(&bob, &path).await == json!({})).then_some(())
    })
    .await;
}
