//! Invitations to rooms sent to email addresses (TCHAP.md §3), on one server: the room gets an
//! `m.room.third_party_invite`, the address an email with a link; an external (whose address
//! needs an invitation) registers only once invited, and the invitation waits for them as an
//! invite signed by the identity service; revoked or expired invitations invite nobody.

use std::time::Duration;

use estafette_tests::{RawClient, SmtpSink, TestServer, run_js_sdk};
use serde_json::json;

use crate::email_addresses::{PASSWORD, register_agent};
use crate::identity_service::identity_token;
use crate::registration_by_email::{REGISTRATION_TOKEN, ministry_registering, wait_for_route};
use crate::room_helpers::{create_room, invited_rooms};

const DAY: u64 = 24 * 60 * 60 * 1000;

/// A ministry registering by email whose rules also take externals' addresses, by invitation.
async fn ministry_with_externals(sink: &SmtpSink) -> (TestServer, tempfile::TempDir) {
    let (server, rules) = ministry_registering(sink, true).await;
    let name = server.server_name();
    std::fs::write(
        rules.path().join("routing.toml"),
        format!(
            "[[rule]]\npattern = \"[^@]+@finances\\\\.example\"\nhs = \"{name}\"\n\
             [[rule]]\npattern = \".*\"\nhs = \"{name}\"\nrequires_invite = true\n"
        ),
    )
    .unwrap();
    wait_for_route(&server, "x@company.example").await;
    (server, rules)
}

/// Alice and Bob, agents of a ministry with externals, and a room of Alice's.
struct AliceAndBob {
    server: TestServer,
    _rules: tempfile::TempDir,
    alice_id: String,
    alice: RawClient,
    bob_id: String,
    bob: RawClient,
    room: String,
    /// Alice's token at the identity service.
    identity_token: String,
}

async fn alice_and_bob(sink: &SmtpSink) -> AliceAndBob {
    let (server, rules) = ministry_with_externals(sink).await;
    let client = server.raw();
    let (alice_id, alice_token) = register_agent(sink, &client, "alice@finances.example").await;
    let (bob_id, bob_token) = register_agent(sink, &client, "bob@finances.example").await;
    let alice = client.clone_with(&alice_token);
    let room = create_room(&alice, json!({})).await;
    let identity_token = identity_token(&alice, &alice_id, &server.server_name()).await;
    AliceAndBob {
        _rules: rules,
        alice_id,
        alice,
        bob_id,
        bob: client.clone_with(&bob_token),
        room,
        identity_token,
        server,
    }
}

/// Invites `address` to `room` by email, as Element does: `(status, errcode)`.
pub(crate) async fn invite_by_email(
    server: &TestServer,
    inviter: &RawClient,
    identity_token: &str,
    room: &str,
    address: &str,
) -> (u16, String) {
    let id_server = server.base_url().trim_start_matches("http://").to_owned();
    let response = inviter
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"id_server": id_server, "id_access_token": identity_token,
                   "medium": "email", "address": address}),
        )
        .await;
    (response.status, response.errcode().to_owned())
}

/// The state keys (tokens) of the room's email invitations.
pub(crate) async fn invitation_tokens(client: &RawClient, room: &str) -> Vec<String> {
    let state = client
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"))
        .await;
    state
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "m.room.third_party_invite")
        .filter_map(|event| event["state_key"].as_str().map(ToOwned::to_owned))
        .collect()
}

/// Revokes an email invitation as a client does: its event emptied.
async fn revoke(client: &RawClient, room: &str, token: &str) {
    client
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.third_party_invite/{token}"),
            json!({}),
        )
        .await
        .assert_ok();
}

#[tokio::test]
async fn an_external_registers_once_invited_and_finds_the_invite_waiting() {
    let sink = SmtpSink::start().await;
    let AliceAndBob {
        server,
        alice_id,
        alice,
        bob_id,
        bob,
        room,
        identity_token: token,
        _rules,
    } = alice_and_bob(&sink).await;
    let client = server.raw();

    // Not invited yet: no registration, and no email.
    let external = "partner@company.example";
    let ask = |secret: &str| {
        client.post(
            REGISTRATION_TOKEN,
            json!({"client_secret": secret, "email": external, "send_attempt": 1}),
        )
    };
    ask("early").await.assert_error(403, "M_THREEPID_DENIED");
    assert_eq!(sink.count_to(external), 0);

    // Another's identity token, or another identity server, invites nobody.
    let bob_identity = identity_token(&bob, &bob_id, &server.server_name()).await;
    assert_eq!(
        invite_by_email(&server, &alice, &bob_identity, &room, external).await,
        (403, "M_FORBIDDEN".to_owned())
    );
    let foreign = alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"id_server": "vector.im", "id_access_token": token,
                   "medium": "email", "address": external}),
        )
        .await;
    foreign.assert_error(403, "M_FORBIDDEN");

    assert_eq!(
        invite_by_email(&server, &alice, &token, &room, external).await,
        (200, String::new())
    );
    let state = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"))
        .await;
    let third_party = state
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "m.room.third_party_invite")
        .expect("the room holds the invitation")
        .clone();
    assert_eq!(
        third_party["content"]["display_name"],
        "par…@company.example"
    );
    assert!(
        third_party["content"]["public_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    let email = sink.wait_for(external).await;
    let link = email.first_link().expect("a link");
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&alice_id) && page.contains(&server.server_name()),
        "{page}"
    );

    // Invited: the external registers, and the invite waits in their first sync.
    let (partner_id, partner_token) = register_agent(&sink, &client, external).await;
    let partner = client.clone_with(&partner_token);
    assert_eq!(invited_rooms(&partner).await, vec![room.clone()]);
    let member = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/state/m.room.member/{partner_id}"
        ))
        .await;
    assert_eq!(member.body["membership"], "invite");
    assert_eq!(
        member.body["third_party_invite"]["signed"]["mxid"],
        partner_id.as_str()
    );
    partner
        .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    // Taken up: the link now says so.
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 404);
}

#[tokio::test]
async fn revoked_or_expired_invitations_invite_nobody() {
    let sink = SmtpSink::start().await;
    let AliceAndBob {
        server,
        alice,
        room,
        identity_token: token,
        _rules,
        ..
    } = alice_and_bob(&sink).await;
    let client = server.raw();

    // Revoked: the inviter empties the event; the external may no longer register.
    let revoked = "revoked@company.example";
    invite_by_email(&server, &alice, &token, &room, revoked).await;
    let revoked_token = invitation_tokens(&alice, &room).await.remove(0);
    revoke(&alice, &room, &revoked_token).await;
    client
        .post(
            REGISTRATION_TOKEN,
            json!({"client_secret": "r", "email": revoked, "send_attempt": 1}),
        )
        .await
        .assert_error(403, "M_THREEPID_DENIED");

    // An agent invited then revoked registers (agents need no invitation) and is not invited.
    let agent = "paul@finances.example";
    invite_by_email(&server, &alice, &token, &room, agent).await;
    let paul_token = invitation_tokens(&alice, &room)
        .await
        .into_iter()
        .find(|token| *token != revoked_token)
        .unwrap();
    revoke(&alice, &room, &paul_token).await;
    let (_, paul_token) = register_agent(&sink, &client, agent).await;
    assert!(
        invited_rooms(&client.clone_with(&paul_token))
            .await
            .is_empty()
    );

    // Expired: a week on, the invitation is gone.
    let late = "late@company.example";
    invite_by_email(&server, &alice, &token, &room, late).await;
    server.advance_clock(8 * DAY);
    client
        .post(
            REGISTRATION_TOKEN,
            json!({"client_secret": "l", "email": late, "send_attempt": 1}),
        )
        .await
        .assert_error(403, "M_THREEPID_DENIED");
}

/// An address already bound to an account invites that account directly.
#[tokio::test]
async fn inviting_the_address_of_an_account_invites_the_account() {
    let sink = SmtpSink::start().await;
    let AliceAndBob {
        server,
        alice,
        bob,
        room,
        identity_token,
        _rules,
        ..
    } = alice_and_bob(&sink).await;
    let emails_before = sink.received().len();
    assert_eq!(
        invite_by_email(
            &server,
            &alice,
            &identity_token,
            &room,
            "Bob@finances.example"
        )
        .await,
        (200, String::new())
    );
    assert_eq!(invited_rooms(&bob).await, vec![room]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.received().len(),
        emails_before,
        "no email: Bob is here already"
    );
}

/// A homeserver using this identity service (as Synapse does any identity server) stores the
/// invitation there and puts the room's event itself; registering the address takes it up.
#[tokio::test]
async fn an_invitation_stored_at_the_identity_service_reaches_its_invitee() {
    let sink = SmtpSink::start().await;
    let AliceAndBob {
        server,
        alice_id,
        alice,
        bob_id,
        room,
        identity_token,
        _rules,
        ..
    } = alice_and_bob(&sink).await;
    let client = server.raw();
    let identity = client.clone_with(&identity_token);
    let store = |address: &str, sender: &str| {
        let body = json!({"medium": "email", "address": address, "room_id": room,
                          "sender": sender, "room_name": "Budget"});
        let identity = identity.clone();
        async move {
            identity
                .post("/_matrix/identity/v2/store-invite", body)
                .await
        }
    };
    let external = "guest@company.example";

    // Refused: without the identity service's token, for someone else, for a bound address.
    client
        .post(
            "/_matrix/identity/v2/store-invite",
            json!({"medium": "email", "address": external, "room_id": room, "sender": alice_id}),
        )
        .await
        .assert_error(401, "M_UNAUTHORIZED");
    store(external, &bob_id)
        .await
        .assert_error(403, "M_FORBIDDEN");
    store("bob@finances.example", &alice_id)
        .await
        .assert_error(400, "M_THREEPID_IN_USE");
    assert!(
        sink.received()
            .iter()
            .all(|mail| !mail.recipients.iter().any(|to| to == external)),
        "no email for a refused invitation"
    );

    let stored = store(external, &alice_id).await;
    stored.assert_ok();
    let invitation = stored.body["token"].as_str().unwrap().to_owned();
    let keys = stored.body["public_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{}", stored.body);
    let validity = reqwest::Url::parse_with_params(
        keys[0]["key_validity_url"].as_str().unwrap(),
        [("public_key", keys[0]["public_key"].as_str().unwrap())],
    )
    .unwrap();
    let validity = reqwest::get(validity).await.unwrap();
    let validity: serde_json::Value = validity.json().await.unwrap();
    assert_eq!(validity["valid"], true, "the key checks out where it says");
    let display_name = stored.body["display_name"].as_str().unwrap();
    assert!(!display_name.contains("guest@"), "{display_name}");
    sink.wait_for(external).await;

    // The homeserver's part: the room's event, named by the token.
    alice
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.third_party_invite/{invitation}"
            ),
            json!({"display_name": display_name, "public_keys": keys,
                   "public_key": keys[0]["public_key"],
                   "key_validity_url": keys[0]["key_validity_url"]}),
        )
        .await
        .assert_ok();
    let (partner_id, partner_token) = register_agent(&sink, &client, external).await;
    let partner = client.clone_with(&partner_token);
    assert_eq!(invited_rooms(&partner).await, vec![room.clone()]);
    let member = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/state/m.room.member/{partner_id}"
        ))
        .await;
    assert_eq!(
        member.body["third_party_invite"]["signed"]["token"],
        invitation
    );
}

/// Element's invite dialog (matrix-js-sdk's `inviteByEmail`, with the identity service's
/// token): a bound address invites its account, another gets an email and waits.
#[tokio::test]
async fn element_invites_by_email_through_its_identity_server() {
    let sink = SmtpSink::start().await;
    let AliceAndBob {
        server,
        alice_id,
        bob_id,
        bob,
        _rules,
        ..
    } = alice_and_bob(&sink).await;
    let external = "guest@company.example";
    let out = run_js_sdk(
        "identity",
        json!({"baseUrl": server.base_url(), "user": alice_id, "password": PASSWORD,
               "step": "invite", "addresses": ["bob@finances.example", external]}),
    )
    .await;
    let room = out["roomId"].as_str().unwrap().to_owned();
    assert_eq!(out["invited"], json!([bob_id]), "{out}");
    assert_eq!(out["invitations"], json!(["gue…@company.example"]), "{out}");
    assert!(invited_rooms(&bob).await.contains(&room));
    sink.wait_for(external).await;
    let client = server.raw();
    let (_, guest_token) = register_agent(&sink, &client, external).await;
    assert_eq!(
        invited_rooms(&client.clone_with(&guest_token)).await,
        vec![room]
    );
}
