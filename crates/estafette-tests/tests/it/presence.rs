//! Presence: set, read, and delivered through /sync to people who share a room.

use std::time::Duration;

use estafette_tests::{RawClient, TestServer};
use serde_json::json;

/// Alice's user ID, her client and Bob's, Bob having joined Alice's public room.
async fn alice_and_bob_sharing_a_room(server: &TestServer) -> (String, RawClient, RawClient) {
    let raw = server.raw();
    let (alice_id, alice, _) = raw.register("alice", "alice's password").await;
    let (_, bob, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
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
    (alice_id, alice, bob)
}

#[tokio::test]
async fn presence_reaches_room_mates_only() {
    let server = TestServer::start().await;
    let (alice_id, alice, bob) = alice_and_bob_sharing_a_room(&server).await;
    let raw = server.raw();
    let (_, carol, _) = raw.register("carol", "carol's password").await;
    let carol = raw.clone_with(&carol);
    let since = bob
        .get("/_matrix/client/v3/sync?set_presence=offline")
        .await
        .body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let waiting = {
        let bob = bob.clone_with(bob.token_for_tests());
        tokio::spawn(async move {
            bob.get(&format!(
                "/_matrix/client/v3/sync?since={since}&timeout=30000&set_presence=offline"
            ))
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = format!("/_matrix/client/v3/presence/{alice_id}/status");
    alice
        .put(
            &status,
            json!({"presence": "unavailable", "status_msg": "In a meeting"}),
        )
        .await
        .assert_ok();
    let woke = waiting.await.unwrap();
    let events = woke.body["presence"]["events"]
        .as_array()
        .expect("presence in sync")
        .clone();
    let alice_event = events
        .iter()
        .find(|e| e["sender"] == alice_id)
        .expect("alice's presence");
    assert_eq!(alice_event["content"]["presence"], "unavailable");
    assert_eq!(alice_event["content"]["status_msg"], "In a meeting");

    let seen = bob.get(&status).await;
    seen.assert_ok();
    assert_eq!(seen.body["presence"], "unavailable");
    assert_eq!(seen.body["currently_active"], false);
    carol.get(&status).await.assert_error(403, "M_FORBIDDEN");
    bob.put(&status, json!({"presence": "online"}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.get(&format!(
        "/_matrix/client/v3/presence/@nobody:{}/status",
        server.server_name()
    ))
    .await
    .assert_error(404, "M_NOT_FOUND");

    // Syncing marks the user online.
    alice.get("/_matrix/client/v3/sync").await.assert_ok();
    let online = bob.get(&status).await;
    assert_eq!(online.body["presence"], "online");
    assert_eq!(online.body["currently_active"], true);
    assert_eq!(
        online.body["status_msg"], "In a meeting",
        "the message stays"
    );
}

/// Every sync is activity, but it is recorded once a minute at most: `last_active_ago` grows
/// between two syncs less than a minute apart, and starts again from the next one after that.
#[tokio::test]
async fn syncs_record_activity_once_a_minute() {
    let server = TestServer::start().await;
    let (alice_id, alice, bob) = alice_and_bob_sharing_a_room(&server).await;
    let status = format!("/_matrix/client/v3/presence/{alice_id}/status");
    let last_active_ago = || async {
        let seen = bob.get(&status).await;
        seen.assert_ok();
        assert_eq!(seen.body["presence"], "online");
        assert_eq!(seen.body["currently_active"], true);
        seen.body["last_active_ago"]
            .as_u64()
            .expect("last_active_ago")
    };

    alice.get("/_matrix/client/v3/sync").await.assert_ok();
    assert_eq!(last_active_ago().await, 0);
    server.advance_clock(40_000);
    alice.get("/_matrix/client/v3/sync").await.assert_ok();
    assert_eq!(last_active_ago().await, 40_000, "not recorded again yet");
    server.advance_clock(30_000);
    alice.get("/_matrix/client/v3/sync").await.assert_ok();
    assert_eq!(last_active_ago().await, 0, "recorded a minute later");
}
