//! Federation under stress: a peer that goes offline and catches up, a third server joining,
//! concurrent sends converging, and rooms that must never leave their server.

use estafette_tests::TestServer;
use serde_json::json;

use crate::room_helpers::{
    event_ids, eventually, joined_members, messages, page_back, send_text, shared_room, sorted,
    state_ids, user,
};

#[tokio::test]
async fn a_peer_that_was_offline_catches_up_without_a_new_message() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (_, alice), (_, _bob)) = shared_room(&home, &remote).await;

    let offline = remote.go_offline().await;
    for (txn, text) in [("o1", "first"), ("o2", "second"), ("o3", "third")] {
        send_text(&alice, &room_id, txn, text).await;
    }
    // Give the deliveries time to fail, so the catch-up below is a retry.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let remote = offline.start().await;
    let bob = remote.raw().login("bob", "bob's password").await;
    let bob = remote
        .raw()
        .clone_with(bob.body["access_token"].as_str().unwrap());
    eventually("the returning server to receive what it missed", || async {
        (messages(&bob, &room_id).await == ["first", "second", "third"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_third_server_joins_and_everyone_sees_everyone() {
    let home = TestServer::builder().federation().start().await;
    let second = TestServer::builder().federation().start().await;
    let third = TestServer::builder().federation().start().await;
    let (room_id, (alice_id, alice), (bob_id, bob)) = shared_room(&home, &second).await;
    let (carol_id, carol) = user(third.raw(), "carol").await;
    // Carol joins through Bob's server, which is not the room's creator.
    carol
        .post(
            &format!(
                "/_matrix/client/v3/join/{room_id}?via={}",
                second.server_name()
            ),
            json!({}),
        )
        .await
        .assert_ok();
    let everyone = sorted([&alice_id, &bob_id, &carol_id]);
    for (client, name) in [(&alice, "home"), (&bob, "second"), (&carol, "third")] {
        eventually(
            &format!("the {name} server to see all three members"),
            || async { (joined_members(client, &room_id).await == everyone).then_some(()) },
        )
        .await;
    }
    send_text(&carol, &room_id, "c1", "from the third server").await;
    send_text(&alice, &room_id, "a1", "from the first server").await;
    for client in [&alice, &bob, &carol] {
        eventually("every server to have both messages", || async {
            let seen = messages(client, &room_id).await;
            (seen.len() == 2
                && seen.contains(&"from the third server".to_owned())
                && seen.contains(&"from the first server".to_owned()))
            .then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn concurrent_sends_from_both_sides_converge() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (_, alice), (_, bob)) = shared_room(&home, &remote).await;

    // Both servers write at once: messages and a conflicting state change each.
    let path = |txn: &str| format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
    let mut sends = Vec::new();
    for i in 0..10 {
        let (alice, bob) = (alice.clone(), bob.clone());
        let (a, b) = (path(&format!("a{i}")), path(&format!("b{i}")));
        sends.push(tokio::spawn(async move {
            alice
                .put(
                    &a,
                    json!({"msgtype": "m.text", "body": format!("alice {i}")}),
                )
                .await
                .assert_ok();
        }));
        sends.push(tokio::spawn(async move {
            bob.put(&b, json!({"msgtype": "m.text", "body": format!("bob {i}")}))
                .await
                .assert_ok();
        }));
    }
    let topic = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/");
    let (alice_topic, bob_topic) = (alice.clone(), bob.clone());
    let (t1, t2) = (topic.clone(), topic.clone());
    sends.push(tokio::spawn(async move {
        alice_topic
            .put(&t1, json!({"topic": "Alice's topic"}))
            .await;
    }));
    sends.push(tokio::spawn(async move {
        bob_topic.put(&t2, json!({"topic": "Bob's topic"})).await;
    }));
    for send in sends {
        send.await.unwrap();
    }
    let converged = eventually("both servers to hold the same events and state", || async {
        let (a_events, b_events) = (
            event_ids(&alice, &room_id).await,
            event_ids(&bob, &room_id).await,
        );
        let (a_state, b_state) = (
            state_ids(&alice, &room_id).await,
            state_ids(&bob, &room_id).await,
        );
        (a_events == b_events && a_state == b_state && messages(&alice, &room_id).await.len() == 20)
            .then_some(a_events)
    })
    .await;
    assert!(converged.len() >= 20);
}

#[tokio::test]
async fn a_room_that_does_not_federate_stays_on_its_server() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (bob_id, bob) = user(remote.raw(), "bob").await;
    let created = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat", "creation_content": {"m.federate": false}}),
        )
        .await;
    created.assert_ok();
    let room_id = created.body["room_id"].as_str().unwrap();
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.post(
        &format!(
            "/_matrix/client/v3/join/{room_id}?via={}",
            home.server_name()
        ),
        json!({}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn a_late_joiner_pages_back_to_the_room_creation() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let created = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": {"history_visibility": "shared"}}]}),
        )
        .await;
    let room_id = created.body["room_id"].as_str().unwrap().to_owned();
    let before: Vec<String> = (0..30).map(|i| format!("before Bob {i}")).collect();
    for (i, text) in before.iter().enumerate() {
        send_text(&alice, &room_id, &format!("t{i}"), text).await;
    }
    bob.post(
        &format!(
            "/_matrix/client/v3/join/{room_id}?via={}",
            home.server_name()
        ),
        json!({}),
    )
    .await
    .assert_ok();

    // Bob's client pages back ten at a time; his server fetches the history it never had.
    let mut events = page_back(&bob, &room_id).await;
    events.reverse();
    assert_eq!(
        events.first().map(|e| &e["type"]),
        Some(&json!("m.room.create"))
    );
    let texts: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(ToOwned::to_owned))
        .collect();
    assert_eq!(texts, before);
}

#[tokio::test]
async fn a_server_that_only_gets_the_latest_event_fills_the_gap() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (_, alice), _) = shared_room(&home, &remote).await;
    let remote_name: ruma::OwnedServerName = remote.server_name().try_into().unwrap();
    let offline = remote.go_offline().await;
    for i in 0..120 {
        send_text(&alice, &room_id, &format!("g{i}"), &format!("gap {i}")).await;
    }
    // Like a server in catch-up mode, send only the newest event: the rest is a gap of 119
    // events, more than one get_missing_events answer carries.
    let outbox = &home.services().context.storage.federation_outbox;
    let queued = outbox.pending(&remote_name, 1_000, 1_000).await.unwrap();
    let older: Vec<i64> = queued[..queued.len() - 1]
        .iter()
        .map(|item| item.id)
        .collect();
    outbox.delivered(&remote_name, &older).await.unwrap();

    let remote = offline.start().await;
    let login = remote.raw().login("bob", "bob's password").await;
    let bob = remote
        .raw()
        .clone_with(login.body["access_token"].as_str().unwrap());
    eventually("the newest message to arrive despite the gap", || async {
        messages(&bob, &room_id)
            .await
            .contains(&"gap 119".to_owned())
            .then_some(())
    })
    .await;
    // The room still works both ways.
    send_text(&bob, &room_id, "after", "after the gap").await;
    eventually("Alice to receive Bob's message", || async {
        messages(&alice, &room_id)
            .await
            .contains(&"after the gap".to_owned())
            .then_some(())
    })
    .await;
}
