//! Rooms shared with a real Synapse, in both roles: the room created on either side, the other
//! server's user invited or joining by alias, messages both ways.

use estafette_tests::{SynapseServer, TestServer};
use serde_json::json;

use crate::room_helpers::{
    create_room, eventually, invited_rooms, joined_members, messages, send_text, sorted, user,
};

#[tokio::test]
async fn rooms_are_shared_with_synapse_whichever_side_creates_them() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let both = sorted([&alice_id, &bob_id]);

    // A room on Estafette; Synapse's user is invited and joins.
    let room_id = create_room(
        &alice,
        json!({"preset": "private_chat", "name": "On Estafette"}),
    )
    .await;
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    eventually("Bob on Synapse to see the invite", || async {
        invited_rooms(&bob).await.contains(&room_id).then_some(())
    })
    .await;
    bob.post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    eventually("Estafette to see Bob's join", || async {
        (joined_members(&alice, &room_id).await == both).then_some(())
    })
    .await;
    send_text(&alice, &room_id, "a1", "From Estafette").await;
    eventually("Synapse to deliver Alice's message", || async {
        (messages(&bob, &room_id).await == ["From Estafette"]).then_some(())
    })
    .await;
    send_text(&bob, &room_id, "b1", "From Synapse").await;
    eventually("Estafette to receive Bob's message", || async {
        (messages(&alice, &room_id).await == ["From Estafette", "From Synapse"]).then_some(())
    })
    .await;

    // A public room on Synapse; Estafette's user joins by its alias.
    let synapse_room = create_room(
        &bob,
        json!({"preset": "public_chat", "visibility": "public", "room_alias_name": "ministries"}),
    )
    .await;
    send_text(&bob, &synapse_room, "b2", "Welcome").await;
    let alias = format!("%23ministries:{}", synapse.server_name());
    let joined = alice
        .post(&format!("/_matrix/client/v3/join/{alias}"), json!({}))
        .await;
    joined.assert_ok();
    assert_eq!(joined.body["room_id"], synapse_room);
    assert_eq!(joined_members(&alice, &synapse_room).await, both);
    eventually("Synapse to see Alice's join", || async {
        (joined_members(&bob, &synapse_room).await == both).then_some(())
    })
    .await;
    send_text(&alice, &synapse_room, "a2", "Thanks").await;
    eventually("Synapse to receive Alice's message", || async {
        (messages(&bob, &synapse_room).await == ["Welcome", "Thanks"]).then_some(())
    })
    .await;
    send_text(&bob, &synapse_room, "b3", "You are welcome").await;
    eventually("Estafette to receive Bob's message", || async {
        messages(&alice, &synapse_room)
            .await
            .ends_with(&["Thanks".to_owned(), "You are welcome".to_owned()])
            .then_some(())
    })
    .await;
}
