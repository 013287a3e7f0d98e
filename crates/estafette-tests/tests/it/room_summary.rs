//! Room summaries (`/room_summary`, spec v1.15; what Element X shows before joining): seen by
//! members, by anyone where anyone may enter or read, by members of the rooms a restricted room
//! allows, and by nobody else — for them the room does not exist.

use estafette_tests::{RawClient, RawResponse, TestServer};
use matrix_sdk::room_preview::RoomPreview;
use serde_json::json;

use crate::room_helpers::{create_room, invite, user};

/// `client` asks for a room's summary, naming `via` as the server to ask.
async fn summary_of(client: &RawClient, room: &str, via: Option<&str>) -> RawResponse {
    let via = via.map(|via| format!("?via={via}")).unwrap_or_default();
    client
        .get(&format!("/_matrix/client/v1/room_summary/{room}{via}"))
        .await
}

#[tokio::test]
async fn a_room_summary_is_shown_to_whom_the_room_lets_see_it() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let (_, carol) = user(server.raw(), "carol").await;

    // A public room, by its alias: anyone sees it, even without signing in.
    let public = create_room(
        &alice,
        json!({"preset": "public_chat", "name": "Forum", "topic": "Tout le monde",
               "room_alias_name": "forum"}),
    )
    .await;
    let alias = format!("%23forum:{}", server.server_name());
    for client in [bob.clone(), bob.anonymous()] {
        let seen = summary_of(&client, &alias, None).await;
        seen.assert_ok();
        assert_eq!(seen.body["room_id"], public);
        assert_eq!(
            (&seen.body["name"], &seen.body["topic"]),
            (&json!("Forum"), &json!("Tout le monde"))
        );
        // (The spec reads a missing join rule as public.)
        let rule = seen.body.get("join_rule");
        assert!(rule.is_none_or(|rule| rule == "public"), "{}", seen.body);
        assert_eq!(seen.body["num_joined_members"], 1);
        assert_eq!(seen.body["room_version"], "12");
        assert!(seen.body.get("membership").is_none(), "{}", seen.body);
    }

    // A private encrypted room: its members (and the invited) only.
    let private = create_room(
        &alice,
        json!({"preset": "private_chat", "name": "Budget",
               "initial_state": [{"type": "m.room.encryption", "state_key": "",
                                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
    )
    .await;
    let own = summary_of(&alice, &private, None).await;
    own.assert_ok();
    assert_eq!(own.body["membership"], "join");
    assert_eq!(own.body["encryption"], "m.megolm.v1.aes-sha2");
    summary_of(&bob, &private, None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    summary_of(&bob.anonymous(), &private, None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    invite(&alice, &private, &bob_id).await;
    let invited = summary_of(&bob, &private, None).await;
    invited.assert_ok();
    assert_eq!(invited.body["membership"], "invite");

    // A room restricted to a space's members: they see it, others do not.
    let space = create_room(
        &alice,
        json!({"preset": "public_chat", "creation_content": {"type": "m.space"}}),
    )
    .await;
    let restricted = create_room(
        &alice,
        json!({"preset": "private_chat", "name": "Équipe",
               "initial_state": [{"type": "m.room.join_rules", "state_key": "",
                                  "content": {"join_rule": "restricted",
                                              "allow": [{"type": "m.room_membership", "room_id": space}]}}]}),
    )
    .await;
    summary_of(&carol, &restricted, None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    carol
        .post(&format!("/_matrix/client/v3/join/{space}"), json!({}))
        .await
        .assert_ok();
    let allowed = summary_of(&carol, &restricted, None).await;
    allowed.assert_ok();
    assert_eq!(allowed.body["allowed_room_ids"], json!([space]));
    assert_eq!(allowed.body["join_rule"], "restricted");

    let unknown = format!("!unknown:{}", server.server_name());
    summary_of(&bob, &unknown, None)
        .await
        .assert_error(404, "M_NOT_FOUND");
}

/// matrix-sdk builds its room preview (Element X's) from the summary.
#[tokio::test]
async fn matrix_sdk_previews_a_room_from_its_summary() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room_id = create_room(
        &alice,
        json!({"preset": "public_chat", "name": "Salon public", "topic": "Bienvenue"}),
    )
    .await;
    let bob = server.register_user("bob").await;
    let room_id = matrix_sdk::ruma::OwnedRoomId::try_from(room_id).unwrap();
    let preview = RoomPreview::from_room_summary(
        &bob.client,
        room_id.clone(),
        <&matrix_sdk::ruma::RoomOrAliasId>::from(&*room_id),
        Vec::new(),
    )
    .await
    .expect("a preview from the summary");
    assert_eq!(preview.name.as_deref(), Some("Salon public"));
    assert_eq!(preview.topic.as_deref(), Some("Bienvenue"));
    assert_eq!(preview.num_joined_members, 1);
    assert_eq!(preview.is_world_readable, Some(false));
}

/// Rooms of another server are summarised by it (`/hierarchy`): what its rules let this server
/// see, and of that, only what the asking user may.
#[tokio::test]
async fn another_servers_rooms_are_summarised_by_it() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, bob) = user(home.raw(), "bob").await;
    let (_, carol) = user(home.raw(), "carol").await;
    let bob_id = format!("@bob:{}", home.server_name());
    let (_, alice) = user(remote.raw(), "alice").await;
    let via = remote.server_name();

    let public = create_room(
        &alice,
        json!({"preset": "public_chat", "name": "Forum distant", "room_alias_name": "distant"}),
    )
    .await;
    let alias = format!("%23distant:{}", remote.server_name());
    let seen = summary_of(&bob, &alias, Some(&via)).await;
    seen.assert_ok();
    assert_eq!(seen.body["room_id"], public);
    assert_eq!(seen.body["name"], "Forum distant");

    // A private room: unseen until Bob is invited, and then by Bob only.
    let private = create_room(&alice, json!({"preset": "private_chat", "name": "Privé"})).await;
    summary_of(&bob, &private, Some(&via))
        .await
        .assert_error(404, "M_NOT_FOUND");
    invite(&alice, &private, &bob_id).await;
    let invited = crate::room_helpers::eventually("the invite at home", || async {
        let seen = summary_of(&bob, &private, Some(&via)).await;
        (seen.status == 200).then_some(seen)
    })
    .await;
    assert_eq!(invited.body["name"], "Privé");
    assert_eq!(invited.body["membership"], "invite");
    summary_of(&carol, &private, Some(&via))
        .await
        .assert_error(404, "M_NOT_FOUND");

    // A space's hierarchy, as the other server is shown it.
    let space = create_room(
        &alice,
        json!({"preset": "public_chat", "creation_content": {"type": "m.space"}}),
    )
    .await;
    let hidden = create_room(&alice, json!({"preset": "private_chat"})).await;
    for child in [&public, &hidden] {
        alice
            .put(
                &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
                json!({"via": [remote.server_name()]}),
            )
            .await
            .assert_ok();
    }
    let hierarchy = home
        .federation_request(
            &remote,
            reqwest::Method::GET,
            &format!("/_matrix/federation/v1/hierarchy/{space}"),
            None,
        )
        .await;
    hierarchy.assert_ok();
    assert_eq!(hierarchy.body["room"]["room_type"], "m.space");
    assert_eq!(
        hierarchy.body["room"]["children_state"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(hierarchy.body["children"][0]["room_id"], public);
    assert_eq!(hierarchy.body["inaccessible_children"], json!([hidden]));
}
