//! The five kinds of room Tchap's clients create (TCHAP.md §4), made by a matrix-sdk client on
//! one ministry, with an agent of the other ministry and an external of the externals' server
//! let in or kept out as each rule says; and the last admin leaving such rooms across servers.

use estafette_tests::{RawClient, TestServer};
use matrix_sdk::ruma::api::client::room::Visibility;
use matrix_sdk::ruma::api::client::room::create_room::v3 as create_room_sdk;
use matrix_sdk::ruma::api::client::room::create_room::v3::RoomPreset;
use serde_json::{Value, json};

use crate::access_rules_federation::three_servers;
use crate::room_access_rules::{access_rule, encryption, refused};
use crate::room_helpers::{
    create_room, eventually, invite, join_once_invited, joined_members, sorted, user,
};

/// A room made by `creator`'s matrix-sdk client; its ID.
async fn sdk_room(creator: &estafette_tests::User, request: create_room_sdk::Request) -> String {
    creator
        .client
        .create_room(request)
        .await
        .expect("a room")
        .room_id()
        .to_string()
}

fn request(preset: RoomPreset, rule: &str, encrypted: bool) -> create_room_sdk::Request {
    let mut request = create_room_sdk::Request::new();
    request.preset = Some(preset);
    request.initial_state = vec![access_rule(rule)];
    if encrypted {
        request.initial_state.push(encryption());
    }
    request
}

/// `client` asks to join `room` through `via`; the answer's status and message.
async fn join_via(client: &RawClient, room: &str, via: &TestServer) -> (u16, String) {
    let path = format!(
        "/_matrix/client/v3/join/{room}?server_name={}",
        via.server_name()
    );
    let answer = client.post(&path, json!({})).await;
    let message = answer.body["error"].as_str().unwrap_or_default().to_owned();
    (answer.status, message)
}

async fn refused_invite(client: &RawClient, room: &str, user: &str, rule: &str) {
    let answer = client
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"user_id": user}),
        )
        .await;
    refused(answer, rule);
}

/// Waits until `client`'s server sees exactly `members` joined.
async fn members_are(client: &RawClient, room: &str, members: &[&String]) {
    let expected = sorted(members.iter().copied());
    eventually("the members to be seen", || async {
        (joined_members(client, room).await == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn each_room_kind_lets_in_or_keeps_out_agents_and_externals_across_servers() {
    let [a, b, e] = three_servers().await;
    let alice = a.register_user("alice").await;
    let alice_raw = a
        .raw()
        .clone_with(&alice.client.access_token().expect("a token"));
    let alice_id = alice.client.user_id().expect("logged in").to_string();
    let (bob_id, bob) = user(b.raw(), "bob").await;
    let (eve_id, eve) = user(e.raw(), "eve").await;

    // A direct conversation with the external: let in, and nobody else after.
    let mut dm = request(RoomPreset::TrustedPrivateChat, "direct", true);
    dm.is_direct = true;
    dm.invite = vec![eve_id.as_str().try_into().unwrap()];
    let dm = sdk_room(&alice, dm).await;
    join_once_invited(&eve, &dm).await;
    members_are(&alice_raw, &dm, &[&alice_id, &eve_id]).await;
    refused_invite(&alice_raw, &dm, &bob_id, "two people").await;

    // A private room: the other ministry's agent comes in, the external never.
    let private = sdk_room(&alice, request(RoomPreset::PrivateChat, "restricted", true)).await;
    invite(&alice_raw, &private, &bob_id).await;
    join_once_invited(&bob, &private).await;
    refused_invite(
        &alice_raw,
        &private,
        &eve_id,
        "restricted to the State's agents",
    )
    .await;
    members_are(&bob, &private, &[&alice_id, &bob_id]).await;

    // A private room with externals: both come in, the external with no power.
    let open = sdk_room(
        &alice,
        request(RoomPreset::PrivateChat, "unrestricted", true),
    )
    .await;
    for (id, client) in [(&bob_id, &bob), (&eve_id, &eve)] {
        invite(&alice_raw, &open, id).await;
        join_once_invited(client, &open).await;
    }
    members_are(&eve, &open, &[&alice_id, &bob_id, &eve_id]).await;
    let levels = eve
        .get(&format!(
            "/_matrix/client/v3/rooms/{open}/state/m.room.power_levels/"
        ))
        .await;
    assert!(
        levels.body["users"].get(&eve_id).is_none(),
        "{}",
        levels.body
    );

    // A forum: published; the agent finds it and joins, the external neither.
    let mut forum = request(RoomPreset::PublicChat, "restricted", false);
    forum.visibility = Visibility::Public;
    forum.name = Some("Forum des agents".to_owned());
    let forum = sdk_room(&alice, forum).await;
    let directory = bob
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={}", a.server_name()),
            json!({}),
        )
        .await;
    directory.assert_ok();
    assert!(
        directory.body.to_string().contains(&forum),
        "{}",
        directory.body
    );
    assert_eq!(join_via(&bob, &forum, &a).await.0, 200);
    let browsing = eve
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={}", a.server_name()),
            json!({}),
        )
        .await;
    browsing.assert_error(403, "M_FORBIDDEN");
    let (status, message) = join_via(&eve, &forum, &a).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("restricted to the State's agents"),
        "{message}"
    );
    members_are(&alice_raw, &forum, &[&alice_id, &bob_id]).await;

    // A forum of this ministry only: neither the other ministry nor the external get in.
    let mut local = request(RoomPreset::PublicChat, "restricted", false);
    let creation = json!({"m.federate": false});
    local.creation_content = Some(matrix_sdk::ruma::serde::Raw::from_json(
        serde_json::value::to_raw_value(&creation).unwrap(),
    ));
    let local = sdk_room(&alice, local).await;
    for client in [&bob, &eve] {
        let (status, message) = join_via(client, &local, &a).await;
        assert!(status == 403 || status == 404, "{status} {message}");
    }
    members_are(&alice_raw, &local, &[&alice_id]).await;
}

/// Alice's room (version 10: her power is in `users`) on the first ministry, with `members`
/// of the other servers joined; Alice then leaves, last admin.
async fn left_by_its_last_admin(
    alice: &RawClient,
    alice_id: &str,
    rule: &str,
    members: &[(&String, &RawClient)],
    mut users: Value,
) -> String {
    users[alice_id] = json!(100);
    let invited: Vec<&String> = members.iter().map(|(id, _)| *id).collect();
    let room = create_room(
        alice,
        json!({"room_version": "10", "preset": "private_chat", "invite": invited,
               "initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": rule}}],
               "power_level_content_override": {"users": users}}),
    )
    .await;
    for (_, client) in members {
        join_once_invited(client, &room).await;
    }
    alice
        .post(&format!("/_matrix/client/v3/rooms/{room}/leave"), json!({}))
        .await
        .assert_ok();
    room
}

/// The room's power levels as `client`'s server holds them once Alice's promotion arrived.
async fn promoted(client: &RawClient, room: &str) -> Value {
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/");
    eventually("the promotion to arrive", || async {
        let levels = client.get(&path).await.body;
        // Alice's own 100 stays: another 100, or everyone at 100.
        let admins = levels["users"].as_object().map_or(0, |users| {
            users.values().filter(|level| **level == 100).count()
        });
        let promoted = admins > 1 || levels["users_default"] == 100;
        promoted.then_some(levels)
    })
    .await
}

/// The last admin leaving (TCHAP.md §4) across servers: the highest members above the default
/// are promoted, or without any, everyone in a room of agents and every agent in a room with
/// externals; never an external. Every server holds the same promotion.
#[tokio::test]
async fn the_last_admin_leaving_promotes_agents_across_servers_never_externals() {
    let [a, b, e] = three_servers().await;
    let (alice_id, alice) = user(a.raw(), "alice").await;
    let (bob_id, bob) = user(b.raw(), "bob").await;
    let (carol_id, carol) = user(b.raw(), "carol").await;
    let (eve_id, eve) = user(e.raw(), "eve").await;

    // A room with an external: the agent is promoted, the external is not.
    let with_external = left_by_its_last_admin(
        &alice,
        &alice_id,
        "unrestricted",
        &[(&bob_id, &bob), (&eve_id, &eve)],
        json!({}),
    )
    .await;
    let at_b = promoted(&bob, &with_external).await;
    assert_eq!(at_b["users"][&bob_id], 100, "{at_b}");
    assert!(at_b["users"].get(&eve_id).is_none(), "{at_b}");
    assert_eq!(at_b["users_default"], 0, "{at_b}");
    assert_eq!(promoted(&eve, &with_external).await, at_b);

    // A moderator of the other ministry is promoted; the other member stays as they were.
    let moderated = left_by_its_last_admin(
        &alice,
        &alice_id,
        "restricted",
        &[(&bob_id, &bob), (&carol_id, &carol)],
        json!({&bob_id: 50}),
    )
    .await;
    let at_b = promoted(&carol, &moderated).await;
    assert_eq!(at_b["users"][&bob_id], 100, "{at_b}");
    assert!(at_b["users"].get(&carol_id).is_none(), "{at_b}");

    // Nobody above the default in a room of agents: everyone becomes admin.
    let flat = left_by_its_last_admin(
        &alice,
        &alice_id,
        "restricted",
        &[(&bob_id, &bob), (&carol_id, &carol)],
        json!({}),
    )
    .await;
    let at_b = promoted(&bob, &flat).await;
    assert_eq!(at_b["users_default"], 100, "{at_b}");
}

/// A room made while the rules were off has no rule: once they are on it is restricted, and
/// opened to externals it follows the rules of such rooms from then on.
#[tokio::test]
async fn a_room_from_before_the_rules_is_restricted_until_opened_to_externals() {
    let [a, _b, e] = three_servers().await;
    let restart = |server: TestServer, on: bool| async move {
        let stopped = server.go_offline().await;
        stopped
            .configure(move |config| config.policy.room_access_rules = on)
            .start()
            .await
    };
    let a = restart(a, false).await;
    let (alice_id, alice) = user(a.raw(), "alice").await;
    let (eve_id, eve) = user(e.raw(), "eve").await;
    let room = create_room(&alice, json!({"preset": "private_chat"})).await;
    let rule_path = format!("/_matrix/client/v3/rooms/{room}/state/im.vector.room.access_rules/");
    assert_eq!(alice.get(&rule_path).await.status, 404, "no rule");

    let a = restart(a, true).await;
    let alice = a.raw().clone_with(alice.token_for_tests());
    refused_invite(&alice, &room, &eve_id, "restricted to the State's agents").await;
    alice
        .put(&rule_path, json!({"rule": "unrestricted"}))
        .await
        .assert_ok();
    invite(&alice, &room, &eve_id).await;
    join_once_invited(&eve, &room).await;
    members_are(&alice, &room, &[&alice_id, &eve_id]).await;
    refused(
        alice.put(&rule_path, json!({"rule": "restricted"})).await,
        "cannot change from unrestricted to restricted",
    );
}
