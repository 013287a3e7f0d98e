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
    create_room, eventually, invite, join_once_invited, joined_members, messages, send_text,
    sorted, typing_users, user,
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
    join_once_invited(&bob, &room_id).await;
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

/// Writers on two processes commit out of order: a member syncing through either process gets
/// every message exactly once, and state changes sent at the same moment through both are all
/// kept (each is built on the room's state as it is when stored, not as another process left it).
#[tokio::test]
async fn concurrent_writers_on_two_processes_lose_and_repeat_nothing() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let (_, alice) = user(first.raw(), "alice").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "public_chat", "power_level_content_override": {"state_default": 0}}),
    )
    .await;
    let join = format!("/_matrix/client/v3/join/{room_id}");
    let mut senders = Vec::new();
    for n in 0..8 {
        let (_, on_first) = user(first.raw(), &format!("sender{n}")).await;
        let client = match n % 2 {
            0 => on_first,
            _ => second.raw().with_token(on_first.token_for_tests()),
        };
        client.post(&join, json!({})).await.assert_ok();
        senders.push(client);
    }
    let (_, watcher) = user(first.raw(), "watcher").await;
    watcher.post(&join, json!({})).await.assert_ok();
    let watchers = [
        watcher.clone(),
        second.raw().with_token(watcher.token_for_tests()),
    ];
    let mut token = next_batch(&watcher).await;

    let mut sending = tokio::task::JoinSet::new();
    for (n, client) in senders.into_iter().enumerate() {
        let room_id = room_id.clone();
        sending.spawn(async move {
            for i in 0..10 {
                send_text(&client, &room_id, &format!("t{i}"), &format!("{n}/{i}")).await;
                let mark = format!("/_matrix/client/v3/rooms/{room_id}/state/org.example.mark/{n}");
                if i % 3 == 0 {
                    client.put(&mark, json!({"i": i})).await.assert_ok();
                }
            }
        });
    }
    // Whole timelines (no gap): 200 events per sync at most.
    let filter = "%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A200%7D%7D%7D";
    let mut seen = Vec::new();
    let started = Instant::now();
    for turn in 0.. {
        if seen.len() >= 80 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "seen {seen:?}");
        let sync = watchers[turn % 2]
            .get(&format!(
                "/_matrix/client/v3/sync?since={token}&timeout=2000&filter={filter}"
            ))
            .await;
        sync.assert_ok();
        let room = &sync.body["rooms"]["join"][&room_id]["timeline"];
        assert_ne!(room["limited"], true, "{room}");
        for event in room["events"].as_array().into_iter().flatten() {
            if event["type"] == "m.room.message" {
                seen.push(event["content"]["body"].as_str().unwrap().to_owned());
            }
        }
        token = sync.body["next_batch"].as_str().unwrap().to_owned();
    }
    while let Some(sent) = sending.join_next().await {
        sent.unwrap();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "repeated: {seen:?}");
    assert_eq!(seen.len(), 80);

    for client in &watchers {
        let state = client
            .get(&format!("/_matrix/client/v3/rooms/{room_id}/state"))
            .await;
        state.assert_ok();
        let mut marks: Vec<(String, i64)> = state
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["type"] == "org.example.mark")
            .map(|event| {
                let key = event["state_key"].as_str().unwrap().to_owned();
                (key, event["content"]["i"].as_i64().unwrap())
            })
            .collect();
        marks.sort();
        let expected: Vec<(String, i64)> = (0..8).map(|n| (n.to_string(), 9)).collect();
        assert_eq!(
            marks, expected,
            "every sender's last mark is the room's state"
        );
    }
}

/// One transaction delivered to two processes at the same moment (a load balancer retrying on
/// another process, a sender retrying after a timeout): every event and to-device message in it
/// is kept once, neither process refuses it, and the origin's own delivery afterwards is a
/// duplicate.
#[tokio::test]
async fn a_transaction_delivered_to_two_processes_at_once_is_processed_once() {
    let home = TestServer::builder().federation().start().await;
    let home_second = home.another_process().await;
    let remote = TestServer::builder().federation().start().await;
    let (hugo_id, hugo) = user(home.raw(), "hugo").await;
    let (rita_id, rita) = user(remote.raw(), "rita").await;
    let room_id = create_room(&hugo, json!({"preset": "private_chat"})).await;
    invite(&hugo, &room_id, &rita_id).await;
    rita.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    eventually("the home server to see Rita's join", || async {
        (joined_members(&hugo, &room_id).await.len() == 2).then_some(())
    })
    .await;

    // Rita's server holds its messages back (the test holds its delivery lease to the home
    // server), so that the transaction below is the first to bring them.
    let home_name = ruma::OwnedServerName::try_from(home.server_name()).unwrap();
    let remote_outbox = &remote.services().context.storage.federation_outbox;
    let now = || {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        u64::try_from(since_epoch.unwrap().as_millis()).unwrap()
    };
    let held = remote_outbox
        .acquire_lease(&home_name, "test", now(), now() + 600_000)
        .await
        .unwrap();
    assert!(held);
    let mut pdus = Vec::new();
    for n in 0..10 {
        let event_id = send_text(&rita, &room_id, &format!("t{n}"), &format!("rita {n}")).await;
        let path = format!("/_matrix/federation/v1/event/{event_id}");
        let fetched = home
            .federation_request(&remote, reqwest::Method::GET, &path, None)
            .await;
        fetched.assert_ok();
        pdus.push(fetched.body["pdus"][0].clone());
    }
    assert!(messages(&hugo, &room_id).await.is_empty());

    let hugo_device = hugo.get("/_matrix/client/v3/account/whoami").await.body["device_id"].clone();
    let ping = json!({"n": 1});
    let transaction = json!({
        "origin": remote.server_name(),
        "origin_server_ts": now(),
        "pdus": pdus,
        "edus": [{"edu_type": "m.direct_to_device", "content": {
            "sender": rita_id, "type": "org.example.ping", "message_id": "once",
            "messages": {hugo_id.clone(): {hugo_device.as_str().unwrap(): ping}},
        }}],
    });
    let body = serde_json::to_vec(&transaction).unwrap();
    let path = "/_matrix/federation/v1/send/replayed";
    let put = reqwest::Method::PUT;
    let (first, second) = tokio::join!(
        remote.federation_request(&home, put.clone(), path, Some(body.clone())),
        remote.federation_request(&home_second, put, path, Some(body)),
    );
    for response in [&first, &second] {
        response.assert_ok();
        for (event_id, result) in response.body["pdus"].as_object().unwrap() {
            assert!(result.get("error").is_none(), "{event_id}: {result}");
        }
    }

    // The origin's own delivery now brings the same events again.
    remote_outbox
        .release_lease(&home_name, "test")
        .await
        .unwrap();
    remote.services().federation_sender.resume().await.unwrap();
    eventually("the origin's queue to drain", || async {
        remote_outbox
            .pending(&home_name, 1, 1)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;

    let expected: Vec<String> = (0..10).map(|n| format!("rita {n}")).collect();
    let hugo_second = home_second.raw().with_token(hugo.token_for_tests());
    for client in [&hugo, &hugo_second] {
        assert_eq!(messages(client, &room_id).await, expected);
    }
    let sync = hugo.get("/_matrix/client/v3/sync?timeout=0").await;
    let pings = sync.body["to_device"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["type"] == "org.example.ping")
        .count();
    assert_eq!(pings, 1, "{}", sync.body["to_device"]);
}

#[tokio::test]
async fn element_x_keeps_its_sliding_sync_connections_whichever_process_answers() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let proxy = RoundRobinProxy::start(&[first.base_url(), second.base_url()]).await;
    let (_, alice) = user(first.raw(), "alice").await;
    let (_, bob) = user(first.raw(), "bob").await;
    let mut rooms = Vec::new();
    for name in ["Archives", "Bureau"] {
        let room = create_room(&bob, json!({"name": name, "preset": "public_chat"})).await;
        alice
            .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
            .await
            .assert_ok();
        first.advance_clock(2);
        send_text(&bob, &room, "m1", &format!("dans {name}")).await;
        rooms.push(room);
    }

    // Raw: a position handed out by one process resumes on the other, which sends only news.
    let path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
    let body = json!({"conn_id": "room-list",
                      "lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1}}});
    let token = alice.token_for_tests().to_owned();
    let on_first = first.raw().with_token(token.clone());
    let on_second = second.raw().with_token(token);
    let initial = on_first
        .post(&format!("{path}?timeout=0"), body.clone())
        .await;
    assert_eq!(initial.body["rooms"].as_object().map(|r| r.len()), Some(2));
    let pos = initial.body["pos"].as_str().unwrap().to_owned();
    send_text(&bob, &rooms[0], "m2", "encore").await;
    let resumed = on_second
        .post(&format!("{path}?timeout=10000&pos={pos}"), body.clone())
        .await;
    resumed.assert_ok();
    let sent: Vec<&String> = resumed.body["rooms"].as_object().unwrap().keys().collect();
    assert_eq!(sent, [&rooms[0]], "{}", resumed.body);
    assert!(resumed.body["rooms"][&rooms[0]].get("initial").is_none());

    // Element X behind a proxy alternating between the processes.
    let client = crate::element_x::element_x(&proxy.base_url(), "alice", "alice's password").await;
    let sync = matrix_sdk_ui::sync_service::SyncService::builder(client.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    let service = sync.room_list_service();
    let names = crate::element_x::names;
    crate::element_x::room_list_until(
        &service,
        crate::element_x::non_left,
        "Archives first",
        |r| names(r) == ["Archives", "Bureau"],
    )
    .await;
    first.advance_clock(2);
    send_text(&bob, &rooms[1], "m3", "au bureau").await;
    crate::element_x::room_list_until(&service, crate::element_x::non_left, "Bureau first", |r| {
        names(r) == ["Bureau", "Archives"]
    })
    .await;
    sync.stop().await;
}

#[tokio::test]
async fn a_device_signs_in_by_qr_code_whichever_process_answers() {
    // The clients wait in real time between polls.
    let first = TestServer::builder().real_time().start().await;
    let second = first.another_process().await;
    let proxy = RoundRobinProxy::start(&[first.base_url(), second.base_url()]).await;
    crate::qr_login::phone_scans_the_code_a_new_device_shows(&proxy.base_url()).await;
}

#[tokio::test]
async fn delayed_events_go_out_once_whichever_process_took_them_and_outlive_it() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let (alice, bob, room) = alice_and_bob_across(&first, &second).await;
    let later = |txn: String, delay: u64| {
        let alice = alice.clone();
        let room = room.clone();
        async move {
            alice
                .put(
                    &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}?org.matrix.msc4140.delay={delay}"),
                    json!({"msgtype": "m.text", "body": txn}),
                )
                .await
                .assert_ok();
        }
    };
    for n in 0..10 {
        later(format!("m{n}"), 10_000).await;
    }
    // Both processes find the ten due at once: each goes out once.
    first.advance_clock(10_000);
    let expected: Vec<String> = (0..10).map(|n| format!("m{n}")).collect();
    eventually("the ten messages", || async {
        (sorted(&messages(&bob, &room).await) == sorted(&expected)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(messages(&bob, &room).await.len(), 10, "none twice");

    // The process that took it stops: the other sends it.
    later("orphan".to_owned(), 20_000).await;
    second.stop().await;
    first.advance_clock(20_000);
    eventually("the orphan", || async {
        messages(&bob, &room)
            .await
            .contains(&"orphan".to_owned())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn each_notification_reaches_the_gateway_once_in_order_from_two_processes() {
    let first = TestServer::start().await;
    let second = first.another_process().await;
    let gateway = estafette_tests::PushGateway::start().await;
    let (alice, bob, room) = alice_and_bob_across(&first, &second).await;
    bob.post(
        "/_matrix/client/v3/pushers/set",
        json!({"kind": "http", "app_id": "fr.gouv.tchap", "pushkey": "k", "app_display_name": "Tchap",
               "device_display_name": "phone", "lang": "fr", "data": {"url": gateway.url}}),
    )
    .await
    .assert_ok();
    // Sent through both processes, each of which runs delivery.
    let alice_on_first = RawClient::new(first.base_url()).with_token(alice.token_for_tests());
    for n in 0..6 {
        let sender = if n % 2 == 0 { &alice } else { &alice_on_first };
        send_text(sender, &room, &format!("t{n}"), &format!("message {n}")).await;
    }
    gateway.wait_for(6).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let bodies: Vec<String> = gateway
        .received()
        .iter()
        .map(|n| {
            n["notification"]["content"]["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..6).map(|n| format!("message {n}")).collect();
    assert_eq!(bodies, expected);
}

/// Alice on the second process, Bob on the first, in Alice's public room.
async fn alice_and_bob_across(
    first: &TestServer,
    second: &TestServer,
) -> (RawClient, RawClient, String) {
    let (_, alice) = user(second.raw(), "alice").await;
    let (_, bob) = user(first.raw(), "bob").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    (alice, bob, room)
}
