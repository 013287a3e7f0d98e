//! Simplified sliding sync (MSC4186) on the wire, as Element X's SDK sends it: room lists in
//! recency order with counts, first sight of a room then only what is new, invites with their
//! stripped state, long-polls woken by the notifier, extensions, and bad input refused.

use std::time::{Duration, Instant};

use estafette_tests::{RawClient, RawResponse, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::{create_room, invite, send_text, user};

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/// What the SDK's `all_rooms` list asks for (ELEMENT_X.md §2), over `range`.
fn all_rooms(start: u64, end: u64) -> Value {
    json!({
        "ranges": [[start, end]],
        "timeline_limit": 1,
        "required_state": [
            ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"],
            ["m.room.member", "$ME"], ["m.room.topic", ""], ["m.room.avatar", ""],
            ["m.room.create", ""], ["m.room.power_levels", ""], ["m.space.child", "*"]
        ]
    })
}

async fn sliding(
    client: &RawClient,
    pos: Option<&str>,
    timeout_ms: u64,
    body: Value,
) -> RawResponse {
    let pos = pos.map(|pos| format!("&pos={pos}")).unwrap_or_default();
    client
        .post(&format!("{PATH}?timeout={timeout_ms}{pos}"), body)
        .await
}

/// The room IDs of a response ordered by bump stamp, most recent first.
fn by_bump(body: &Value) -> Vec<String> {
    let mut rooms: Vec<(i64, String)> = body["rooms"]
        .as_object()
        .map(|rooms| {
            rooms
                .iter()
                .map(|(id, room)| (room["bump_stamp"].as_i64().unwrap_or(-1), id.clone()))
                .collect()
        })
        .unwrap_or_default();
    rooms.sort_by(|a, b| b.cmp(a));
    rooms.into_iter().map(|(_, id)| id).collect()
}

fn timeline_bodies(room: &Value) -> Vec<String> {
    room["timeline"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn state_types(room: &Value) -> Vec<String> {
    let mut types: Vec<String> = room["required_state"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    format!(
                        "{}|{}",
                        e["type"].as_str().unwrap_or(""),
                        e["state_key"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    types.sort();
    types
}

#[tokio::test]
async fn room_lists_come_in_recency_order_then_only_what_is_new() {
    let server = TestServer::start().await;
    let versions = server.raw().get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.simplified_msc3575"],
        true
    );
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let oldest = create_room(&alice, json!({"name": "Oldest"})).await;
    let middle = create_room(&alice, json!({"name": "Middle", "topic": "Milieu"})).await;
    let newest = create_room(&alice, json!({"name": "Newest"})).await;
    send_text(&alice, &oldest, "t1", "first in oldest").await;
    send_text(&alice, &middle, "t2", "first in middle").await;
    send_text(&alice, &newest, "t3", "first in newest").await;
    // A direct chat without a name: the client names it after its heroes.
    let dm = create_room(
        &bob,
        json!({"is_direct": true, "invite": [alice_id.clone()]}),
    )
    .await;
    crate::room_helpers::join_once_invited(&alice, &dm).await;
    send_text(&bob, &dm, "t4", "hello alice").await;
    alice
        .put(
            &format!("/_matrix/client/v3/user/{alice_id}/account_data/m.direct"),
            json!({ bob_id.clone(): [dm.clone()] }),
        )
        .await
        .assert_ok();
    // An invite Alice has not answered.
    let party = create_room(&bob, json!({"name": "Party"})).await;
    invite(&bob, &party, &alice_id).await;

    let request = |start, end| {
        json!({
            "conn_id": "room-list",
            "lists": {
                "all_rooms": all_rooms(start, end),
                "invites": {"ranges": [[0, 10]], "timeline_limit": 0, "filters": {"is_invite": true}}
            },
            "extensions": {"account_data": {"enabled": true}}
        })
    };
    let first = sliding(&alice, None, 0, request(0, 1)).await;
    first.assert_ok();
    let body = &first.body;
    assert_eq!(body["lists"]["all_rooms"]["count"], 5, "{body}");
    assert_eq!(body["lists"]["invites"]["count"], 1);
    // The two most recent rooms (the invite came last), and the invite through its list.
    assert_eq!(by_bump(body), [party.clone(), dm.clone()], "{body}");
    let invited = &body["rooms"][&party];
    assert_eq!(invited["initial"], true);
    let stripped: Vec<&str> = invited["invite_state"]
        .as_array()
        .expect("invite_state")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        stripped.contains(&"m.room.name") && stripped.contains(&"m.room.member"),
        "{invited}"
    );
    assert!(invited.get("timeline").is_none());
    let direct = &body["rooms"][&dm];
    assert_eq!(direct["initial"], true);
    assert_eq!(direct["is_dm"], true);
    assert!(direct.get("name").is_none());
    assert_eq!(direct["heroes"][0]["user_id"], bob_id.as_str(), "{direct}");
    assert_eq!(direct["joined_count"], 2);
    assert_eq!(direct["notification_count"], 1, "{direct}");
    assert_eq!(timeline_bodies(direct), ["hello alice"]);
    assert!(direct["prev_batch"].is_string());
    // $LAZY brought the sender's membership, $ME Alice's own.
    let state = state_types(direct);
    for wanted in [
        format!("m.room.member|{bob_id}"),
        format!("m.room.member|{alice_id}"),
        "m.room.create|".to_owned(),
    ] {
        assert!(state.contains(&wanted), "{wanted} missing from {state:?}");
    }
    let global: Vec<&str> = body["extensions"]["account_data"]["global"]
        .as_array()
        .expect("global account data")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        global.contains(&"m.direct") && global.contains(&"m.push_rules"),
        "{global:?}"
    );
    let pos = body["pos"].as_str().expect("pos").to_owned();

    // The range grows: the rooms now in range come whole, the others not again.
    let grown = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    grown.assert_ok();
    let body = &grown.body;
    assert_eq!(
        by_bump(body),
        [newest.clone(), middle.clone(), oldest.clone()],
        "{body}"
    );
    let middle_room = &body["rooms"][&middle];
    assert_eq!(middle_room["initial"], true);
    assert_eq!(middle_room["name"], "Middle");
    assert_eq!(timeline_bodies(middle_room), ["first in middle"]);
    assert!(state_types(middle_room).contains(&"m.room.topic|".to_owned()));
    let pos = body["pos"].as_str().unwrap().to_owned();

    // Nothing new: an immediate answer without rooms, at the same position.
    let quiet = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    quiet.assert_ok();
    assert!(
        quiet
            .body
            .get("rooms")
            .is_none_or(|r| r.as_object().is_some_and(|r| r.is_empty())),
        "{}",
        quiet.body
    );
    assert_eq!(quiet.body["lists"]["all_rooms"]["count"], 5);
    let pos = quiet.body["pos"].as_str().unwrap().to_owned();

    // A message in the oldest room: that room alone comes back, not initial, bumped first.
    send_text(&alice, &oldest, "t5", "second in oldest").await;
    let update = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    let body = &update.body;
    let rooms: Vec<&String> = body["rooms"].as_object().unwrap().keys().collect();
    assert_eq!(rooms, [&oldest], "{body}");
    let room = &body["rooms"][&oldest];
    assert!(room.get("initial").is_none(), "{room}");
    assert_eq!(timeline_bodies(room), ["second in oldest"]);
    assert_eq!(room["num_live"], 1);
    let oldest_bump = room["bump_stamp"].as_i64().unwrap();
    assert!(
        oldest_bump > grown.body["rooms"][&newest]["bump_stamp"].as_i64().unwrap(),
        "{body}"
    );
    let pos = body["pos"].as_str().unwrap().to_owned();

    // A reaction does not bump the room, yet it is news.
    let target = crate::room_helpers::send_text(&alice, &middle, "t6", "react to me").await;
    let after_message = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    let middle_bump = after_message.body["rooms"][&middle]["bump_stamp"]
        .as_i64()
        .unwrap();
    let pos = after_message.body["pos"].as_str().unwrap().to_owned();
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{middle}/send/m.reaction/r1"),
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}),
        )
        .await
        .assert_ok();
    let reacted = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    let room = &reacted.body["rooms"][&middle];
    assert_eq!(
        room["timeline"][0]["type"], "m.reaction",
        "{}",
        reacted.body
    );
    assert_eq!(room["bump_stamp"].as_i64().unwrap(), middle_bump);
    let pos = reacted.body["pos"].as_str().unwrap().to_owned();

    // Accepting the invite moves the room from one list to the other.
    crate::room_helpers::join_once_invited(&alice, &party).await;
    let joined = sliding(&alice, Some(&pos), 0, request(0, 4)).await;
    assert_eq!(
        joined.body["lists"]["invites"]["count"], 0,
        "{}",
        joined.body
    );
    assert_eq!(joined.body["lists"]["all_rooms"]["count"], 5);
    let party_room = &joined.body["rooms"][&party];
    assert_eq!(party_room["name"], "Party", "{}", joined.body);
    assert!(party_room.get("invite_state").is_none());
}

#[tokio::test]
async fn a_long_poll_wakes_at_once_and_positions_resume_or_are_refused() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let room = create_room(&alice, json!({"name": "Talk", "preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let request = json!({"conn_id": "room-list", "lists": {"all_rooms": all_rooms(0, 19)},
                         "extensions": {"typing": {"enabled": true}, "receipts": {"enabled": true, "rooms": ["*"]}}});
    let first = sliding(&alice, None, 0, request.clone()).await;
    first.assert_ok();
    let pos = first.body["pos"].as_str().unwrap().to_owned();
    let quiet = sliding(&alice, Some(&pos), 0, request.clone()).await;
    let pos = quiet.body["pos"].as_str().unwrap().to_owned();

    // Bob speaks while Alice waits: her request returns with it well before its timeout.
    let waiting = {
        let (alice, request, pos) = (alice.clone(), request.clone(), pos.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let response = sliding(&alice, Some(&pos), 30_000, request).await;
            (response, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let event_id = send_text(&bob, &room, "b1", "are you there?").await;
    let (woken, waited) = waiting.await.unwrap();
    woken.assert_ok();
    assert!(waited < Duration::from_secs(20), "woke after {waited:?}");
    assert_eq!(
        timeline_bodies(&woken.body["rooms"][&room]),
        ["are you there?"],
        "{}",
        woken.body
    );
    let next = woken.body["pos"].as_str().unwrap().to_owned();

    // Typing and a receipt come through their extensions.
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room}/typing/{bob_id}"),
        json!({"typing": true, "timeout": 10000}),
    )
    .await
    .assert_ok();
    bob.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event_id}"),
        json!({}),
    )
    .await
    .assert_ok();
    let ephemeral = sliding(&alice, Some(&next), 5_000, request.clone()).await;
    let typing = &ephemeral.body["extensions"]["typing"]["rooms"][&room]["content"]["user_ids"];
    let receipts = &ephemeral.body["extensions"]["receipts"]["rooms"][&room]["content"];
    let mut waited_for_both = ephemeral.body.clone();
    if typing.is_null() || receipts.is_null() {
        // Each may wake its own response.
        let pos = ephemeral.body["pos"].as_str().unwrap();
        waited_for_both = sliding(&alice, Some(pos), 5_000, request.clone())
            .await
            .body;
    }
    let saw_typing = typing == &json!([bob_id.clone()])
        || waited_for_both["extensions"]["typing"]["rooms"][&room]["content"]["user_ids"]
            == json!([bob_id.clone()]);
    let saw_receipt = !receipts[&event_id]["m.read"][&bob_id].is_null()
        || !waited_for_both["extensions"]["receipts"]["rooms"][&room]["content"][&event_id]["m.read"][&bob_id].is_null();
    assert!(
        saw_typing && saw_receipt,
        "{} / {waited_for_both}",
        ephemeral.body
    );

    // A response lost on its way: the client asks again from the position before it, and
    // gets the same news again.
    let before = waited_for_both["pos"].as_str().unwrap_or(&next).to_owned();
    let before = if before.is_empty() {
        next.clone()
    } else {
        before
    };
    send_text(&bob, &room, "b2", "did you get this?").await;
    let lost = sliding(&alice, Some(&before), 0, request.clone()).await;
    assert_eq!(
        timeline_bodies(&lost.body["rooms"][&room]),
        ["did you get this?"],
        "{}",
        lost.body
    );
    let again = sliding(&alice, Some(&before), 0, request.clone()).await;
    again.assert_ok();
    assert_eq!(
        timeline_bodies(&again.body["rooms"][&room]),
        ["did you get this?"],
        "{}",
        again.body
    );
    // Positions older than the two kept, never handed out, or malformed, are refused.
    sliding(&alice, Some(&pos), 0, request.clone())
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    for bogus in ["999999", "not-a-position", "-1"] {
        sliding(&alice, Some(bogus), 0, request.clone())
            .await
            .assert_error(400, "M_UNKNOWN_POS");
    }
    // Another device's or another connection's position is not this one's.
    let other_conn = json!({"conn_id": "encryption", "extensions": {"e2ee": {"enabled": true}}});
    sliding(&alice, Some(&next), 0, other_conn)
        .await
        .assert_error(400, "M_UNKNOWN_POS");
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    create_room(&alice, json!({"name": "Only"})).await;
    let refused = [
        (
            json!({"lists": {"a": {"ranges": [[5, 2]], "timeline_limit": 1}}}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"lists": {"a": {"ranges": [[0, 2]], "timeline_limit": 1, "required_state": [["m.room.name"]]}}}),
            "M_BAD_JSON",
        ),
        (
            json!({"lists": {"a": {"ranges": "all", "timeline_limit": 1}}}),
            "M_BAD_JSON",
        ),
        (
            json!({"lists": {"a": {"ranges": [[0, 2]], "timeline_limit": 1, "required_state": [["", ""]]}}}),
            "M_INVALID_PARAM",
        ),
        (
            json!({"lists": {"x".repeat(65): {"ranges": [[0, 2]], "timeline_limit": 1}}}),
            "M_INVALID_PARAM",
        ),
        (json!({"conn_id": "c".repeat(200)}), "M_INVALID_PARAM"),
    ];
    for (body, errcode) in refused {
        let response = sliding(&alice, None, 0, body.clone()).await;
        assert_eq!(
            (response.status, response.errcode()),
            (400, errcode),
            "{body}: {}",
            response.body
        );
    }
    sliding(&alice, None, 0, json!({})).await.assert_ok();
    sliding(&alice.anonymous(), None, 0, json!({}))
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    // A huge range is every room; extensions naming unknown lists or rooms cover nothing more.
    let huge = sliding(
        &alice,
        None,
        0,
        json!({"lists": {"a": {"ranges": [[0, 9_007_199_254_740_991u64]], "timeline_limit": 1000}},
               "extensions": {"receipts": {"enabled": true, "lists": ["nope"], "rooms": ["!unknown:x"]}}}),
    )
    .await;
    huge.assert_ok();
    assert_eq!(huge.body["lists"]["a"]["count"], 1);
}

#[tokio::test]
async fn the_encryption_connection_delivers_to_device_messages_until_acknowledged_and_key_changes()
{
    let server = TestServer::start().await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let whoami = alice.get("/_matrix/client/v3/account/whoami").await;
    let device = whoami.body["device_id"].as_str().unwrap().to_owned();
    alice
        .post(
            "/_matrix/client/v3/keys/upload",
            json!({"one_time_keys": {"signed_curve25519:AAAAAQ": {"key": "a", "signatures": {}}},
                   "fallback_keys": {"signed_curve25519:AAAAAg": {"key": "b", "fallback": true, "signatures": {}}}}),
        )
        .await
        .assert_ok();
    let encryption = |since: Option<&str>| {
        let mut to_device = json!({"enabled": true});
        if let Some(since) = since {
            to_device["since"] = json!(since);
        }
        json!({"conn_id": "encryption", "extensions": {"to_device": to_device, "e2ee": {"enabled": true}}})
    };
    let first = sliding(&alice, None, 0, encryption(None)).await;
    first.assert_ok();
    let e2ee = &first.body["extensions"]["e2ee"];
    assert_eq!(
        e2ee["device_one_time_keys_count"]["signed_curve25519"], 1,
        "{e2ee}"
    );
    assert_eq!(
        e2ee["device_unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );
    let pos = first.body["pos"].as_str().unwrap().to_owned();
    let since = first.body["extensions"]["to_device"]["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let send = |txn: &str, n: u64| {
        let body = json!({"messages": {alice_id.clone(): {device.clone(): {"n": n}}}});
        let (bob, path) = (
            bob.clone(),
            format!("/_matrix/client/v3/sendToDevice/m.test/{txn}"),
        );
        async move {
            bob.put(&path, body).await.assert_ok();
        }
    };
    send("m1", 1).await;
    send("m2", 2).await;
    let delivered = sliding(&alice, Some(&pos), 5_000, encryption(Some(&since))).await;
    let to_device = &delivered.body["extensions"]["to_device"];
    let numbers: Vec<u64> = to_device["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            assert_eq!(
                (e["sender"].as_str(), e["type"].as_str()),
                (Some(bob_id.as_str()), Some("m.test"))
            );
            e["content"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(numbers, [1, 2], "{}", delivered.body);
    let next = to_device["next_batch"].as_str().unwrap().to_owned();
    let pos = delivered.body["pos"].as_str().unwrap().to_owned();
    // Not acknowledged (the old token again): delivered again, nothing lost.
    let again = sliding(&alice, Some(&pos), 0, encryption(Some(&since))).await;
    assert_eq!(
        again.body["extensions"]["to_device"]["events"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let pos = again.body["pos"].as_str().unwrap().to_owned();
    // Acknowledged: gone.
    let acked = sliding(&alice, Some(&pos), 0, encryption(Some(&next))).await;
    assert!(
        acked.body["extensions"]["to_device"]
            .get("events")
            .is_none(),
        "{}",
        acked.body
    );
    sliding(&alice, Some(&pos), 0, encryption(Some("garbage")))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let pos = acked.body["pos"].as_str().unwrap().to_owned();

    // Bob comes to share a room with Alice: his devices are to be fetched.
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let changed = sliding(&alice, Some(&pos), 5_000, encryption(Some(&next))).await;
    let lists = &changed.body["extensions"]["e2ee"]["device_lists"];
    assert!(
        lists["changed"]
            .as_array()
            .is_some_and(|users| users.contains(&json!(bob_id))),
        "{}",
        changed.body
    );
    let pos = changed.body["pos"].as_str().unwrap().to_owned();
    bob.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), json!({}))
        .await
        .assert_ok();
    let left = sliding(&alice, Some(&pos), 5_000, encryption(Some(&next))).await;
    let lists = &left.body["extensions"]["e2ee"]["device_lists"];
    assert_eq!(lists["left"], json!([bob_id]), "{}", left.body);
}

#[tokio::test]
async fn list_filters_pick_direct_chats_spaces_and_encrypted_rooms() {
    let server = TestServer::start().await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, _) = user(server.raw(), "bob").await;
    let dm = create_room(
        &alice,
        json!({"is_direct": true, "invite": [bob_id.clone()]}),
    )
    .await;
    alice
        .put(
            &format!("/_matrix/client/v3/user/{alice_id}/account_data/m.direct"),
            json!({ bob_id.clone(): [dm.clone()] }),
        )
        .await
        .assert_ok();
    let space = create_room(
        &alice,
        json!({"name": "Ministère", "creation_content": {"type": "m.space"}}),
    )
    .await;
    let secret = create_room(
        &alice,
        json!({"name": "Secret", "initial_state": [{"type": "m.room.encryption", "state_key": "",
               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
    )
    .await;
    let plain = create_room(&alice, json!({"name": "Ouvert"})).await;
    let list =
        |filters: Value| json!({"ranges": [[0, 9]], "timeline_limit": 0, "filters": filters});
    let response = sliding(
        &alice,
        None,
        0,
        json!({"lists": {
            "dms": list(json!({"is_dm": true})),
            "not_dms": list(json!({"is_dm": false})),
            "spaces": list(json!({"room_types": ["m.space"]})),
            "rooms": list(json!({"not_room_types": ["m.space"]})),
            "plain_rooms": list(json!({"room_types": [null]})),
            "encrypted": list(json!({"is_encrypted": true})),
        }}),
    )
    .await;
    response.assert_ok();
    let count = |name: &str| response.body["lists"][name]["count"].as_u64().unwrap();
    assert_eq!(
        [
            count("dms"),
            count("not_dms"),
            count("spaces"),
            count("rooms"),
            count("plain_rooms"),
            count("encrypted")
        ],
        [1, 3, 1, 3, 3, 1],
        "{}",
        response.body
    );
    let rooms = response.body["rooms"].as_object().unwrap();
    for room in [&dm, &space, &secret, &plain] {
        assert!(rooms.contains_key(room.as_str()), "{room} missing");
    }
    assert_eq!(rooms[&dm]["is_dm"], true);
    assert!(rooms[&plain].get("is_dm").is_none());
}
