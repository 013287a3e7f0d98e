//! Rooms shared between Estafette servers: invites, joins, messages, and what each server
//! sees, with every event signed by its origin and checked by the receiver.

use estafette_tests::TestServer;
use serde_json::{Value, json};

use crate::room_helpers::{
    create_room, eventually, invited_rooms, joined_members, membership_of, messages,
    read_receipt_of, send_text, shared_room, sorted, typing_users, user,
};

#[tokio::test]
async fn a_remote_user_invited_to_a_room_joins_and_both_talk() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(home.raw(), "alice").await;
    let (bob_id, bob) = user(remote.raw(), "bob").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "private_chat", "name": "Interministerial"}),
    )
    .await;

    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    // Bob's server co-signed the invite and shows it with the room's name.
    let sync = bob.get("/_matrix/client/v3/sync?timeout=0").await;
    let invite = &sync.body["rooms"]["invite"][&room_id]["invite_state"]["events"];
    let names: Vec<&Value> = invite
        .as_array()
        .expect("Bob sees the invite")
        .iter()
        .filter(|e| e["type"] == "m.room.name")
        .map(|e| &e["content"]["name"])
        .collect();
    assert_eq!(names, [&json!("Interministerial")]);
    assert_eq!(invited_rooms(&bob).await, [room_id.clone()]);

    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let both = sorted([&alice_id, &bob_id]);
    assert_eq!(joined_members(&bob, &room_id).await, both);
    eventually("Alice's server to see Bob's join", || async {
        (joined_members(&alice, &room_id).await == both).then_some(())
    })
    .await;

    send_text(&alice, &room_id, "a1", "Bonjour Bob").await;
    eventually("Bob to receive Alice's message", || async {
        (messages(&bob, &room_id).await == ["Bonjour Bob"]).then_some(())
    })
    .await;
    send_text(&bob, &room_id, "b1", "Bonjour Alice").await;
    eventually("Alice to receive Bob's reply", || async {
        (messages(&alice, &room_id).await == ["Bonjour Bob", "Bonjour Alice"]).then_some(())
    })
    .await;
    assert_eq!(
        messages(&bob, &room_id).await,
        ["Bonjour Bob", "Bonjour Alice"]
    );
}

#[tokio::test]
async fn typing_receipts_and_profile_changes_reach_the_other_server() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (alice_id, alice), (bob_id, bob)) = shared_room(&home, &remote).await;

    bob.put(
        &format!("/_matrix/client/v3/rooms/{room_id}/typing/{bob_id}"),
        json!({"typing": true, "timeout": 30000}),
    )
    .await
    .assert_ok();
    eventually("Alice to see Bob typing", || async {
        (typing_users(&alice, &room_id).await == [bob_id.clone()]).then_some(())
    })
    .await;

    let event_id = send_text(&alice, &room_id, "a1", "Lu ?").await;
    eventually("Bob's server to receive the message", || async {
        (messages(&bob, &room_id).await == ["Lu ?"]).then_some(())
    })
    .await;
    bob.post(
        &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}"),
        json!({}),
    )
    .await
    .assert_ok();
    eventually("Alice to see Bob's read receipt", || async {
        (read_receipt_of(&alice, &room_id, &bob_id).await.as_deref() == Some(event_id.as_str()))
            .then_some(())
    })
    .await;

    bob.put(
        &format!("/_matrix/client/v3/presence/{bob_id}/status"),
        json!({"presence": "unavailable", "status_msg": "En réunion"}),
    )
    .await
    .assert_ok();
    eventually("Alice's server to know Bob's presence", || async {
        let presence = alice
            .get(&format!("/_matrix/client/v3/presence/{bob_id}/status"))
            .await;
        (presence.body["presence"] == "unavailable" && presence.body["status_msg"] == "En réunion")
            .then_some(())
    })
    .await;

    // A new display name is a new member event, which the other server shows.
    alice
        .put(
            &format!("/_matrix/client/v3/profile/{alice_id}/displayname"),
            json!({"displayname": "Alice (Intérieur)"}),
        )
        .await
        .assert_ok();
    eventually("Bob's server to show Alice's new name", || async {
        let member = bob
            .get(&format!(
                "/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{alice_id}"
            ))
            .await;
        (member.body["displayname"] == "Alice (Intérieur)").then_some(())
    })
    .await;
}

#[tokio::test]
async fn moderation_and_power_levels_hold_on_both_servers() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (_alice_id, alice), (bob_id, bob)) = shared_room(&home, &remote).await;

    // Bob has no power to rename the room: his own server refuses.
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
        json!({"name": "Bob's room"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");

    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/kick"),
            json!({"user_id": bob_id, "reason": "test"}),
        )
        .await
        .assert_ok();
    eventually("Bob's server to apply the kick", || async {
        (membership_of(&bob, &room_id, &bob_id).await.as_deref() == Some("leave")).then_some(())
    })
    .await;
    // Kicked from a public room, Bob can come back.
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    eventually("Alice's server to see Bob back", || async {
        (membership_of(&alice, &room_id, &bob_id).await.as_deref() == Some("join")).then_some(())
    })
    .await;

    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    eventually("Bob's server to apply the ban", || async {
        (membership_of(&bob, &room_id, &bob_id).await.as_deref() == Some("ban")).then_some(())
    })
    .await;
    let rejoin = bob
        .post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await;
    assert_eq!(
        rejoin.status, 403,
        "a banned user cannot rejoin: {:?}",
        rejoin.body
    );

    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/unban"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    eventually("Bob's server to apply the unban", || async {
        (membership_of(&bob, &room_id, &bob_id).await.as_deref() == Some("leave")).then_some(())
    })
    .await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    assert_eq!(
        membership_of(&alice, &room_id, &bob_id).await.as_deref(),
        Some("join")
    );
}

#[tokio::test]
async fn a_remote_user_knocks_is_let_in_and_joins() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(home.raw(), "alice").await;
    let (bob_id, bob) = user(remote.raw(), "bob").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "private_chat", "name": "Knock first",
               "initial_state": [{"type": "m.room.join_rules", "state_key": "",
                                  "content": {"join_rule": "knock"}}]}),
    )
    .await;
    let via = home.server_name();
    bob.post(
        &format!("/_matrix/client/v3/knock/{room_id}?via={via}"),
        json!({"reason": "Ministère des Armées"}),
    )
    .await
    .assert_ok();
    // Bob's server shows the knock with the room's name, Alice's shows Bob knocking.
    let sync = bob.get("/_matrix/client/v3/sync?timeout=0").await;
    let knock_state = &sync.body["rooms"]["knock"][&room_id]["knock_state"]["events"];
    assert!(
        knock_state
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["content"]["name"] == "Knock first")),
        "{knock_state}"
    );
    assert_eq!(
        membership_of(&alice, &room_id, &bob_id).await.as_deref(),
        Some("knock")
    );

    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    eventually("Bob to see the invite", || async {
        invited_rooms(&bob).await.contains(&room_id).then_some(())
    })
    .await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let both = sorted([&alice_id, &bob_id]);
    eventually("Alice's server to see Bob joined", || async {
        (joined_members(&alice, &room_id).await == both).then_some(())
    })
    .await;
}
