//! Rooms under the access rules (TCHAP.md §4) on one server: the room kinds Tchap's clients
//! create, the State's defaults, and each rule refusing on the server where the client acts
//! (`M_FORBIDDEN` naming the rule), with the state unchanged. Externals are users of
//! `externe.example`, refused before any request leaves the server.

use estafette_tests::{RawClient, TestServer};
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::api::client::room::create_room::v3::RoomPreset;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::serde::Raw;
use serde_json::{Value, json};

use crate::account_validity::created_and_logged_in;
use crate::federation_security::signed_pdu;
use crate::room_helpers::{
    create_room, eventually, invited_rooms, joined_members, messages, send_text, user,
};

const GUEST: &str = "@guest:externe.example";

async fn ministry() -> TestServer {
    TestServer::builder()
        .configure(|config| {
            config.policy.room_access_rules = true;
            config.policy.external_servers = vec!["externe.example".to_owned()];
        })
        .start()
        .await
}

async fn state(client: &RawClient, room: &str, kind: &str) -> Value {
    let path = format!("/_matrix/client/v3/rooms/{room}/state/{kind}/");
    client.get(&path).await.body
}

pub(crate) fn access_rule(rule: &str) -> Raw<matrix_sdk::ruma::events::AnyInitialStateEvent> {
    let event = json!({"type": "im.vector.room.access_rules", "state_key": "",
                       "content": {"rule": rule}});
    Raw::from_json(serde_json::value::to_raw_value(&event).unwrap())
}

pub(crate) fn encryption() -> Raw<matrix_sdk::ruma::events::AnyInitialStateEvent> {
    InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
        .to_raw_any()
}

pub(crate) fn refused(response: estafette_tests::RawResponse, rule: &str) {
    response.assert_error(403, "M_FORBIDDEN");
    let message = response.body["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains(rule), "{message}");
}

/// The kinds of rooms Tchap's clients create, with the options they send (matrix-sdk).
#[tokio::test]
async fn the_room_kinds_of_tchap_clients_follow_their_rules() {
    let server = ministry().await;
    let alice = server.register_user("alice").await;
    let (bob_id, _) = user(server.raw(), "bob").await;
    let raw = server
        .raw()
        .clone_with(&alice.client.access_token().expect("a token"));

    // A direct conversation: two people, no name, and never a third.
    let mut dm = create_room::v3::Request::new();
    dm.is_direct = true;
    dm.preset = Some(RoomPreset::TrustedPrivateChat);
    dm.invite = vec![bob_id.as_str().try_into().unwrap()];
    dm.initial_state = vec![access_rule("direct"), encryption()];
    let dm = alice
        .client
        .create_room(dm)
        .await
        .expect("a DM")
        .room_id()
        .to_string();
    assert_eq!(
        state(&raw, &dm, "im.vector.room.access_rules").await["rule"],
        "direct"
    );
    let (carol_id, _) = user(server.raw(), "carol").await;
    let invite = |room: &str, user: &str| {
        let body = json!({"user_id": user});
        let (raw, path) = (
            raw.clone(),
            format!("/_matrix/client/v3/rooms/{room}/invite"),
        );
        async move { raw.post(&path, body).await }
    };
    refused(invite(&dm, &carol_id).await, "two people");
    let named = raw
        .put(
            &format!("/_matrix/client/v3/rooms/{dm}/state/m.room.name/"),
            json!({"name": "A name"}),
        )
        .await;
    refused(named, "no name");

    // A private room: restricted, encrypted, with the State's defaults; externals stay out.
    let mut private = create_room::v3::Request::new();
    private.preset = Some(RoomPreset::PrivateChat);
    private.name = Some("Budget".to_owned());
    private.initial_state = vec![access_rule("restricted"), encryption()];
    let private = alice
        .client
        .create_room(private)
        .await
        .expect("a room")
        .room_id()
        .to_string();
    let levels = state(&raw, &private, "m.room.power_levels").await;
    assert_eq!(
        (levels["state_default"].clone(), levels["invite"].clone()),
        (json!(100), json!(50))
    );
    assert_eq!(levels["events"]["m.call.member"], 0);
    let visibility = state(&raw, &private, "m.room.history_visibility").await;
    assert_eq!(visibility["history_visibility"], "invited");
    let guests = state(&raw, &private, "m.room.guest_access").await;
    assert_eq!(guests["guest_access"], "forbidden");
    refused(invite(&private, GUEST).await, "restricted");
    invite(&private, &carol_id).await.assert_ok();

    // Opened to externals: once, for good, and never while published.
    let rules_path =
        format!("/_matrix/client/v3/rooms/{private}/state/im.vector.room.access_rules/");
    raw.put(&rules_path, json!({"rule": "unrestricted"}))
        .await
        .assert_ok();
    refused(
        raw.put(&rules_path, json!({"rule": "restricted"})).await,
        "cannot change",
    );
    // (Room version 12: the creator's power is not in `users`.)
    let power_to_guest = json!({"users": {GUEST: 50}, "state_default": 100, "invite": 50});
    let power_path = format!("/_matrix/client/v3/rooms/{private}/state/m.room.power_levels/");
    refused(raw.put(&power_path, power_to_guest).await, "external");

    // A forum: public, published, restricted, never encrypted.
    let forum = create_room(
        &raw,
        json!({"preset": "public_chat", "visibility": "public", "name": "Forum",
               "initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": "restricted"}}]}),
    )
    .await;
    let encrypting = raw
        .put(
            &format!("/_matrix/client/v3/rooms/{forum}/state/m.room.encryption/"),
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await;
    refused(encrypting, "not encrypted");
    let forum_rules =
        format!("/_matrix/client/v3/rooms/{forum}/state/im.vector.room.access_rules/");
    refused(
        raw.put(&forum_rules, json!({"rule": "unrestricted"})).await,
        "published",
    );
    let visibility = state(&raw, &forum, "m.room.history_visibility").await;
    assert_eq!(visibility["history_visibility"], "shared");
    // Only restricted rooms are published.
    let publish = |room: &str| {
        let path = format!("/_matrix/client/v3/directory/list/room/{room}");
        let raw = raw.clone();
        async move { raw.put(&path, json!({"visibility": "public"})).await }
    };
    refused(publish(&private).await, "only restricted rooms");
    let published = raw.get("/_matrix/client/v3/publicRooms").await;
    let listed: Vec<&str> = published.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    assert_eq!(listed, vec![forum.as_str()]);
    refused(invite(&forum, GUEST).await, "restricted");

    // An upgrade carries the rule over, the direct room's too.
    for (room, rule) in [(&private, "unrestricted"), (&dm, "direct")] {
        let upgraded = raw
            .post(
                &format!("/_matrix/client/v3/rooms/{room}/upgrade"),
                json!({"new_version": "11"}),
            )
            .await;
        upgraded.assert_ok();
        let replacement = upgraded.body["replacement_room"].as_str().unwrap();
        let carried = state(&raw, replacement, "im.vector.room.access_rules").await;
        assert_eq!(carried["rule"], rule, "{carried}");
    }
}

/// What a client may not ask of `createRoom`; an admin may.
#[tokio::test]
async fn room_requests_against_the_rules_are_refused_except_for_admins() {
    let server = ministry().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let bad = [
        json!({"initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": "everyone"}}]}),
        json!({"is_direct": true, "initial_state": [{"type": "im.vector.room.access_rules",
               "state_key": "", "content": {"rule": "restricted"}}]}),
        json!({"initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": "direct"}}]}),
        json!({"is_direct": true, "preset": "public_chat"}),
        json!({"power_level_content_override": {"invite": 0}}),
        json!({"power_level_content_override": {"state_default": 50}}),
        json!({"visibility": "public", "initial_state": [{"type": "im.vector.room.access_rules",
               "state_key": "", "content": {"rule": "unrestricted"}}]}),
    ];
    for body in &bad {
        let response = alice
            .post("/_matrix/client/v3/createRoom", body.clone())
            .await;
        response.assert_error(400, "M_INVALID_PARAM");
    }
    let rooms = alice.get("/_matrix/client/v3/joined_rooms").await;
    assert_eq!(rooms.body["joined_rooms"], json!([]), "nothing was created");

    let admin = created_and_logged_in(&server, "admin", true).await;
    let room = create_room(&admin, bad[4].clone()).await;
    let levels = state(&admin, &room, "m.room.power_levels").await;
    assert_eq!(levels["invite"], 0, "an admin's room is as asked");
}

/// An event the rules refuse, from a server that does not apply them (`room_access_rules`
/// off there), is rejected by a server that does: it never becomes its state.
#[tokio::test]
async fn a_server_that_does_not_apply_the_rules_cannot_impose_its_events() {
    let enforcing = TestServer::builder()
        .federation()
        .configure(|config| config.policy.room_access_rules = true)
        .start()
        .await;
    let lax = TestServer::builder().federation().start().await;
    let (_, alice) = user(enforcing.raw(), "alice").await;
    let (bob_id, bob) = user(lax.raw(), "bob").await;
    let (carol_id, carol_on_lax) = user(lax.raw(), "carol").await;
    let dm = create_room(
        &alice,
        json!({"is_direct": true, "preset": "trusted_private_chat", "invite": [bob_id]}),
    )
    .await;
    eventually("bob's invite", || async {
        invited_rooms(&bob).await.contains(&dm).then_some(())
    })
    .await;
    bob.post(&format!("/_matrix/client/v3/join/{dm}"), json!({}))
        .await
        .assert_ok();

    // Bob's server lets him name the conversation and bring a third person in.
    let named = bob
        .put(
            &format!("/_matrix/client/v3/rooms/{dm}/state/m.room.name/"),
            json!({"name": "Named anyway"}),
        )
        .await;
    named.assert_ok();
    let invited = bob
        .post(
            &format!("/_matrix/client/v3/rooms/{dm}/invite"),
            json!({"user_id": carol_id}),
        )
        .await;
    invited.assert_ok();

    // The enforcing server rejects both, each time it is given them.
    let state = bob
        .get(&format!("/_matrix/client/v3/rooms/{dm}/state"))
        .await;
    let event_of = |kind: &str, key: &str| {
        let events = state.body.as_array().unwrap();
        let event = events
            .iter()
            .find(|e| e["type"] == kind && e["state_key"] == key);
        event
            .and_then(|e| e["event_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let forced = [
        event_of("m.room.name", ""),
        event_of("m.room.member", &carol_id),
    ];
    for (attempt, event_id) in forced.iter().enumerate() {
        let fetched = enforcing
            .federation_request(
                &lax,
                reqwest::Method::GET,
                &format!("/_matrix/federation/v1/event/{event_id}"),
                None,
            )
            .await;
        let pdu = fetched.body["pdus"][0].clone();
        let transaction = json!({"origin": lax.server_name(), "origin_server_ts": 1,
                                 "pdus": [pdu]});
        let answer = lax
            .federation_request(
                &enforcing,
                reqwest::Method::PUT,
                &format!("/_matrix/federation/v1/send/again-{attempt}"),
                Some(transaction.to_string().into_bytes()),
            )
            .await;
        let error = answer.body["pdus"][event_id]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(error.contains("access rules"), "{}", answer.body);
    }
    let name = alice
        .get(&format!("/_matrix/client/v3/rooms/{dm}/state/m.room.name/"))
        .await;
    assert_eq!(name.status, 404, "no name where the rules hold");
    let members = joined_members(&alice, &dm).await;
    assert_eq!(members.len(), 2, "{members:?}");
    let carol = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{dm}/state/m.room.member/{carol_id}"
        ))
        .await;
    assert_eq!(carol.status, 404, "no third person where the rules hold");

    // An event resting on the rejected invite, which Bob's server never saw, so cannot
    // tell the state before: judged on the state before the invite, it is accepted.
    let (handmade, pdu) = signed_pdu(
        &lax,
        &dm,
        &bob_id,
        "m.room.message",
        None,
        json!({"msgtype": "m.text", "body": "Fait main"}),
        &forced[1],
        &[
            event_of("m.room.power_levels", ""),
            event_of("m.room.member", &bob_id),
        ],
    );
    let transaction = json!({"origin": lax.server_name(), "origin_server_ts": 1, "pdus": [pdu]});
    let answer = lax
        .federation_request(
            &enforcing,
            reqwest::Method::PUT,
            "/_matrix/federation/v1/send/handmade",
            Some(transaction.to_string().into_bytes()),
        )
        .await;
    assert_eq!(
        answer.body["pdus"][handmade.as_str()],
        json!({}),
        "{}",
        answer.body
    );
    assert!(
        messages(&alice, &dm)
            .await
            .contains(&"Fait main".to_owned())
    );

    // What Bob's server builds on them next is judged without them: Bob's message is built on
    // the rejected invite, and Carol's join rests on it.
    send_text(&bob, &dm, "after-invite", "Toujours à deux ?").await;
    carol_on_lax
        .post(&format!("/_matrix/client/v3/join/{dm}"), json!({}))
        .await
        .assert_ok();
    send_text(&carol_on_lax, &dm, "carol-speaks", "Bonjour, je suis Carol").await;
    send_text(&bob, &dm, "after-join", "Et maintenant ?").await;
    eventually("Bob's messages at the enforcing server", || async {
        let seen = messages(&alice, &dm).await;
        seen.contains(&"Et maintenant ?".to_owned()).then_some(seen)
    })
    .await;
    let seen = messages(&alice, &dm).await;
    assert!(seen.contains(&"Toujours à deux ?".to_owned()), "{seen:?}");
    assert!(
        !seen.contains(&"Bonjour, je suis Carol".to_owned()),
        "{seen:?}"
    );
    assert_eq!(joined_members(&alice, &dm).await.len(), 2);
    let name = alice
        .get(&format!("/_matrix/client/v3/rooms/{dm}/state/m.room.name/"))
        .await;
    assert_eq!(name.status, 404, "the rejected name never comes back");
}

/// The last admin leaving promotes others (TCHAP.md §4): the highest members above the
/// default, or, without any, everyone; a room of version 12 likewise when its creator leaves.
#[tokio::test]
async fn a_room_never_loses_its_last_admin() {
    let server = ministry().await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let (carol_id, carol) = user(server.raw(), "carol").await;
    let room_with = |version: &str, users: Value| {
        let body = json!({"room_version": version, "invite": [bob_id, carol_id],
                          "power_level_content_override": {"users": users}});
        let alice = alice.clone();
        async move { create_room(&alice, body).await }
    };
    let join_all = |room: String| {
        let (bob, carol) = (bob.clone(), carol.clone());
        async move {
            for member in [&bob, &carol] {
                let path = format!("/_matrix/client/v3/join/{room}");
                member.post(&path, json!({})).await.assert_ok();
            }
        }
    };
    let leave = |room: &str| {
        let (alice, path) = (
            alice.clone(),
            format!("/_matrix/client/v3/rooms/{room}/leave"),
        );
        async move {
            alice.post(&path, json!({})).await.assert_ok();
        }
    };

    // A moderator is promoted; the other member stays as they were.
    let moderated = room_with("10", json!({&alice_id: 100, &bob_id: 50})).await;
    join_all(moderated.clone()).await;
    leave(&moderated).await;
    let levels = state(&bob, &moderated, "m.room.power_levels").await;
    assert_eq!(levels["users"][&bob_id], 100, "{levels}");
    assert!(levels["users"].get(&carol_id).is_none(), "{levels}");
    assert_eq!(levels["users_default"], 0);

    // Nobody above the default: everyone becomes admin.
    let flat = room_with("10", json!({&alice_id: 100})).await;
    join_all(flat.clone()).await;
    leave(&flat).await;
    let levels = state(&bob, &flat, "m.room.power_levels").await;
    assert_eq!(levels["users_default"], 100, "{levels}");

    // Room version 12: the creator's power is not in `users`, and leaving still promotes.
    let v12 = room_with("12", json!({&bob_id: 50})).await;
    join_all(v12.clone()).await;
    leave(&v12).await;
    let levels = state(&carol, &v12, "m.room.power_levels").await;
    assert_eq!(levels["users"][&bob_id], 100, "{levels}");

    // Another admin staying: nothing changes.
    let shared = room_with("10", json!({&alice_id: 100, &bob_id: 100})).await;
    join_all(shared.clone()).await;
    let before = state(&bob, &shared, "m.room.power_levels").await;
    leave(&shared).await;
    assert_eq!(state(&bob, &shared, "m.room.power_levels").await, before);
}

/// On the externals' server (its own users are externals): no rooms of their own, no room
/// directory, and nobody finds them in the user directory.
#[tokio::test]
async fn externals_create_no_rooms_browse_no_directory_and_are_not_found() {
    let server = TestServer::builder()
        .configure(|config| {
            config.policy.room_access_rules = true;
            config.server_name = "externe.example".to_owned();
            config.policy.external_servers = vec!["externe.example".to_owned()];
        })
        .start()
        .await;
    let (_, guest) = user(server.raw(), "guest").await;
    let refused = guest.post("/_matrix/client/v3/createRoom", json!({})).await;
    refused.assert_error(403, "M_FORBIDDEN");
    let direct = guest
        .post("/_matrix/client/v3/createRoom", json!({"is_direct": true}))
        .await;
    direct.assert_error(403, "M_FORBIDDEN");
    guest
        .post("/_matrix/client/v3/publicRooms", json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    guest
        .get("/_matrix/client/v3/publicRooms")
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Nor anyone who does not say who they are.
    guest
        .anonymous()
        .get("/_matrix/client/v3/publicRooms")
        .await
        .assert_error(401, "M_MISSING_TOKEN");

    // An operator's room with the guest in it: still not found.
    let operator = created_and_logged_in(&server, "operator", true).await;
    let guest_id = format!("@guest:{}", server.server_name());
    let room = create_room(
        &operator,
        json!({"invite": [guest_id],
               "initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": "unrestricted"}}]}),
    )
    .await;
    guest
        .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let found = operator
        .post(
            "/_matrix/client/v3/user_directory/search",
            json!({"search_term": "guest"}),
        )
        .await;
    found.assert_ok();
    assert_eq!(found.body["results"], json!([]), "{}", found.body);
}

/// A forum limited to one server (`m.federate: false`, as Tchap's clients create it): listed
/// for its own users, neither shown to nor joinable from another server; a federated forum is.
#[tokio::test]
async fn a_forum_limited_to_one_server_stays_there() {
    let home = TestServer::builder()
        .federation()
        .configure(|config| config.policy.room_access_rules = true)
        .start()
        .await;
    let other = TestServer::builder()
        .federation()
        .configure(|config| config.policy.room_access_rules = true)
        .start()
        .await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(other.raw(), "bob").await;
    let forum = |name: &str, federate: bool| {
        let body = json!({"preset": "public_chat", "visibility": "public", "name": name,
                          "creation_content": {"m.federate": federate},
                          "initial_state": [{"type": "im.vector.room.access_rules",
                                             "state_key": "", "content": {"rule": "restricted"}}]});
        let alice = alice.clone();
        async move { create_room(&alice, body).await }
    };
    let local = forum("Ministry only", false).await;
    let shared = forum("Everyone", true).await;
    let listed = |client: &RawClient, server: Option<String>| {
        let path = match server {
            Some(server) => format!("/_matrix/client/v3/publicRooms?server={server}"),
            None => "/_matrix/client/v3/publicRooms".to_owned(),
        };
        let client = client.clone();
        async move {
            let page = client.post(&path, json!({})).await;
            page.assert_ok();
            let mut rooms: Vec<String> = page.body["chunk"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|room| room["room_id"].as_str().map(ToOwned::to_owned))
                .collect();
            rooms.sort();
            rooms
        }
    };
    let mut both = vec![local.clone(), shared.clone()];
    both.sort();
    assert_eq!(listed(&alice, None).await, both);
    assert_eq!(
        listed(&bob, Some(home.server_name())).await,
        vec![shared.clone()]
    );
    let join = |room: &str| {
        let path = format!(
            "/_matrix/client/v3/join/{room}?server_name={}",
            home.server_name()
        );
        let bob = bob.clone();
        async move { bob.post(&path, json!({})).await }
    };
    let refused = join(&local).await;
    assert!(
        refused.status == 403 || refused.status == 404,
        "{}",
        refused.body
    );
    join(&shared).await.assert_ok();
}
