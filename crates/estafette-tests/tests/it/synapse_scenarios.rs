//! The federation scenarios again with a real Synapse as the other server: history fetched by
//! a late joiner on either side, concurrent sends converging, an Estafette that was offline
//! catching up from Synapse, three servers in one room, moderation and profile changes.

use estafette_tests::{SynapseServer, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::{
    create_room, eventually, join_by_alias, joined_members, membership_of, messages, page_back,
    send_text, sorted, state_ids, user,
};

/// The bodies of the messages among `events` (newest first), oldest first, and whether the
/// oldest event is the room's creation.
fn history(mut events: Vec<Value>) -> (Vec<String>, bool) {
    events.reverse();
    let created = events.first().is_some_and(|e| e["type"] == "m.room.create");
    let texts = events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(ToOwned::to_owned))
        .collect();
    (texts, created)
}

#[tokio::test]
async fn a_late_joiner_on_either_side_pages_back_to_the_creation() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (_, alice) = user(estafette.raw(), "alice").await;
    let (_, bob) = user(synapse.raw(), "bob").await;
    let shared_history =
        |side: &str| -> Vec<String> { (0..25).map(|i| format!("{side} history {i}")).collect() };

    // Synapse's history, fetched by Estafette (backfill).
    let on_synapse = create_room(
        &bob,
        json!({"preset": "public_chat", "room_alias_name": "history"}),
    )
    .await;
    for (i, text) in shared_history("Synapse").iter().enumerate() {
        send_text(&bob, &on_synapse, &format!("h{i}"), text).await;
    }
    alice
        .post(
            &format!(
                "/_matrix/client/v3/join/%23history:{}",
                synapse.server_name()
            ),
            json!({}),
        )
        .await
        .assert_ok();
    let (texts, created) = history(page_back(&alice, &on_synapse).await);
    assert!(created, "Estafette paged back to the room's creation");
    assert_eq!(texts, shared_history("Synapse"));

    // Estafette's history, fetched by Synapse from Estafette's /backfill.
    let on_estafette = create_room(
        &alice,
        json!({"preset": "public_chat", "room_alias_name": "history",
               "initial_state": [{"type": "m.room.history_visibility", "state_key": "",
                                  "content": {"history_visibility": "shared"}}]}),
    )
    .await;
    for (i, text) in shared_history("Estafette").iter().enumerate() {
        send_text(&alice, &on_estafette, &format!("e{i}"), text).await;
    }
    bob.post(
        &format!(
            "/_matrix/client/v3/join/%23history:{}",
            estafette.server_name()
        ),
        json!({}),
    )
    .await
    .assert_ok();
    let (texts, created) = history(page_back(&bob, &on_estafette).await);
    assert!(created, "Synapse paged back to the room's creation");
    assert_eq!(texts, shared_history("Estafette"));
}

#[tokio::test]
async fn concurrent_sends_with_synapse_converge() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "public_chat", "room_alias_name": "busy",
               "power_level_content_override": {"users": {bob_id.clone(): 50}}}),
    )
    .await;
    let both = sorted([&alice_id, &bob_id]);
    join_by_alias(
        &bob,
        "busy",
        &estafette.server_name(),
        &alice,
        &room_id,
        &both,
    )
    .await;

    let mut sends = Vec::new();
    for i in 0..10 {
        for (client, who) in [(alice.clone(), "alice"), (bob.clone(), "bob")] {
            let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{who}{i}");
            sends.push(tokio::spawn(async move {
                client
                    .put(
                        &path,
                        json!({"msgtype": "m.text", "body": format!("{who} {i}")}),
                    )
                    .await
                    .assert_ok();
            }));
        }
    }
    for (client, topic) in [
        (alice.clone(), "Alice's topic"),
        (bob.clone(), "Bob's topic"),
    ] {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/");
        sends.push(tokio::spawn(async move {
            client.put(&path, json!({"topic": topic})).await.assert_ok();
        }));
    }
    for send in sends {
        send.await.unwrap();
    }
    eventually(
        "both servers to hold the same messages and state",
        || async {
            let mut on_estafette = messages(&alice, &room_id).await;
            let mut on_synapse = messages(&bob, &room_id).await;
            on_estafette.sort();
            on_synapse.sort();
            let same_state = state_ids(&alice, &room_id).await == state_ids(&bob, &room_id).await;
            (on_estafette.len() == 20 && on_estafette == on_synapse && same_state).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn an_estafette_that_was_offline_catches_up_from_synapse() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let room_id = create_room(
        &bob,
        json!({"preset": "public_chat", "room_alias_name": "catchup"}),
    )
    .await;
    let both = sorted([&alice_id, &bob_id]);
    join_by_alias(
        &alice,
        "catchup",
        &synapse.server_name(),
        &bob,
        &room_id,
        &both,
    )
    .await;

    let offline = estafette.go_offline().await;
    let missed: Vec<String> = (0..5).map(|i| format!("while you were away {i}")).collect();
    for (i, text) in missed.iter().enumerate() {
        send_text(&bob, &room_id, &format!("m{i}"), text).await;
    }
    let estafette = offline.start().await;
    let login = estafette.raw().login("alice", "alice's password").await;
    let alice = estafette
        .raw()
        .clone_with(login.body["access_token"].as_str().unwrap());
    // No new message: Synapse retries on its own, and Estafette fetches what it missed.
    eventually("Estafette to catch up", || async {
        let seen = messages(&alice, &room_id).await;
        missed.iter().all(|m| seen.contains(m)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn synapse_and_two_estafettes_share_a_room() {
    let synapse = SynapseServer::start().await;
    let first = TestServer::builder().federation().start().await;
    let second = TestServer::builder().federation().start().await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let (alice_id, alice) = user(first.raw(), "alice").await;
    let (carol_id, carol) = user(second.raw(), "carol").await;
    let room_id = create_room(
        &bob,
        json!({"preset": "public_chat", "room_alias_name": "three"}),
    )
    .await;
    let alias = format!("/_matrix/client/v3/join/%23three:{}", synapse.server_name());
    alice.post(&alias, json!({})).await.assert_ok();
    carol.post(&alias, json!({})).await.assert_ok();
    let everyone = sorted([&alice_id, &bob_id, &carol_id]);
    for client in [&alice, &bob, &carol] {
        eventually("every server to see all three members", || async {
            (joined_members(client, &room_id).await == everyone).then_some(())
        })
        .await;
    }
    send_text(&carol, &room_id, "c1", "from the second Estafette").await;
    for client in [&alice, &bob] {
        eventually("the message to reach the other two servers", || async {
            messages(client, &room_id)
                .await
                .contains(&"from the second Estafette".to_owned())
                .then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn moderation_and_profiles_hold_between_estafette_and_synapse() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "public_chat", "room_alias_name": "moderated"}),
    )
    .await;
    let join = format!(
        "/_matrix/client/v3/join/%23moderated:{}",
        estafette.server_name()
    );
    bob.post(&join, json!({})).await.assert_ok();
    eventually("Estafette to see Bob", || async {
        (membership_of(&alice, &room_id, &bob_id).await.as_deref() == Some("join")).then_some(())
    })
    .await;

    // Display names travel as member events, both ways.
    alice
        .put(
            &format!("/_matrix/client/v3/profile/{alice_id}/displayname"),
            json!({"displayname": "Alice de l'Intérieur"}),
        )
        .await
        .assert_ok();
    bob.put(
        &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
        json!({"displayname": "Bob des Armées"}),
    )
    .await
    .assert_ok();
    let name_of = |client: &estafette_tests::RawClient, user: &str| {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user}");
        let client = client.clone();
        async move { client.get(&path).await.body["displayname"].clone() }
    };
    eventually("Synapse to show Alice's new name", || async {
        (name_of(&bob, &alice_id).await == "Alice de l'Intérieur").then_some(())
    })
    .await;
    eventually("Estafette to show Bob's new name", || async {
        (name_of(&alice, &bob_id).await == "Bob des Armées").then_some(())
    })
    .await;

    // Kicked, Bob can come back; banned, he cannot (Synapse refuses his join itself);
    // unbanned, he can again. (A banned user cannot read the room's state, so his own
    // server's refusal is the check.)
    let membership_event = |action: &str| {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/{action}");
        let (alice, bob_id) = (alice.clone(), bob_id.clone());
        async move {
            alice
                .post(&path, json!({"user_id": bob_id}))
                .await
                .assert_ok();
        }
    };
    membership_event("kick").await;
    eventually("Synapse to apply the kick", || async {
        (membership_of(&bob, &room_id, &bob_id).await.as_deref() == Some("leave")).then_some(())
    })
    .await;
    bob.post(&join, json!({})).await.assert_ok();
    eventually("Estafette to see Bob back", || async {
        (membership_of(&alice, &room_id, &bob_id).await.as_deref() == Some("join")).then_some(())
    })
    .await;
    membership_event("ban").await;
    eventually("Synapse to tell Bob he is banned", || async {
        let sync = bob.get("/_matrix/client/v3/sync?timeout=0").await;
        let timeline = &sync.body["rooms"]["leave"][&room_id]["timeline"]["events"];
        timeline
            .as_array()
            .is_some_and(|events| {
                events.iter().any(|e| {
                    e["type"] == "m.room.member"
                        && e["state_key"] == bob_id.as_str()
                        && e["content"]["membership"] == "ban"
                })
            })
            .then_some(())
    })
    .await;
    let refused = bob.post(&join, json!({})).await;
    assert_eq!(refused.status, 403, "banned: {:?}", refused.body);
    membership_event("unban").await;
    eventually("Synapse to let Bob in again once unbanned", || async {
        (bob.post(&join, json!({})).await.status == 200).then_some(())
    })
    .await;
    eventually("Estafette to see Bob back", || async {
        (membership_of(&alice, &room_id, &bob_id).await.as_deref() == Some("join")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn synapse_back_from_an_outage_receives_what_it_missed() {
    let mut synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "public_chat", "room_alias_name": "outage"}),
    )
    .await;
    let both = sorted([&alice_id, &bob_id]);
    join_by_alias(
        &bob,
        "outage",
        &estafette.server_name(),
        &alice,
        &room_id,
        &both,
    )
    .await;

    synapse.pause();
    let missed: Vec<String> = (0..5).map(|i| format!("during the outage {i}")).collect();
    for (i, text) in missed.iter().enumerate() {
        send_text(&alice, &room_id, &format!("o{i}"), text).await;
    }
    synapse.resume().await;
    // Estafette's queue retries on its own: no new message is needed.
    eventually("Synapse to receive what it missed", || async {
        let seen = messages(&bob, &room_id).await;
        missed.iter().all(|m| seen.contains(m)).then_some(())
    })
    .await;
}
