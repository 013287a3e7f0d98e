//! The spec's exchange of email invitations between servers (`3pid/onbind` at the invitee's
//! server, `exchange_third_party_invite` at the inviter's) refuses what the identity service's
//! signature does not carry, and changes nothing when it does. (The exchange that works runs
//! in `federation_identity`: an external registering on their server gets the invite.)

use estafette_tests::{RawResponse, SmtpSink, TestServer};
use serde_json::{Value, json};

use crate::email_addresses::register_agent;
use crate::email_invitations::{invitation_tokens, invite_by_email};
use crate::federation_identity::federation_of_three;
use crate::identity_service::identity_token;
use crate::room_helpers::create_room;

async fn exchange(from: &TestServer, to: &TestServer, room: &str, body: Value) -> RawResponse {
    let path = format!("/_matrix/federation/v1/exchange_third_party_invite/{room}");
    let body = Some(body.to_string().into_bytes());
    from.federation_request(to, reqwest::Method::PUT, &path, body)
        .await
}

async fn on_bind(from: &TestServer, to: &TestServer, body: Value) -> RawResponse {
    let body = Some(body.to_string().into_bytes());
    from.federation_request(
        to,
        reqwest::Method::PUT,
        "/_matrix/federation/v1/3pid/onbind",
        body,
    )
    .await
}

/// The partial member event an invitee's server sends, its `signed` as given.
fn member(room: &str, sender: &str, invitee: &str, signed: Value) -> Value {
    json!({"room_id": room, "type": "m.room.member", "sender": sender, "state_key": invitee,
           "content": {"membership": "invite",
                       "third_party_invite": {"display_name": "", "signed": signed}}})
}

#[tokio::test]
async fn exchanges_without_the_identity_services_word_invite_nobody() {
    let sink = SmtpSink::start().await;
    let (servers, _rules) = federation_of_three(&sink, false).await;
    let (finances, interieur, externe) = (&servers[0], &servers[1], &servers[2]);
    let (alice_id, alice_token) =
        register_agent(&sink, &finances.raw(), "alice@finances.example").await;
    let alice = finances.raw().clone_with(&alice_token);
    let room = create_room(
        &alice,
        json!({"initial_state": [{"type": "im.vector.room.access_rules", "state_key": "",
                                  "content": {"rule": "unrestricted"}}]}),
    )
    .await;
    let token = identity_token(&alice, &alice_id, &finances.server_name()).await;
    let (status, errcode) =
        invite_by_email(finances, &alice, &token, &room, "guest@company.example").await;
    assert_eq!((status, errcode.as_str()), (200, ""));
    let invitation = invitation_tokens(&alice, &room).await.remove(0);
    let guest = format!("@guest:{}", externe.server_name());
    let signed = |mxid: &str, token: &str| {
        json!({"mxid": mxid, "sender": alice_id, "token": token,
               "signatures": {externe.server_name(): {"ed25519:0": "c2lnbmF0dXJl"}}})
    };

    // Only the invitee's server asks, for an inviter of this server, of a real invitation,
    // and the identity service's signature must hold.
    let forged = member(&room, &alice_id, &guest, signed(&guest, &invitation));
    exchange(interieur, finances, &room, forged.clone())
        .await
        .assert_error(403, "M_FORBIDDEN");
    exchange(externe, finances, &room, forged)
        .await
        .assert_error(403, "M_FORBIDDEN");
    let unknown = member(&room, &alice_id, &guest, signed(&guest, "no-such-token"));
    exchange(externe, finances, &room, unknown)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let someone = format!("@someone:{}", interieur.server_name());
    let elsewhere = member(&room, &someone, &guest, signed(&guest, &invitation));
    exchange(externe, finances, &room, elsewhere)
        .await
        .assert_error(403, "M_FORBIDDEN");
    let unsigned = json!({"type": "m.room.member", "sender": alice_id, "state_key": guest,
                          "content": {"membership": "invite"}});
    exchange(externe, finances, &room, unsigned)
        .await
        .assert_error(400, "M_BAD_JSON");

    // The invitee's server hears only of its own, existing accounts.
    let bound = |mxid: &str, invitee: &str| {
        json!({"medium": "email", "address": "guest@company.example", "mxid": mxid,
               "invites": [{"medium": "email", "address": "guest@company.example",
                            "mxid": invitee, "room_id": room, "sender": alice_id,
                            "signed": signed(invitee, &invitation)}]})
    };
    on_bind(finances, externe, bound(&guest, &guest))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let (agent_id, _) = register_agent(&sink, &interieur.raw(), "agent@interieur.example").await;
    on_bind(finances, interieur, bound(&agent_id, &guest))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    // A real account, a forged signature: the inviter's server refuses, nothing is invited.
    on_bind(finances, interieur, bound(&agent_id, &agent_id))
        .await
        .assert_error(403, "M_FORBIDDEN");

    let state = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"))
        .await;
    let members: Vec<&str> = state
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "m.room.member")
        .filter_map(|event| event["state_key"].as_str())
        .collect();
    assert_eq!(members, vec![alice_id.as_str()], "nobody was invited");
    assert_eq!(
        invitation_tokens(&alice, &room).await,
        vec![invitation],
        "the invitation still waits"
    );
}
