//! Rooms shared with a real Synapse, in both roles: the room created on either side, the other
//! server's user invited or joining by alias, messages both ways.

use estafette_tests::{SynapseServer, TestServer};
use serde_json::json;

use crate::room_helpers::{
    create_room, eventually, invited_rooms, joined_members, membership_of, messages,
    read_receipt_of, send_text, sorted, typing_users, user,
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

#[tokio::test]
async fn a_synapse_room_invites_an_estafette_user_with_typing_receipts_and_moderation() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;

    let room_id = create_room(
        &bob,
        json!({"preset": "private_chat", "name": "On Synapse"}),
    )
    .await;
    bob.post(
        &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
        json!({"user_id": alice_id}),
    )
    .await
    .assert_ok();
    eventually("Alice on Estafette to see Synapse's invite", || async {
        invited_rooms(&alice).await.contains(&room_id).then_some(())
    })
    .await;
    // Joined through the inviting server, found from the invite itself.
    alice
        .post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
    let both = sorted([&alice_id, &bob_id]);
    eventually("Synapse to see Alice's join", || async {
        (joined_members(&bob, &room_id).await == both).then_some(())
    })
    .await;

    let from_bob = send_text(&bob, &room_id, "b1", "Bonjour depuis Synapse").await;
    eventually("Estafette to receive Bob's message", || async {
        (messages(&alice, &room_id).await == ["Bonjour depuis Synapse"]).then_some(())
    })
    .await;
    for (typist, typist_id, watcher) in [(&alice, &alice_id, &bob), (&bob, &bob_id, &alice)] {
        typist
            .put(
                &format!("/_matrix/client/v3/rooms/{room_id}/typing/{typist_id}"),
                json!({"typing": true, "timeout": 30000}),
            )
            .await
            .assert_ok();
        eventually("the other server to show the typing", || async {
            typing_users(watcher, &room_id)
                .await
                .contains(typist_id)
                .then_some(())
        })
        .await;
    }
    // A receipt is for the newest event its sender saw (Synapse ignores older ones).
    read(&alice, &alice_id, &from_bob, &bob, &room_id).await;
    let from_alice = send_text(&alice, &room_id, "a1", "Bonjour depuis Estafette").await;
    eventually("Synapse to receive Alice's message", || async {
        (messages(&bob, &room_id).await.len() == 2).then_some(())
    })
    .await;

    read(&bob, &bob_id, &from_alice, &alice, &room_id).await;

    // Alice has no power in Bob's room: Estafette refuses her rename itself.
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/"),
            json!({"name": "Renamed by Alice"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.post(
        &format!("/_matrix/client/v3/rooms/{room_id}/ban"),
        json!({"user_id": alice_id, "reason": "test"}),
    )
    .await
    .assert_ok();
    eventually("Estafette to apply Synapse's ban", || async {
        (membership_of(&alice, &room_id, &alice_id).await.as_deref() == Some("ban")).then_some(())
    })
    .await;
    let rejoin = alice
        .post(
            &format!(
                "/_matrix/client/v3/join/{room_id}?via={}",
                synapse.server_name()
            ),
            json!({}),
        )
        .await;
    assert_eq!(rejoin.status, 403, "banned: {:?}", rejoin.body);
}

/// `reader` reads `event_id`; `watcher`, on the other server, sees the receipt.
async fn read(
    reader: &estafette_tests::RawClient,
    reader_id: &str,
    event_id: &str,
    watcher: &estafette_tests::RawClient,
    room_id: &str,
) {
    reader
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}"),
            json!({}),
        )
        .await
        .assert_ok();
    eventually("the other server to show the read receipt", || async {
        (read_receipt_of(watcher, room_id, reader_id)
            .await
            .as_deref()
            == Some(event_id))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn estafette_and_synapse_users_decrypt_each_other() {
    use matrix_sdk::config::SyncSettings;
    use matrix_sdk::ruma::api::client::room::create_room;
    use matrix_sdk::ruma::events::InitialStateEvent;
    use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
    use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

    use crate::encryption::{decrypted_bodies, sync_until};

    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let alice = estafette.register_user("alice").await;
    let bob = synapse.register_user("bob").await;
    let quick = || SyncSettings::default().timeout(std::time::Duration::from_millis(500));
    for client in [&alice.client, &bob.client] {
        client.sync_once(quick()).await.unwrap();
    }
    let mut request = create_room::v3::Request::new();
    request.invite = vec![bob.client.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.client.create_room(request).await.unwrap();
    let room_id = room.room_id().to_owned();
    let bob_raw = synapse.raw().with_token(bob.client.access_token().unwrap());
    eventually("Bob on Synapse to see the invite", || async {
        invited_rooms(&bob_raw)
            .await
            .contains(&room_id.to_string())
            .then_some(())
    })
    .await;
    let via: matrix_sdk::ruma::OwnedServerName = estafette.server_name().try_into().unwrap();
    bob.client
        .join_room_by_id_or_alias(room.room_id().into(), &[via])
        .await
        .unwrap();
    let alice_raw = estafette
        .raw()
        .with_token(alice.client.access_token().unwrap());
    eventually("Estafette to see Bob's join", || async {
        (joined_members(&alice_raw, room_id.as_str()).await.len() == 2).then_some(())
    })
    .await;
    let alice_seen = decrypted_bodies(&alice.client);
    let bob_seen = decrypted_bodies(&bob.client);
    alice.client.sync_once(quick()).await.unwrap();
    bob.client.sync_once(quick()).await.unwrap();

    room.send(RoomMessageEventContent::text_plain("secret from Estafette"))
        .await
        .unwrap();
    sync_until(&bob.client, &bob_seen, &["secret from Estafette"]).await;
    bob.client
        .get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("secret from Synapse"))
        .await
        .unwrap();
    sync_until(&alice.client, &alice_seen, &["secret from Synapse"]).await;
}

#[tokio::test]
async fn estafette_joins_synapse_rooms_of_the_oldest_versions() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let both = sorted([&alice_id, &bob_id]);
    for version in ["1", "2"] {
        let alias = format!("old-v{version}");
        let room_id = create_room(
            &bob,
            json!({"preset": "public_chat", "room_version": version, "room_alias_name": alias}),
        )
        .await;
        send_text(
            &bob,
            &room_id,
            &format!("b{version}"),
            &format!("v{version} from Synapse"),
        )
        .await;
        alice
            .post(
                &format!(
                    "/_matrix/client/v3/join/%23{alias}:{}",
                    synapse.server_name()
                ),
                json!({}),
            )
            .await
            .assert_ok();
        eventually("Synapse to see Alice's join", || async {
            (joined_members(&bob, &room_id).await == both).then_some(())
        })
        .await;
        let create = alice
            .get(&format!(
                "/_matrix/client/v3/rooms/{room_id}/state/m.room.create/"
            ))
            .await;
        let created_as = create.body["room_version"].as_str().unwrap_or("1");
        assert_eq!(created_as, version, "{}", create.body);
        // Estafette writes events of the old format (its own event IDs, hashed references).
        send_text(
            &alice,
            &room_id,
            &format!("a{version}"),
            &format!("v{version} from Estafette"),
        )
        .await;
        eventually("Synapse to accept Alice's message", || async {
            messages(&bob, &room_id)
                .await
                .contains(&format!("v{version} from Estafette"))
                .then_some(())
        })
        .await;
        send_text(&bob, &room_id, &format!("c{version}"), "and back").await;
        eventually("Estafette to receive Bob's reply", || async {
            messages(&alice, &room_id)
                .await
                .ends_with(&["and back".to_owned()])
                .then_some(())
        })
        .await;
    }
}
