//! Push delivery to a gateway that answers as Sygnal does: a pusher registered by matrix-sdk
//! receives each notification its user's rules decide, in the full or `event_id_only`
//! format; a gateway that fails is retried with back-off and then gets what it missed, in
//! order, once; a rejected pushkey ends its pusher; a restart resends nothing.

use std::time::Duration;

use estafette_tests::{GatewayAnswer, PushGateway, RawClient, TestServer, User};
use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::push::{PusherIds, PusherInit, PusherKind};
use matrix_sdk::ruma::push::{HttpPusherData, PushFormat};
use serde_json::{Value, json};

use crate::room_helpers::{create_room, send_text};

/// Registers an HTTP pusher for `client` with matrix-sdk, as a phone app does.
async fn set_pusher(client: &Client, gateway: &PushGateway, pushkey: &str, event_id_only: bool) {
    let mut data = HttpPusherData::new(gateway.url.clone());
    if event_id_only {
        data.format = Some(PushFormat::EventIdOnly);
    }
    data.data.insert(
        "default_payload".to_owned(),
        json!({"aps": {"mutable-content": 1}}),
    );
    let pusher = PusherInit {
        ids: PusherIds::new(pushkey.to_owned(), "fr.gouv.tchap".to_owned()),
        kind: PusherKind::Http(data),
        app_display_name: "Tchap".to_owned(),
        device_display_name: "Téléphone".to_owned(),
        profile_tag: None,
        lang: "fr".to_owned(),
    };
    client.pusher().set(pusher.into(), true).await.unwrap();
}

/// Alice's room with Bob in it, Bob's phone with a pusher on `gateway`.
async fn room_with_bobs_phone(
    server: &TestServer,
    gateway: &PushGateway,
) -> (RawClient, User, String) {
    let room = json!({"preset": "public_chat", "name": "Cellule de crise"});
    room_made_with_bobs_phone(server, gateway, room).await
}

/// [`room_with_bobs_phone`], the room created with `body`.
async fn room_made_with_bobs_phone(
    server: &TestServer,
    gateway: &PushGateway,
    body: Value,
) -> (RawClient, User, String) {
    let (_, alice) = crate::room_helpers::user(server.raw(), "alice").await;
    let bob = server.register_user("bob").await;
    let room = create_room(&alice, body).await;
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    bob_raw
        .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    set_pusher(&bob.client, gateway, "bob-phone", false).await;
    (alice, bob, room)
}

fn bodies(received: &[Value]) -> Vec<String> {
    received
        .iter()
        .map(|n| {
            n["notification"]["content"]["body"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_message_rings_the_pusher_and_a_failing_gateway_gets_what_it_missed_in_order() {
    let server = TestServer::start().await;
    let gateway = PushGateway::start().await;
    let (alice, bob, room) = room_with_bobs_phone(&server, &gateway).await;
    let alice_id = alice.get("/_matrix/client/v3/account/whoami").await.body["user_id"].clone();

    let event_id = send_text(&alice, &room, "m1", "réunion à 15 h").await;
    let received = gateway.wait_for(1).await;
    let notification = &received[0]["notification"];
    assert_eq!(notification["event_id"], event_id.as_str());
    assert_eq!(notification["id"], event_id.as_str());
    assert_eq!(notification["room_id"], room.as_str());
    assert_eq!(notification["type"], "m.room.message");
    assert_eq!(notification["sender"], alice_id);
    assert_eq!(notification["sender_display_name"], "alice");
    assert_eq!(notification["room_name"], "Cellule de crise");
    assert_eq!(notification["content"]["body"], "réunion à 15 h");
    assert_eq!(notification["counts"]["unread"], 1);
    assert_eq!(notification["prio"], "high");
    let device = &notification["devices"][0];
    assert_eq!(
        (&device["app_id"], &device["pushkey"]),
        (&json!("fr.gouv.tchap"), &json!("bob-phone"))
    );
    assert_eq!(
        device["data"],
        json!({"default_payload": {"aps": {"mutable-content": 1}}}),
        "the URL is not forwarded"
    );
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        device["pushkey_ts"]
            .as_u64()
            .is_some_and(|ts| ts.abs_diff(now_secs) < 3_600),
        "seconds: {device}"
    );
    // Two members: the one-to-one rule, which sounds.
    assert_eq!(device["tweaks"], json!({"sound": "default"}));
    // Bob's own messages ring nobody's phone of his.
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    send_text(&bob_raw, &room, "b1", "j'y serai").await;

    // The gateway fails: nothing is lost, it is retried after its back-off, or at once for
    // a newer message (the gateway may be back), then gets them all in order, once.
    gateway.answer(GatewayAnswer::Fail(502));
    send_text(&alice, &room, "m2", "deux").await;
    let attempts_reach = |count: usize| {
        let gateway = &gateway;
        async move {
            for _ in 0..100 {
                if gateway.attempts() >= count {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            gateway.attempts()
        }
    };
    assert_eq!(attempts_reach(2).await, 2, "the gateway was tried");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gateway.attempts(), 2, "nothing before the back-off ends");
    server.advance_clock(1_000);
    assert_eq!(attempts_reach(3).await, 3, "retried after a second");
    send_text(&alice, &room, "m3", "trois").await;
    assert_eq!(
        attempts_reach(4).await,
        4,
        "a newer message is tried at once, back-off or not"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.attempts(), 4, "and only once");
    gateway.answer(GatewayAnswer::Accept);
    send_text(&alice, &room, "m4", "quatre").await;
    let received = gateway.wait_for(4).await;
    assert_eq!(
        bodies(&received),
        ["réunion à 15 h", "deux", "trois", "quatre"]
    );
    assert_eq!(
        received[3]["notification"]["counts"]["unread"], 1,
        "one room unread"
    );

    // A restart resends nothing.
    let stopped = server.go_offline().await;
    let server = stopped.start().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.advance_clock(10_000);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gateway.received().len(), 4);
}

#[tokio::test]
async fn event_id_only_pushers_get_no_content_and_rejected_pushkeys_end_their_pusher() {
    let server = TestServer::start().await;
    let gateway = PushGateway::start().await;
    let (alice, bob, room) = room_with_bobs_phone(&server, &gateway).await;
    set_pusher(&bob.client, &gateway, "bob-tablet", true).await;

    send_text(&alice, &room, "m1", "confidentiel").await;
    let received = gateway.wait_for(2).await;
    let by_key = |key: &str| {
        received
            .iter()
            .find(|n| n["notification"]["devices"][0]["pushkey"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("a notification for {key}: {received:?}"))
    };
    let minimal = by_key("bob-tablet")["notification"].clone();
    assert!(minimal["event_id"].is_string() && minimal["room_id"] == room.as_str());
    for absent in [
        "content",
        "sender",
        "type",
        "sender_display_name",
        "room_name",
    ] {
        assert!(minimal.get(absent).is_none(), "{absent} in {minimal}");
    }
    assert!(minimal["devices"][0].get("tweaks").is_none());
    assert_eq!(
        by_key("bob-phone")["notification"]["content"]["body"],
        "confidentiel"
    );

    // The app was uninstalled from the phone: the gateway says so, the pusher goes.
    gateway.answer(GatewayAnswer::Reject(vec!["bob-phone".to_owned()]));
    send_text(&alice, &room, "m2", "encore").await;
    gateway.wait_for(4).await;
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    let mut remaining = Vec::new();
    for _ in 0..100 {
        let pushers = bob_raw.get("/_matrix/client/v3/pushers").await;
        remaining = pushers.body["pushers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pushkey"].as_str().unwrap().to_owned())
            .collect();
        if remaining.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(remaining, ["bob-tablet"]);
}

#[tokio::test]
async fn a_signed_out_phone_is_notified_no_more() {
    let server = TestServer::start().await;
    let gateway = PushGateway::start().await;
    let (alice, bob, room) = room_with_bobs_phone(&server, &gateway).await;
    send_text(&alice, &room, "m1", "avant").await;
    gateway.wait_for(1).await;
    let laptop = server.login("bob", &bob.password).await;
    bob.client.matrix_auth().logout().await.unwrap();
    let laptop_raw = server.raw().with_token(laptop.access_token().unwrap());
    let pushers = laptop_raw.get("/_matrix/client/v3/pushers").await;
    assert_eq!(
        pushers.body["pushers"],
        json!([]),
        "the phone's pusher went with it"
    );
    send_text(&alice, &room, "m2", "après").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bodies(&gateway.received()), ["avant"]);
}

#[tokio::test]
async fn an_operator_restricts_the_gateways_pushers_may_name() {
    let server = TestServer::builder()
        .configure(|config| config.push.gateway_hosts = vec!["push.tchap.gouv.fr".to_owned()])
        .start()
        .await;
    let (_, bob) = crate::room_helpers::user(server.raw(), "bob").await;
    let pusher = |url: &str| {
        json!({"kind": "http", "app_id": "fr.gouv.tchap", "pushkey": "k", "app_display_name": "Tchap",
               "device_display_name": "phone", "lang": "fr", "data": {"url": url}})
    };
    bob.post(
        "/_matrix/client/v3/pushers/set",
        pusher("http://127.0.0.1:9/_matrix/push/v1/notify"),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    bob.post(
        "/_matrix/client/v3/pushers/set",
        pusher("https://PUSH.tchap.gouv.fr/_matrix/push/v1/notify"),
    )
    .await
    .assert_ok();
    let listed = bob.get("/_matrix/client/v3/pushers").await;
    assert_eq!(listed.body["pushers"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn urgency_and_sound_follow_the_rules_and_a_read_receipt_updates_the_badge() {
    let server = TestServer::start().await;
    let gateway = PushGateway::start().await;
    let (alice, bob, room) = room_with_bobs_phone(&server, &gateway).await;
    // A third member: no longer one-to-one, so a plain message notifies without sound.
    let (_, carol) = crate::room_helpers::user(server.raw(), "carol").await;
    carol
        .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    send_text(&alice, &room, "g1", "ordre du jour").await;
    let plain = gateway.wait_for(1).await[0]["notification"].clone();
    assert_eq!(plain["prio"], "low", "{plain}");
    assert_eq!(plain["devices"][0]["tweaks"], json!({}));
    // A mention of Bob: highlighted and sounding, so urgent.
    let bob_id = bob.client.user_id().unwrap().to_string();
    let mention = alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/g2"),
            json!({"msgtype": "m.text", "body": "bob, tu valides ?",
                   "m.mentions": {"user_ids": [bob_id]}}),
        )
        .await
        .body["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let received = gateway.wait_for(2).await;
    let urgent = &received[1]["notification"];
    assert_eq!(urgent["event_id"], mention.as_str());
    assert_eq!(urgent["prio"], "high");
    assert_eq!(
        urgent["devices"][0]["tweaks"],
        json!({"sound": "default", "highlight": true})
    );
    assert_eq!(urgent["counts"]["unread"], 1);
    // Bob reads the room: his phone's badge goes to zero, in a notification without event.
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    bob_raw
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{mention}"),
            json!({}),
        )
        .await
        .assert_ok();
    let received = gateway.wait_for(3).await;
    let badge = &received[2]["notification"];
    assert_eq!(badge["counts"]["unread"], 0, "{badge}");
    assert!(badge.get("event_id").is_none(), "{badge}");
    assert_eq!(badge["id"], "");
    assert_eq!(badge["devices"][0]["pushkey"], "bob-phone");
    // The same badge again is not sent twice.
    bob_raw
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read.private/{mention}"),
            json!({}),
        )
        .await
        .assert_ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.received().len(), 3);
}

/// Sends an encrypted message as a client does (the server sees only ciphertext).
async fn send_encrypted(sender: &RawClient, room: &str, txn: &str) -> String {
    sender
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/{txn}"),
            json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": format!("AwgA{txn}"),
                   "device_id": "ALICEPHONE", "sender_key": "k", "session_id": "s"}),
        )
        .await
        .body["event_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn encrypted_messages_ring_a_mentions_only_room_once_the_client_turns_on_msc4028() {
    let server = TestServer::start().await;
    let gateway = PushGateway::start().await;
    let (alice, bob, room) = room_with_bobs_phone(&server, &gateway).await;
    let versions = server.raw().get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4028"],
        true
    );
    crate::room_helpers::encrypt_room(&alice, &room).await;
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    let rule = "/_matrix/client/v3/pushrules/global/override/.org.matrix.msc4028.encrypted_event";
    let listed = bob_raw.get(rule).await;
    listed.assert_ok();
    assert_eq!(
        listed.body["enabled"], false,
        "off by default: {}",
        listed.body
    );
    assert_eq!(listed.body["default"], true);
    // Mentions and keywords only, as Element sets it: the server cannot see a mention
    // through the encryption, so nothing rings.
    bob_raw
        .put(
            &format!("/_matrix/client/v3/pushrules/global/room/{room}"),
            json!({"actions": []}),
        )
        .await
        .assert_ok();
    send_encrypted(&alice, &room, "e1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        gateway.received().is_empty(),
        "a mentions-only room is quiet"
    );

    // Bob's client turns the rule on: every encrypted message rings, his phone decides.
    bob_raw
        .put(&format!("{rule}/enabled"), json!({"enabled": true}))
        .await
        .assert_ok();
    let event_id = send_encrypted(&alice, &room, "e2").await;
    let received = gateway.wait_for(1).await;
    let notification = &received[0]["notification"];
    assert_eq!(notification["event_id"], event_id.as_str());
    assert_eq!(notification["type"], "m.room.encrypted");
    assert_eq!(
        notification["prio"], "high",
        "encrypted: the phone must look"
    );

    // A muted room (the user's own override rule, before the server's) stays muted.
    bob_raw
        .put(
            "/_matrix/client/v3/pushrules/global/override/mute",
            json!({"actions": [], "conditions": [
                {"kind": "event_match", "key": "room_id", "pattern": room}]}),
        )
        .await
        .assert_ok();
    send_encrypted(&alice, &room, "e3").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gateway.received().len(), 1, "muted");
}

#[tokio::test]
async fn an_operator_keeps_message_text_from_the_push_providers() {
    let server = TestServer::builder()
        .configure(|config| config.push.include_content = false)
        .start()
        .await;
    let gateway = PushGateway::start().await;
    // No name: the room is named by its address.
    let (alice, _bob, room) = room_made_with_bobs_phone(
        &server,
        &gateway,
        json!({"preset": "public_chat", "room_alias_name": "astreinte"}),
    )
    .await;
    let event_id = send_text(&alice, &room, "s1", "code du coffre : 1234").await;
    let received = gateway.wait_for(1).await;
    let notification = &received[0]["notification"];
    assert_eq!(notification["event_id"], event_id.as_str());
    assert_eq!(notification["type"], "m.room.message");
    assert_eq!(
        notification["room_name"],
        format!("#astreinte:{}", server.server_name())
    );
    assert!(notification.get("content").is_none(), "{notification}");
    assert!(!received[0].to_string().contains("1234"));
}
