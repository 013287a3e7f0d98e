//! Transactions to application services (BRIDGES.md §2) against a fake service on
//! loopback: the events that interest each service (invites with their room state, its own
//! events echoed, massaged timestamps, state it replaced), typing and receipts under the key
//! its registration asks for, and the delivery engine — the same transaction again after a
//! failure, at once after a ping, IDs that keep rising across a restart.

use estafette_tests::{AppserviceAnswer, FakeAppservice, TestServer};
use serde_json::{Value, json};

use crate::appservices::{as_client, register_ghost, server_with, urlencode, user_id};
use crate::room_helpers::{create_room, invite, send_text, user};

/// The service's `ghost` joins `room`.
pub(crate) async fn join_as(bridge: &estafette_tests::RawClient, room: &str, ghost: &str) {
    bridge
        .post(
            &format!(
                "/_matrix/client/v3/join/{room}?user_id={}",
                urlencode(ghost)
            ),
            json!({}),
        )
        .await
        .assert_ok();
}

#[tokio::test]
async fn transactions_carry_what_interests_the_service_in_order() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    let (alice_id, alice) = {
        let user = server.register_user("alice").await;
        let raw = server.raw().with_token(user.client.access_token().unwrap());
        (user_id(&server, "alice"), raw)
    };
    let room = create_room(&alice, json!({"name": "Pont", "is_direct": false})).await;
    // Nothing in this room interests the service yet.
    send_text(&alice, &room, "t0", "before the ghost").await;
    let ghost = user_id(&server, "_test_erin");
    register_ghost(&bridge, "_test_erin").await;
    invite(&alice, &room, &ghost).await;
    // The invite reaches the service with the room's stripped state.
    let invite_event = service
        .wait_for_event(|e| e["type"] == "m.room.member" && e["state_key"] == ghost.as_str())
        .await;
    assert_eq!(invite_event["room_id"], room);
    assert_eq!(invite_event["sender"], alice_id);
    let stripped = invite_event["unsigned"]["invite_room_state"]
        .as_array()
        .expect("invite_room_state");
    assert!(
        stripped
            .iter()
            .any(|s| s["type"] == "m.room.name" && s["content"]["name"] == "Pont"),
        "{stripped:?}"
    );
    let as_ghost = bridge.clone();
    let ghost_query = format!("user_id={}", urlencode(&ghost));
    as_ghost
        .post(
            &format!("/_matrix/client/v3/join/{room}?{ghost_query}"),
            json!({}),
        )
        .await
        .assert_ok();
    // Alice's message, now that a ghost is in the room; the ghost's own, echoed back to
    // the service, with the timestamp it gave.
    let said = send_text(&alice, &room, "t1", "bonjour le pont").await;
    let ts = 1_500_000_000_000_u64;
    let sent = as_ghost
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/send/m.room.message/g1?{ghost_query}&ts={ts}"
            ),
            json!({"msgtype": "m.text", "body": "hello from the other side"}),
        )
        .await;
    sent.assert_ok();
    let echoed = service
        .wait_for_event(|e| e["content"]["body"] == "hello from the other side")
        .await;
    assert_eq!(echoed["sender"], ghost);
    assert_eq!(echoed["origin_server_ts"], ts);
    // People see the massaged time too; nobody else may set it.
    let event_id = sent.body["event_id"].as_str().unwrap();
    let seen = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{event_id}"))
        .await;
    assert_eq!(seen.body["origin_server_ts"], ts);
    let plain = alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t2?ts={ts}"),
            json!({"msgtype": "m.text", "body": "no time travel"}),
        )
        .await;
    let plain_id = plain.body["event_id"].as_str().unwrap();
    let plain = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{plain_id}"))
        .await;
    assert_ne!(plain.body["origin_server_ts"], ts);
    // A per-room name through the state endpoint, as bridges set it, keeps prev_content.
    as_ghost
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}?{ghost_query}",
                urlencode(&ghost)
            ),
            json!({"membership": "join", "displayname": "Erin (WhatsApp)"}),
        )
        .await
        .assert_ok();
    let renamed = service
        .wait_for_event(|e| e["content"]["displayname"] == "Erin (WhatsApp)")
        .await;
    assert_eq!(renamed["unsigned"]["prev_content"]["membership"], "join");
    let bodies: Vec<Value> = service
        .events()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        vec![
            json!("bonjour le pont"),
            json!("hello from the other side"),
            json!("no time travel")
        ],
        "messages before the ghost joined are not the service's; the rest come in order"
    );
    let alices = service
        .events()
        .into_iter()
        .find(|e| e["event_id"] == said.as_str())
        .expect("Alice's message");
    assert!(alices["unsigned"]["age"].is_u64(), "{alices:?}");
    // Every transaction has `events`, and their IDs rise.
    let ids: Vec<u64> = service
        .transactions()
        .iter()
        .map(|t| {
            assert!(t.body["events"].is_array());
            t.txn_id.parse().unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test]
async fn a_failed_transaction_is_resent_whole_after_back_off_or_at_once_after_a_ping() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    register_ghost(&bridge, "_test_frank").await;
    let ghost_query = format!("user_id={}", urlencode(&user_id(&server, "_test_frank")));
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bridge
        .post(
            &format!("/_matrix/client/v3/join/{room}?{ghost_query}"),
            json!({}),
        )
        .await
        .assert_ok();
    service
        .wait_for_event(|e| e["type"] == "m.room.member")
        .await;
    service.answer(AppserviceAnswer::Fail(500));
    send_text(&alice, &room, "m1", "first").await;
    let failed = service
        .wait_for_attempts(service.attempts().len() + 1)
        .await;
    let first_try = failed.last().unwrap().clone();
    send_text(&alice, &room, "m2", "second").await;
    // Down: nothing more goes out before the back-off (2 s on the server's clock) ends.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(service.attempts().len(), failed.len());
    server.advance_clock(2_100);
    let retried = service.wait_for_attempts(failed.len() + 1).await;
    let second_try = retried.last().unwrap();
    assert_eq!(second_try.txn_id, first_try.txn_id, "same ID");
    assert_eq!(second_try.body, first_try.body, "same body");
    // Back-off doubled to 4 s; a ping that succeeds resends at once.
    service.answer(AppserviceAnswer::Accept);
    let ping = bridge
        .post(
            &format!("/_matrix/client/v1/appservice/{}/ping", service.id),
            json!({"transaction_id": "mautrix-go_ping_1"}),
        )
        .await;
    ping.assert_ok();
    assert!(ping.body["duration_ms"].is_u64(), "{ping:?}");
    assert_eq!(
        service.pings().last().unwrap()["transaction_id"],
        "mautrix-go_ping_1",
        "passed through verbatim"
    );
    let second = service
        .wait_for_event(|e| e["content"]["body"] == "second")
        .await;
    let transactions = service.transactions();
    assert_eq!(
        transactions
            .iter()
            .find(|t| t.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["content"]["body"] == "first"))
            .unwrap()
            .txn_id,
        first_try.txn_id
    );
    assert_eq!(second["room_id"], room);

    // Ping's refusals: another service's ID, and the service's failures.
    bridge
        .post("/_matrix/client/v1/appservice/other/ping", json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    service.answer(AppserviceAnswer::Fail(500));
    let bad = bridge
        .post(
            &format!("/_matrix/client/v1/appservice/{}/ping", service.id),
            json!({}),
        )
        .await;
    bad.assert_error(502, "M_BAD_STATUS");
    assert_eq!(bad.body["status"], 500);
    assert_eq!(bad.body["body"], "the bridge is unwell");
    let (_, bob) = user(server.raw(), "bob").await;
    bob.post(
        &format!("/_matrix/client/v1/appservice/{}/ping", service.id),
        json!({}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn a_service_without_url_gets_nothing_and_ping_says_so() {
    let puppets = FakeAppservice::start_without_url("puppets").await;
    let server = server_with(&puppets, true).await;
    let bridge = as_client(&server, &puppets);
    bridge
        .post("/_matrix/client/v1/appservice/puppets/ping", json!({}))
        .await
        .assert_error(400, "M_URL_NOT_SET");
    register_ghost(&bridge, "_test_gina").await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({})).await;
    invite(&alice, &room, &user_id(&server, "_test_gina")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(puppets.attempts().is_empty());
}

#[tokio::test]
async fn transaction_ids_keep_rising_across_a_restart() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    register_ghost(&bridge, "_test_hank").await;
    let ghost_query = format!("user_id={}", urlencode(&user_id(&server, "_test_hank")));
    let room = create_room(&bridge, json!({"preset": "public_chat"})).await;
    bridge
        .post(
            &format!("/_matrix/client/v3/join/{room}?{ghost_query}"),
            json!({}),
        )
        .await
        .assert_ok();
    send_text(&bridge, &room, "r1", "before").await;
    service
        .wait_for_event(|e| e["content"]["body"] == "before")
        .await;
    let before: u64 = service
        .transactions()
        .last()
        .unwrap()
        .txn_id
        .parse()
        .unwrap();
    let stopped = server.go_offline().await;
    let server = stopped.start().await;
    // A run stopped mid-pass leaves its claim: SQLite's lone process drops it at start-up,
    // processes sharing PostgreSQL wait out its lease.
    if std::env::var_os("ESTAFETTE_TEST_POSTGRES").is_some() {
        server.advance_clock(61_000);
    }
    let bridge = as_client(&server, &service);
    send_text(&bridge, &room, "r2", "after").await;
    service
        .wait_for_event(|e| e["content"]["body"] == "after")
        .await;
    let after: u64 = service
        .transactions()
        .last()
        .unwrap()
        .txn_id
        .parse()
        .unwrap();
    assert!(after > before, "{before} then {after}");
    // What went out before the restart came again, if at all, only as the same transaction
    // (a stop between the service's answer and its record resends it; services drop an ID
    // they have seen): never under a new ID.
    let mut carrying: Vec<String> = service
        .transactions()
        .iter()
        .filter(|t| {
            t.body["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["content"]["body"] == "before"))
        })
        .map(|t| t.txn_id.clone())
        .collect();
    carrying.dedup();
    assert_eq!(carrying.len(), 1, "{carrying:?}");
}

#[tokio::test]
async fn typing_and_receipts_come_under_the_key_the_registration_asks_for() {
    let cases = [
        ("receive_ephemeral: true\n", Some("ephemeral")),
        (
            "de.sorunome.msc2409.push_ephemeral: true\n",
            Some("de.sorunome.msc2409.ephemeral"),
        ),
        ("", None),
    ];
    for (flag, key) in cases {
        let service = FakeAppservice::start("bridge", flag).await;
        let server = server_with(&service, true).await;
        let bridge = as_client(&server, &service);
        let ghost = user_id(&server, "_test_ivy");
        register_ghost(&bridge, "_test_ivy").await;
        let (alice_id, alice) = user(server.raw(), "alice").await;
        let room = create_room(&alice, json!({"preset": "public_chat"})).await;
        join_as(&bridge, &room, &ghost).await;
        let said = send_text(&alice, &room, "e1", "tapez").await;
        alice
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{room}/typing/{}",
                    urlencode(&alice_id)
                ),
                json!({"typing": true, "timeout": 30000}),
            )
            .await
            .assert_ok();
        alice
            .post(
                &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{said}"),
                json!({}),
            )
            .await
            .assert_ok();
        service
            .wait_for_event(|e| e["content"]["body"] == "tapez")
            .await;
        let ephemeral_of = |key: &str| -> Vec<Value> {
            service
                .transactions()
                .iter()
                .flat_map(|t| t.body[key].as_array().cloned().unwrap_or_default())
                .collect()
        };
        match key {
            Some(key) => {
                let mut items = Vec::new();
                for _ in 0..200 {
                    items = ephemeral_of(key);
                    let typing = items.iter().any(|e| {
                        e["type"] == "m.typing"
                            && e["room_id"] == room.as_str()
                            && e["content"]["user_ids"][0] == alice_id.as_str()
                    });
                    let read = items.iter().any(|e| {
                        e["type"] == "m.receipt"
                            && e["content"][said.as_str()]["m.read"][alice_id.as_str()]["ts"]
                                .is_u64()
                    });
                    if typing && read {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                assert!(
                    items.iter().any(|e| e["type"] == "m.typing")
                        && items.iter().any(|e| e["type"] == "m.receipt"),
                    "{flag}: {items:#?}"
                );
                // Never both copies.
                let other = if key == "ephemeral" {
                    "de.sorunome.msc2409.ephemeral"
                } else {
                    "ephemeral"
                };
                assert!(ephemeral_of(other).is_empty(), "{flag}");
            }
            None => {
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                assert!(
                    service
                        .transactions()
                        .iter()
                        .all(|t| t.body.get("ephemeral").is_none()
                            && t.body.get("de.sorunome.msc2409.ephemeral").is_none()),
                    "no flag, no ephemeral data"
                );
            }
        }
    }
}

#[tokio::test]
async fn two_services_each_get_what_interests_them() {
    let first = FakeAppservice::start("first", "").await;
    let second = FakeAppservice::start_with_users("second", "@_node_.*").await;
    let files = vec![first.registration.clone(), second.registration.clone()];
    let server = TestServer::builder()
        .configure(move |config| config.appservices.files = files)
        .start()
        .await;
    register_ghost(&as_client(&server, &first), "_test_one").await;
    register_ghost(&as_client(&server, &second), "_node_two").await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({})).await;
    invite(&alice, &room, &user_id(&server, "_test_one")).await;
    invite(&alice, &room, &user_id(&server, "_node_two")).await;
    let one = user_id(&server, "_test_one");
    let two = user_id(&server, "_node_two");
    first
        .wait_for_event(|e| e["state_key"] == one.as_str())
        .await;
    second
        .wait_for_event(|e| e["state_key"] == two.as_str())
        .await;
    assert!(
        first
            .events()
            .iter()
            .all(|e| e["state_key"] != two.as_str())
    );
    assert!(
        second
            .events()
            .iter()
            .all(|e| e["state_key"] != one.as_str())
    );
}

#[tokio::test]
async fn to_device_messages_for_the_service_s_users_come_with_their_recipient() {
    let service = FakeAppservice::start("bridge", "receive_ephemeral: true\n").await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    let ghost = user_id(&server, "_test_lea");
    register_ghost(&bridge, "_test_lea").await;
    bridge
        .put(
            &format!(
                "/_matrix/client/v3/devices/LEADEV?user_id={}",
                urlencode(&ghost)
            ),
            json!({}),
        )
        .await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    alice
        .put(
            "/_matrix/client/v3/sendToDevice/m.room_key_request/td1",
            json!({"messages": {
                ghost.as_str(): {"LEADEV": {"action": "request", "body": "for the bridge"}},
                bob_id.as_str(): {"*": {"action": "request", "body": "for bob"}},
            }}),
        )
        .await
        .assert_ok();
    let mut received = Vec::new();
    for _ in 0..200 {
        received = service
            .transactions()
            .iter()
            .flat_map(|t| {
                t.body["de.sorunome.msc2409.to_device"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        received.len(),
        1,
        "only the service's user's: {received:#?}"
    );
    let message = &received[0];
    assert_eq!(message["to_user_id"], ghost);
    assert_eq!(message["to_device_id"], "LEADEV");
    assert_eq!(message["sender"], alice_id);
    assert_eq!(message["type"], "m.room_key_request");
    assert_eq!(message["content"]["body"], "for the bridge");
    // The service has it: the ghost device's inbox, which nothing reads, keeps nothing;
    // Bob's still holds his.
    let inbox = bridge
        .get(&format!(
            "/_matrix/client/v3/sync?timeout=0&user_id={}&device_id=LEADEV",
            urlencode(&ghost)
        ))
        .await;
    inbox.assert_ok();
    let waiting = inbox.body["to_device"]["events"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(waiting, 0, "{}", inbox.body["to_device"]);
    let bobs = bob.get("/_matrix/client/v3/sync?timeout=0").await;
    assert_eq!(
        bobs.body["to_device"]["events"][0]["content"]["body"],
        "for bob"
    );
}

#[tokio::test]
async fn end_to_bridge_encryption_gets_device_lists_and_key_counts() {
    let service = FakeAppservice::start(
        "bridge",
        "receive_ephemeral: true\norg.matrix.msc3202: true\n",
    )
    .await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    let ghost = user_id(&server, "_test_max");
    register_ghost(&bridge, "_test_max").await;
    let as_device = format!("user_id={}&device_id=MAXDEV", urlencode(&ghost));
    bridge
        .put(
            &format!(
                "/_matrix/client/v3/devices/MAXDEV?user_id={}",
                urlencode(&ghost)
            ),
            json!({}),
        )
        .await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    join_as(&bridge, &room, &ghost).await;
    // The ghost's device gets its identity keys (a device list change) and two one-time keys.
    bridge
        .post(
            &format!("/_matrix/client/v3/keys/upload?{as_device}"),
            json!({
                "device_keys": crate::dehydrated::signed_device_keys(&ghost, "MAXDEV", 7),
                "one_time_keys": {
                    "curve25519:AAAAAQ": "a2V5b25l", "curve25519:AAAAAg": "a2V5dHdv"}}),
        )
        .await
        .assert_ok();
    send_text(&alice, &room, "k1", "after the keys").await;
    service
        .wait_for_event(|e| e["content"]["body"] == "after the keys")
        .await;
    let transactions = service.transactions();
    let last = &transactions.last().unwrap().body;
    for key in [
        "org.matrix.msc3202.device_one_time_keys_count",
        "org.matrix.msc3202.device_one_time_key_counts",
    ] {
        assert_eq!(
            last[key][ghost.as_str()]["MAXDEV"]["curve25519"],
            2,
            "{key}: {last:#}"
        );
    }
    assert!(last["org.matrix.msc3202.device_unused_fallback_key_types"].is_object());
    let changed: Vec<Value> = transactions
        .iter()
        .flat_map(|t| {
            t.body["org.matrix.msc3202.device_lists"]["changed"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(changed.contains(&json!(ghost)), "{changed:?}");
    let left_lists = |service: &FakeAppservice| -> Vec<Value> {
        service
            .transactions()
            .iter()
            .flat_map(|t| {
                t.body["org.matrix.msc3202.device_lists"]["left"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    assert!(left_lists(&service).is_empty());

    // Alice leaves the only room she shared with the service's users: her list is left.
    alice
        .post(&format!("/_matrix/client/v3/rooms/{room}/leave"), json!({}))
        .await
        .assert_ok();
    service
        .wait_for_event(|e| {
            e["type"] == "m.room.member"
                && e["state_key"] == alice_id.as_str()
                && e["content"]["membership"] == "leave"
        })
        .await;
    assert_eq!(left_lists(&service), [json!(alice_id)]);
}
