//! The identity layer across a closed federation of three Estafettes (TCHAP.md §1–3, §6): two
//! ministries and the externals' server, one rules file, one SMTP server. An agent registers
//! only where their address routes; an external registers only once an agent of another server
//! invited their address, and the invitation reaches their new account across servers; an
//! address bound at another ministry invites its account directly; `info` answers alike; an
//! account expires a year on unless renewed through its email.

use std::time::Duration;

use estafette_tests::{RawClient, SmtpSink, TestServer, login_at};
use matrix_sdk::ruma::api::client::membership::Invite3pidInit;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::thirdparty::Medium;
use serde_json::json;
use serde_json::value::to_raw_value;

use crate::account_validity::{renewal_emails, wait_for_renewals};
use crate::email_addresses::{PASSWORD, register_agent};
use crate::identity_service::identity_token;
use crate::registration_by_email::REGISTRATION_TOKEN;
use crate::room_helpers::{create_room, eventually, invited_rooms};

const DAY: u64 = 24 * 60 * 60 * 1000;

/// Finances, interieur and the externals' server under one set of rules, registering by email,
/// in a closed federation (`allowed_servers`) or an open one where the rules name the servers;
/// accounts expire after 395 days unless renewed.
pub(crate) async fn federation_of_three(
    sink: &SmtpSink,
    closed: bool,
) -> (Vec<TestServer>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.toml");
    std::fs::write(&rules, "").unwrap();
    let url = sink.url();
    let start = || {
        let (rules, url) = (rules.clone(), url.clone());
        TestServer::builder()
            .federation()
            .configure(move |config| {
                config.policy.routing_file = Some(rules);
                config.policy.email_registration = true;
                config.policy.room_access_rules = true;
                config.email.smtp_url = Some(url);
                config.email.from = "Estafette <noreply@example.org>".to_owned();
                let validity = &mut config.account_validity;
                validity.enabled = true;
                validity.period_days = 395;
                validity.renewal_email_days_before = 60;
                validity.grace_period_days = 120;
                validity.check_interval_secs = 1;
            })
            .start()
    };
    let first = (start().await, start().await, start().await);
    let names: Vec<String> = [&first.0, &first.1, &first.2]
        .iter()
        .map(|server| server.server_name())
        .collect();
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\npattern = \"[^@]+@finances\\\\.example\"\nhs = \"{}\"\n\
             [[rule]]\npattern = \"[^@]+@interieur\\\\.example\"\nhs = \"{}\"\n\
             [[rule]]\npattern = \".*\"\nhs = \"{}\"\nrequires_invite = true\n",
            names[0], names[1], names[2]
        ),
    )
    .unwrap();
    let mut servers = Vec::new();
    for server in [first.0, first.1, first.2] {
        let federation = if closed { names.clone() } else { Vec::new() };
        let externals = vec![names[2].clone()];
        let stopped = server.go_offline().await;
        let restart = stopped.configure(move |config| {
            config.federation.allowed_servers = federation.into_iter().map(Into::into).collect();
            config.policy.external_servers = externals;
        });
        servers.push(restart.start().await);
    }
    (servers, dir)
}

async fn info(client: &RawClient, address: &str) -> serde_json::Value {
    let response = client
        .get(&format!(
            "/_matrix/identity/api/v1/info?medium=email&address={address}"
        ))
        .await;
    response.assert_ok();
    response.body
}

/// The rooms `client` is invited to, once an invite on its way has arrived.
async fn invites_arrived(client: &RawClient) -> Vec<String> {
    eventually("an invite", || async {
        let rooms = invited_rooms(client).await;
        (!rooms.is_empty()).then_some(rooms)
    })
    .await
}

#[tokio::test]
async fn agents_register_at_home_and_externals_once_invited_in_a_closed_federation() {
    agents_at_home_and_externals_by_invitation(true).await;
}

#[tokio::test]
async fn agents_register_at_home_and_externals_once_invited_in_an_open_federation() {
    agents_at_home_and_externals_by_invitation(false).await;
}

async fn agents_at_home_and_externals_by_invitation(closed: bool) {
    let sink = SmtpSink::start().await;
    let (servers, _rules) = federation_of_three(&sink, closed).await;
    let (finances, interieur, externe) = (&servers[0], &servers[1], &servers[2]);
    let ask = |server: &TestServer, email: &str| {
        let client = server.raw();
        let body = json!({"client_secret": "early", "email": email, "send_attempt": 1});
        async move { client.post(REGISTRATION_TOKEN, body).await }
    };

    // Each agent registers at home only; the answer is the same on every server.
    let bob = "bob@interieur.example";
    ask(finances, bob)
        .await
        .assert_error(403, "M_THREEPID_DENIED");
    for address in ["alice@finances.example", bob, "partner@company.example"] {
        let mut answers = Vec::new();
        for server in [finances, interieur, externe] {
            answers.push(info(&server.raw(), address).await);
        }
        assert!(
            answers.windows(2).all(|pair| pair[0] == pair[1]),
            "{answers:?}"
        );
    }
    let (alice_id, alice_token) =
        register_agent(&sink, &finances.raw(), "alice@finances.example").await;
    let (_, bob_token) = register_agent(&sink, &interieur.raw(), bob).await;

    // The external is invited by nobody yet: no registration anywhere.
    let external = "partner@company.example";
    ask(externe, external)
        .await
        .assert_error(403, "M_THREEPID_DENIED");

    // Alice invites with matrix-sdk; the identity service's token (an API the SDK lacks)
    // over raw HTTP.
    let alice = finances.raw().clone_with(&alice_token);
    let alice_sdk = login_at(&finances.base_url(), &alice_id, PASSWORD).await;
    let mut creation = create_room::v3::Request::new();
    creation.name = Some("Budget 2027".to_owned());
    // Open to externals, as a room an agent invites a partner to is.
    let rule = json!({"type": "im.vector.room.access_rules", "state_key": "",
                      "content": {"rule": "unrestricted"}});
    creation.initial_state = vec![Raw::from_json(to_raw_value(&rule).unwrap())];
    let sdk_room = alice_sdk.create_room(creation).await.expect("a room");
    let room = sdk_room.room_id().to_string();
    let token = identity_token(&alice, &alice_id, &finances.server_name()).await;
    let id_server = finances.base_url().trim_start_matches("http://").to_owned();
    let invite = |address: &str| {
        let invite = Invite3pidInit {
            id_server: id_server.clone(),
            id_access_token: token.clone(),
            medium: Medium::Email,
            address: address.to_owned(),
        };
        sdk_room.invite_user_by_3pid(invite.into())
    };

    // An address bound at the other ministry invites its account there.
    invite(bob).await.expect("invited");
    let bob_client = interieur.raw().clone_with(&bob_token);
    assert_eq!(invites_arrived(&bob_client).await, vec![room.clone()]);

    // The external's address: an email, then registration at the externals' server, where the
    // invitation waits.
    // A restricted room (the default) invites no external's address.
    let restricted = create_room(&alice, json!({"name": "Agents only"})).await;
    let refused = alice
        .post(
            &format!("/_matrix/client/v3/rooms/{restricted}/invite"),
            json!({"id_server": id_server, "id_access_token": token,
                   "medium": "email", "address": external}),
        )
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    assert_eq!(
        sink.count_to(external),
        0,
        "no email for a refused invitation"
    );
    invite(external).await.expect("invited");
    sink.wait_for(external).await;
    let (partner_id, partner_token) = register_agent(&sink, &externe.raw(), external).await;
    assert!(partner_id.ends_with(&format!(":{}", externe.server_name())));
    let partner = externe.raw().clone_with(&partner_token);
    assert_eq!(invites_arrived(&partner).await, vec![room.clone()]);
    partner
        .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let mut joined = false;
    for _ in 0..50 {
        let member = alice
            .get(&format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{partner_id}"
            ))
            .await;
        if member.body["membership"] == "join" {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined, "the external is in the room, as its host sees it");

    // A year on at the externals' server, the external's account expires unless renewed
    // through the link of the renewal email.
    let whoami = "/_matrix/client/v3/account/whoami";
    externe.advance_clock(336 * DAY);
    wait_for_renewals(&sink, external, 1).await;
    partner.get(whoami).await.assert_ok();
    externe.advance_clock(60 * DAY);
    partner
        .get(whoami)
        .await
        .assert_error(403, "ORG_MATRIX_EXPIRED_ACCOUNT");
    let link = renewal_emails(&sink, external)[0].first_link().unwrap();
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    partner.get(whoami).await.assert_ok();

    // Nobody else may claim the address: a binding announced by a server the rules do not
    // send it to changes nothing.
    let claim = interieur
        .federation_request(
            finances,
            reqwest::Method::POST,
            "/_matrix/identity/unstable/estafette/bound",
            Some(
                json!({"medium": "email", "address": "other@company.example",
                       "mxid": format!("@spy:{}", interieur.server_name())})
                .to_string()
                .into_bytes(),
            ),
        )
        .await;
    claim.assert_error(403, "M_FORBIDDEN");
    // A server outside the federation (no rule names it, and in a closed federation it is not
    // allowed at all) learns nothing of who holds an address.
    let outsider = TestServer::builder().federation().start().await;
    let asked = outsider
        .federation_request(
            finances,
            reqwest::Method::GET,
            "/_matrix/identity/api/v1/internal-info?medium=email&address=alice@finances.example",
            None,
        )
        .await;
    asked.assert_error(403, "M_FORBIDDEN");
}
