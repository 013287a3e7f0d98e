//! Several Estafette processes serving one server on one PostgreSQL database: requests may land
//! on any process. These run in the PostgreSQL pass of the test command only (`scripts/test`
//! sets `ESTAFETTE_TEST_POSTGRES`); on SQLite a server is one process.

use std::time::{Duration, Instant};

use estafette_tests::{RawClient, RoundRobinProxy, SynapseServer, TestServer, register_user_at};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use serde_json::{Value, json};

use crate::encryption::{create_encrypted_room, decrypted_bodies, sync_until};
use crate::room_helpers::{
    create_room, eventually, invite, joined_members, messages, send_text, sorted, typing_users,
    user,
};

/// The next incremental sync of `client` from `since`, waiting up to 20 s, and how long it took.
async fn long_poll(client: &RawClient, since: &str) -> (Value, Duration) {
    let started = Instant::now();
    let sync = client
        .get(&format!(
            "/_matrix/client/v3/sync?since={since}&timeout=20000"
        ))
        .await;
    sync.assert_ok();
    (sync.body, started.elapsed())
}

async fn next_batch(client: &RawClient) -> String {
    let sync = client.get("/_matrix/client/v3/sync?timeout=0").await;
    sync.body["next_batch"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn matrix_sdk_clients_behind_a_round_robin_proxy_share_encrypted_rooms() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let third = first.another_process().await;
    let proxy =
        RoundRobinProxy::start(&[first.base_url(), second.base_url(), third.base_url()]).await;
    let alice = register_user_at(&proxy.base_url(), "alice").await;
    let bob = register_user_at(&proxy.base_url(), "bob").await;
    let clients = [&alice.client, &bob.client];
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
    for n in 0..3 {
        room.send(RoomMessageEventContent::text_plain(format!("alice {n}")))
            .await
            .unwrap();
    }
    let bob_room = bob.client.get_room(room.room_id()).unwrap();
    bob_room
        .send(RoomMessageEventContent::text_plain("bob 0"))
        .await
        .unwrap();
    let expected = ["alice 0", "alice 1", "alice 2", "bob 0"];
    for (client, seen) in clients.iter().zip(&seen) {
        sync_until(client, seen, &expected).await;
    }
    assert!(
        proxy.served().iter().all(|served| *served > 5),
        "every process answered requests: {:?}",
        proxy.served()
    );
}

#[tokio::test]
async fn a_sync_waiting_on_one_process_wakes_for_what_another_writes() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let (alice_id, alice) = user(first.raw(), "alice").await;
    let (bob_id, bob_on_first) = user(first.raw(), "bob").await;
    let bob = second.raw().with_token(bob_on_first.token_for_tests());
    let room_id = create_room(&alice, json!({"preset": "private_chat"})).await;
    invite(&alice, &room_id, &bob_id).await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    assert_eq!(
        joined_members(&alice, &room_id).await,
        sorted([&alice_id, &bob_id])
    );

    // A message sent through the first process wakes Bob's long-poll on the second.
    let since = next_batch(&bob).await;
    let (poll, _) = tokio::join!(long_poll(&bob, &since), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send_text(&alice, &room_id, "m1", "across processes").await
    });
    let (body, waited) = poll;
    let timeline = body["rooms"]["join"][&room_id]["timeline"]["events"].to_string();
    assert!(timeline.contains("across processes"), "{body}");
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");

    // Typing lives in memory; the second process learns of it from the first.
    let since = body["next_batch"].as_str().unwrap().to_owned();
    let (poll, _) = tokio::join!(long_poll(&bob, &since), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        alice
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/typing/{alice_id}"),
                json!({"typing": true, "timeout": 10000}),
            )
            .await
            .assert_ok();
    });
    let (_, waited) = poll;
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
    assert_eq!(typing_users(&bob, &room_id).await, [alice_id.clone()]);
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/typing/{alice_id}"),
            json!({"typing": false}),
        )
        .await
        .assert_ok();
    eventually("the second process to see Alice stop typing", || async {
        typing_users(&bob, &room_id).await.is_empty().then_some(())
    })
    .await;

    // A to-device message to Bob's device, sent through the first process.
    let bob_device = bob.get("/_matrix/client/v3/account/whoami").await.body["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = next_batch(&bob).await;
    let (poll, _) = tokio::join!(long_poll(&bob, &since), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        alice
            .put(
                "/_matrix/client/v3/sendToDevice/org.example.ping/t1",
                json!({"messages": {bob_id.clone(): {bob_device.clone(): {"n": 1}}}}),
            )
            .await
            .assert_ok();
    });
    let (body, waited) = poll;
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
    assert_eq!(body["to_device"]["events"][0]["content"]["n"], 1, "{body}");

    // The second process caches the event it served; a redaction made on the first evicts it.
    let event_id = send_text(&alice, &room_id, "m2", "to be redacted").await;
    let path = format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}");
    assert_eq!(
        bob.get(&path).await.body["content"]["body"],
        "to be redacted"
    );
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/redact/{event_id}/r1"),
            json!({}),
        )
        .await
        .assert_ok();
    eventually("the second process to serve the redacted event", || async {
        bob.get(&path).await.body["content"]
            .as_object()
            .is_some_and(|content| content.is_empty())
            .then_some(())
    })
    .await;
}

/// Two processes send into a room shared with Synapse: one of them at a time delivers to it,
/// and Synapse receives every message once, in order.
#[tokio::test]
async fn two_processes_deliver_to_synapse_in_order_and_once() {
    let synapse = SynapseServer::start().await;
    let first = TestServer::builder().federation().start().await;
    let second = first.another_process().await;
    let (alice_id, alice) = user(first.raw(), "alice").await;
    let alice_too = second.raw().with_token(alice.token_for_tests());
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let room_id = create_room(&alice, json!({"preset": "private_chat"})).await;
    invite(&alice, &room_id, &bob_id).await;
    eventually("Bob on Synapse to join", || async {
        bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
            .await
            .status
            .eq(&200)
            .then_some(())
    })
    .await;
    eventually("Estafette to see Bob's join", || async {
        (joined_members(&alice, &room_id).await == sorted([&alice_id, &bob_id])).then_some(())
    })
    .await;
    let mut sent = Vec::new();
    for n in 0..12 {
        let body = format!("message {n}");
        let sender = if n % 2 == 0 { &alice } else { &alice_too };
        send_text(sender, &room_id, &format!("t{n}"), &body).await;
        sent.push(body);
    }
    eventually("Synapse to receive every message", || async {
        (messages(&bob, &room_id).await == sent).then_some(())
    })
    .await;
    // Nothing is left queued and no lease is held once everything went out.
    eventually("the queue to drain", || async {
        let outbox = &first.services().context.storage.federation_outbox;
        outbox
            .destinations()
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

/// A client spreading its requests over the processes still gets the configured rate, not a
/// multiple of it.
#[tokio::test]
async fn rate_limits_hold_across_processes() {
    let first = TestServer::builder()
        .configure(|config| {
            config.rate_limit.enabled = true;
            config.rate_limit.per_second = 0.01;
            config.rate_limit.burst = 6;
        })
        .start()
        .await;
    let second = first.another_process().await;
    let proxy = RoundRobinProxy::start(&[first.base_url(), second.base_url()]).await;
    let (_, alice) = user(RawClient::new(proxy.base_url()), "alice").await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let answer = alice.get("/_matrix/client/v3/account/whoami").await;
        if answer.status == 429 {
            answer.assert_error(429, "M_LIMIT_EXCEEDED");
        }
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 429, 429, 429, 429],
        "served by {:?}",
        proxy.served()
    );
}
