//! Every per-event access rule (TCHAP.md §4) across three servers that all apply them: two
//! ministries and the externals' server. Each rule refuses the client that breaks it on its
//! own server; the same event forged by a server (signed with its key, as a server that does
//! not apply the rules would send it) is rejected by both ministries, whose states of the
//! room stay identical.

use estafette_tests::{RawClient, RawResponse, SynapseServer, TestServer};
use serde_json::{Value, json};

use crate::federation_security::signed_pdu;
use crate::room_access_rules::refused;
use crate::room_helpers::{
    create_room, eventually, invite, invited_rooms, join_once_invited, joined_members,
    membership_of, messages, send_text, sorted, state_ids, user,
};

/// Two ministries and the externals' server, each applying the access rules, in a closed
/// federation.
pub(crate) async fn three_servers() -> [TestServer; 3] {
    let start = || {
        TestServer::builder()
            .federation()
            .configure(|config| config.policy.room_access_rules = true)
            .start()
    };
    let first = [start().await, start().await, start().await];
    let names: Vec<String> = first.iter().map(TestServer::server_name).collect();
    let mut servers = Vec::new();
    for server in first {
        let (federation, externals) = (names.clone(), vec![names[2].clone()]);
        let restart = server.go_offline().await.configure(move |config| {
            config.federation.allowed_servers = federation.into_iter().map(Into::into).collect();
            config.policy.external_servers = externals;
        });
        servers.push(restart.start().await);
    }
    let [a, b, e]: [TestServer; 3] = servers.try_into().unwrap_or_else(|_| unreachable!());
    [a, b, e]
}

/// A state event's content in `room`, as `client`'s server has it.
async fn content(client: &RawClient, room: &str, kind: &str) -> Value {
    let path = format!("/_matrix/client/v3/rooms/{room}/state/{kind}/");
    client.get(&path).await.body
}

/// One of the rooms of the test: its ID and a member's client on each ministry.
struct Room {
    id: String,
    at_a: RawClient,
    at_b: RawClient,
}

/// An event as `signer` forges it: `sender`'s, on the room's latest event, with the auth
/// events the spec's rules ask for taken from the room's state.
async fn forge(
    signer: &TestServer,
    room: &Room,
    sender: &str,
    kind: &str,
    state_key: &str,
    content: Value,
) -> (String, Box<serde_json::value::RawValue>) {
    let state = state_ids(&room.at_a, &room.id).await;
    let id_of = |kind: &str, key: &str| {
        state
            .iter()
            .find(|(k, s, _)| k == kind && s == key)
            .map(|(_, _, id)| id.clone())
    };
    let mut auth: Vec<String> = [
        id_of("m.room.power_levels", ""),
        id_of("m.room.member", sender),
    ]
    .into_iter()
    .flatten()
    .collect();
    if kind == "m.room.member" {
        auth.extend(id_of("m.room.join_rules", ""));
        auth.extend(id_of("m.room.member", state_key).filter(|_| state_key != sender));
    }
    let latest = room
        .at_a
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1",
            room.id
        ))
        .await;
    let prev = latest.body["chunk"][0]["event_id"]
        .as_str()
        .expect("a latest event")
        .to_owned();
    let (id, pdu) = signed_pdu(
        signer,
        &room.id,
        sender,
        kind,
        Some(state_key),
        content,
        &prev,
        &auth,
    );
    (id.to_string(), pdu)
}

/// Sends a forged PDU to both ministries (each from a server other than itself) and checks
/// that each rejects it for `rule`.
async fn both_reject(
    servers: &[TestServer; 3],
    origin: &TestServer,
    (event_id, pdu): (String, Box<serde_json::value::RawValue>),
    rule: &str,
) {
    for (target, from) in [(&servers[0], origin), (&servers[1], origin)] {
        let transaction =
            json!({"origin": from.server_name(), "origin_server_ts": 1, "pdus": [pdu]});
        let answer = from
            .federation_request(
                target,
                reqwest::Method::PUT,
                &format!("/_matrix/federation/v1/send/forged-{event_id}"),
                Some(transaction.to_string().into_bytes()),
            )
            .await;
        answer.assert_ok();
        let error = answer.body["pdus"][&event_id]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(
            error.contains(rule),
            "{} for {rule}: {}",
            target.server_name(),
            answer.body
        );
    }
}

/// Alice's room on the first ministry with Bob of the second joined, both at power 100.
async fn room(alice: &RawClient, (bob_id, bob): &(String, RawClient), mut body: Value) -> Room {
    body["invite"] = json!([bob_id]);
    // Room version 12: creators' power is not in `users` (in a trusted private chat, the
    // invitee is one).
    if body["preset"] != "trusted_private_chat" {
        body["power_level_content_override"] = json!({"users": {bob_id: 100}});
    }
    let id = create_room(alice, body).await;
    join_once_invited(bob, &id).await;
    let room = Room {
        id,
        at_a: alice.clone(),
        at_b: bob.clone(),
    };
    same_state(&room).await;
    room
}

/// Waits until both ministries hold the same state of the room, and returns it.
async fn same_state(room: &Room) -> Vec<(String, String, String)> {
    eventually("both ministries to hold the same state", || async {
        let (at_a, at_b) = (
            state_ids(&room.at_a, &room.id).await,
            state_ids(&room.at_b, &room.id).await,
        );
        (at_a == at_b && !at_a.is_empty()).then_some(at_a)
    })
    .await
}

fn rule(rule: &str) -> Value {
    json!({"type": "im.vector.room.access_rules", "state_key": "", "content": {"rule": rule}})
}

#[tokio::test]
async fn each_rule_is_refused_locally_and_rejected_by_both_ministries() {
    let servers = three_servers().await;
    let [a, b, e] = &servers;
    let (_, alice) = user(a.raw(), "alice").await;
    let bob = user(b.raw(), "bob").await;
    let (carol_id, _) = user(b.raw(), "carol").await;
    let (eve_id, eve) = user(e.raw(), "eve").await;
    let bob_id = bob.0.clone();
    let encryption = json!({"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}});
    let restricted = room(
        &alice,
        &bob,
        json!({"preset": "private_chat", "initial_state": [rule("restricted"), encryption]}),
    )
    .await;
    let unrestricted = room(
        &alice,
        &bob,
        json!({"preset": "private_chat", "initial_state": [rule("unrestricted"), encryption]}),
    )
    .await;
    let open_to_externals = room(
        &alice,
        &bob,
        json!({"preset": "public_chat", "initial_state": [rule("unrestricted")]}),
    )
    .await;
    let direct = room(
        &alice,
        &bob,
        json!({"preset": "trusted_private_chat", "is_direct": true,
               "initial_state": [rule("direct"), encryption]}),
    )
    .await;
    let forum = room(
        &alice,
        &bob,
        json!({"preset": "public_chat", "initial_state": [rule("restricted")]}),
    )
    .await;
    let rooms = [
        &restricted,
        &unrestricted,
        &open_to_externals,
        &direct,
        &forum,
    ];
    let mut before = Vec::new();
    for room in rooms {
        before.push(same_state(room).await);
    }

    // State events Alice's client tries and Bob's server forges, with the rule that refuses
    // them.
    let levels = content(&alice, &unrestricted.id, "m.room.power_levels").await;
    let mut users_default = levels.clone();
    users_default["users_default"] = json!(50);
    let mut external_power = levels.clone();
    external_power["users"][&eve_id] = json!(50);
    let state_cases = [
        (
            &unrestricted,
            "im.vector.room.access_rules",
            json!({"rule": "restricted"}),
            "cannot change from unrestricted to restricted",
        ),
        (
            &restricted,
            "im.vector.room.access_rules",
            json!({"rule": "direct"}),
            "cannot change from restricted to direct",
        ),
        (
            &unrestricted,
            "m.room.power_levels",
            users_default,
            "users_default stays 0",
        ),
        (
            &unrestricted,
            "m.room.power_levels",
            external_power,
            "holds no power",
        ),
        (
            &direct,
            "m.room.join_rules",
            json!({"join_rule": "public"}),
            "cannot be public",
        ),
        (
            &forum,
            "m.room.join_rules",
            json!({"join_rule": "invite"}),
            "stays public unless it is encrypted",
        ),
        (&direct, "m.room.name", json!({"name": "Named"}), "no name"),
        (
            &direct,
            "m.room.topic",
            json!({"topic": "A topic"}),
            "no topic",
        ),
        (
            &direct,
            "m.room.avatar",
            json!({"url": "mxc://a/b"}),
            "no avatar",
        ),
        (
            &forum,
            "m.room.encryption",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
            "not encrypted",
        ),
        (
            &restricted,
            "m.room.guest_access",
            json!({"guest_access": "can_join"}),
            "guests are never let in",
        ),
    ];
    for (room, kind, body, why) in state_cases {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{kind}/", room.id);
        refused(room.at_a.put(&path, body.clone()).await, why);
        let forged = forge(b, room, &bob_id, kind, "", body).await;
        both_reject(&servers, b, forged, why).await;
    }

    // Memberships: an external invited into a restricted room, a third person into a direct
    // one, an external joining a room open to externals uninvited.
    let invite = |room: &Room, user: &str| {
        let (client, path) = (
            room.at_a.clone(),
            format!("/_matrix/client/v3/rooms/{}/invite", room.id),
        );
        let body = json!({"user_id": user});
        async move { client.post(&path, body).await }
    };
    let why = "restricted to the State's agents";
    refused(invite(&restricted, &eve_id).await, why);
    let invite_eve = json!({"membership": "invite"});
    let forged = forge(
        b,
        &restricted,
        &bob_id,
        "m.room.member",
        &eve_id,
        invite_eve,
    )
    .await;
    both_reject(&servers, b, forged, why).await;

    let why = "two people";
    refused(invite(&direct, &carol_id).await, why);
    let invite_carol = json!({"membership": "invite"});
    let forged = forge(
        b,
        &direct,
        &bob_id,
        "m.room.member",
        &carol_id,
        invite_carol,
    )
    .await;
    both_reject(&servers, b, forged, why).await;

    let why = "join only once invited";
    let via = a.server_name();
    let joined = eve
        .post(
            &format!("/_matrix/client/v3/join/{}?via={via}", open_to_externals.id),
            json!({}),
        )
        .await;
    refused(joined, why);
    let join = json!({"membership": "join"});
    let forged = forge(
        e,
        &open_to_externals,
        &eve_id,
        "m.room.member",
        &eve_id,
        join,
    )
    .await;
    both_reject(&servers, e, forged, why).await;

    // Nothing changed, and both ministries still agree on every room.
    for (room, before) in rooms.into_iter().zip(before) {
        assert_eq!(state_ids(&room.at_a, &room.id).await, before, "{}", room.id);
        assert_eq!(state_ids(&room.at_b, &room.id).await, before, "{}", room.id);
    }
}

/// `from` asks `to` to sign an invite of one of its users (`PUT /invite`, version 2).
async fn invite_from_afar(
    from: &TestServer,
    to: &TestServer,
    room_id: &str,
    (event_id, pdu): (String, Box<serde_json::value::RawValue>),
    stripped: Vec<Value>,
) -> RawResponse {
    let body = json!({"event": pdu, "room_version": "12", "invite_room_state": stripped});
    from.federation_request(
        to,
        reqwest::Method::PUT,
        &format!("/_matrix/federation/v2/invite/{room_id}/{event_id}"),
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// An invite sent straight to the externals' server (forged by a ministry that does not apply
/// the rules) into a room it is not in: the room's stripped state says restricted, so the
/// external is never shown it; into a room open to externals, they are.
#[tokio::test]
async fn an_external_is_not_shown_an_invite_into_a_restricted_room() {
    let servers = three_servers().await;
    let [a, b, e] = &servers;
    let (alice_id, alice) = user(a.raw(), "alice").await;
    let bob = user(b.raw(), "bob").await;
    let (eve_id, eve) = user(e.raw(), "eve").await;
    let bob_id = bob.0.clone();
    for (rule_name, shown) in [("restricted", false), ("unrestricted", true)] {
        let room = room(
            &alice,
            &bob,
            json!({"preset": "private_chat", "initial_state": [rule(rule_name)]}),
        )
        .await;
        let membership = json!({"membership": "invite"});
        let (event_id, pdu) = forge(b, &room, &bob_id, "m.room.member", &eve_id, membership).await;
        // What a server sends invitees of the room: its kind and join rule, stripped.
        let mut stripped = Vec::new();
        for kind in ["im.vector.room.access_rules", "m.room.join_rules"] {
            let content = content(&room.at_b, &room.id, kind).await;
            stripped.push(json!({"type": kind, "state_key": "", "sender": bob_id,
                                 "content": content}));
        }
        let answer = invite_from_afar(b, e, &room.id, (event_id, pdu), stripped).await;
        let invited = invited_rooms(&eve).await.contains(&room.id);
        if shown {
            answer.assert_ok();
            assert!(invited, "shown into an {rule_name} room");
        } else {
            refused(answer, "restricted to the State's agents");
            assert!(!invited, "never shown into a restricted room");
        }
    }

    // In a room the externals' server is in (a direct conversation with Eve), a third person
    // invited is rejected there too, and never shown the invite.
    let (frank_id, frank) = user(e.raw(), "frank").await;
    let direct = create_room(
        &alice,
        json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [eve_id],
               "initial_state": [rule("direct")]}),
    )
    .await;
    join_once_invited(&eve, &direct).await;
    let direct = Room {
        id: direct,
        at_a: alice.clone(),
        at_b: eve.clone(),
    };
    same_state(&direct).await;
    let membership = json!({"membership": "invite"});
    let (event_id, pdu) = forge(
        a,
        &direct,
        &alice_id,
        "m.room.member",
        &frank_id,
        membership,
    )
    .await;
    let answer = invite_from_afar(a, e, &direct.id, (event_id, pdu), Vec::new()).await;
    refused(answer, "two people");
    assert!(invited_rooms(&frank).await.is_empty());
}

/// Synapse applies no access rules: what its users do against them in an Estafette room (the
/// direct conversation named, a third person invited) is rejected there, while what they do
/// within them, built on those events, is taken.
#[tokio::test]
async fn synapse_users_cannot_break_the_rules_of_an_estafette_room() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder()
        .federation()
        .configure(|config| config.policy.room_access_rules = true)
        .start()
        .await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    let (carol_id, _) = user(synapse.raw(), "carol").await;
    let dm = create_room(
        &alice,
        json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [bob_id],
               "initial_state": [rule("direct")]}),
    )
    .await;
    join_once_invited(&bob, &dm).await;
    let name_path = format!("/_matrix/client/v3/rooms/{dm}/state/m.room.name/");
    bob.put(&name_path, json!({"name": "Nommé quand même"}))
        .await
        .assert_ok();
    invite(&bob, &dm, &carol_id).await;
    send_text(&bob, &dm, "still-two", "Toujours à deux").await;
    eventually("Bob's message at Estafette", || async {
        messages(&alice, &dm)
            .await
            .contains(&"Toujours à deux".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(alice.get(&name_path).await.status, 404, "no name here");
    assert_eq!(membership_of(&alice, &dm, &carol_id).await, None);
    assert_eq!(
        joined_members(&alice, &dm).await,
        sorted([&alice_id, &bob_id])
    );
}
