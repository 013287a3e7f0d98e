//! Rooms shared between Estafette servers: invites, joins, messages, and what each server
//! sees, with every event signed by its origin and checked by the receiver.

use estafette_tests::TestServer;
use serde_json::{Value, json};

use crate::room_helpers::{
    create_room, eventually, invited_rooms, joined_members, messages, send_text, sorted, user,
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
