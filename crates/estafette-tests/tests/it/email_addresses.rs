//! What users do with the email address of their account (TCHAP.md §2): reset a forgotten
//! password through it, add and remove addresses (unless the operator locks them), and come
//! back to a deactivated account by registering again with its address. Emails go through a
//! real SMTP server; the links in them are followed as a person would.

use estafette_tests::{RawClient, SmtpSink, run_js_sdk};
use matrix_sdk::ruma::api::client::uiaa::{self, AuthData, UserIdentifier};
use matrix_sdk::ruma::thirdparty::Medium;
use matrix_sdk::ruma::{ClientSecret, UInt};
use serde_json::json;

use crate::registration_by_email::{
    REGISTRATION_TOKEN, ministry, ministry_configured, ministry_registering, register_body,
    request_token_at, validate, validate_at,
};

const RESET_TOKEN: &str = "/_matrix/client/v3/account/password/email/requestToken";
const ADD_TOKEN: &str = "/_matrix/client/v3/account/3pid/email/requestToken";
pub(crate) const PASSWORD: &str = "Str0ng-Passw0rd!";

/// Registers the owner of `email` on a server registering by email: their user ID and token.
pub(crate) async fn register_agent(
    sink: &SmtpSink,
    client: &RawClient,
    email: &str,
) -> (String, String) {
    let sid = validate(sink, client, email, "agent-secret").await;
    let challenge = client.post("/_matrix/client/v3/register", json!({})).await;
    let registered = client
        .post(
            "/_matrix/client/v3/register",
            register_body(&sid, "agent-secret", &challenge.body["session"]),
        )
        .await;
    registered.assert_ok();
    let user_id = registered.body["user_id"].as_str().unwrap().to_owned();
    let token = registered.body["access_token"].as_str().unwrap().to_owned();
    (user_id, token)
}

async fn login_by_email(client: &RawClient, email: &str, password: &str) -> u16 {
    client
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": password,
                   "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                  "address": email}}),
        )
        .await
        .status
}

fn reset_body(sid: &str, secret: &str, new_password: &str) -> serde_json::Value {
    json!({
        "new_password": new_password,
        "auth": {
            "type": "m.login.email.identity",
            "threepid_creds": {"sid": sid, "client_secret": secret},
        },
    })
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let client = server.raw();
    let email = "jean.martin@finances.example";
    let (_, token) = register_agent(&sink, &client, email).await;

    // Nobody has this address: no email goes out.
    let before = sink.received().len();
    client
        .post(
            RESET_TOKEN,
            json!({"client_secret": "r", "email": "nobody@finances.example", "send_attempt": 1}),
        )
        .await
        .assert_error(400, "M_THREEPID_NOT_FOUND");

    // Asking is not proving: before the link is followed, the password stays.
    let requested = request_token_at(&client, RESET_TOKEN, email, "reset", 1).await;
    let sid = requested["sid"].as_str().unwrap().to_owned();
    let unproven = client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "reset", "N3w-Passw0rd!!"),
        )
        .await;
    assert_eq!(unproven.status, 401, "{:?}", unproven.body);
    assert_eq!(
        unproven.body["flows"],
        json!([{"stages": ["m.login.email.identity"]}])
    );
    let message = sink.wait_for_after(email, 1).await;
    assert_eq!(
        sink.received().len(),
        before + 1,
        "only the owner was emailed"
    );
    assert_eq!(message.header("subject"), Some("Reset your password"));
    let link = message.first_link().expect("a link to follow");
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);

    // Another secret, or a weak password, changes nothing.
    client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "not-the-secret", "N3w-Passw0rd!!"),
        )
        .await
        .assert_error(401, "M_UNAUTHORIZED");
    client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "reset", "weak"),
        )
        .await
        .assert_error(400, "M_WEAK_PASSWORD");
    assert_eq!(login_by_email(&client, email, PASSWORD).await, 200);

    client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "reset", "N3w-Passw0rd!!"),
        )
        .await
        .assert_ok();
    assert_eq!(login_by_email(&client, email, PASSWORD).await, 403);
    assert_eq!(login_by_email(&client, email, "N3w-Passw0rd!!").await, 200);
    // Every device was signed out (logout_devices defaults to true).
    client
        .clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");

    // The link served once: replaying it resets nothing.
    let replayed = client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "reset", "Th1rd-Passw0rd!"),
        )
        .await;
    assert_eq!(replayed.status, 401, "{:?}", replayed.body);
    assert_eq!(login_by_email(&client, email, "N3w-Passw0rd!!").await, 200);
}

/// A validation made for another purpose resets no password: a registration's, say.
#[tokio::test]
async fn only_a_reset_validation_resets_a_password() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let client = server.raw();
    let (user_id, _) = register_agent(&sink, &client, "marie@finances.example").await;
    let sid = validate(&sink, &client, "paul@finances.example", "s").await;
    let refused = client
        .post(
            "/_matrix/client/v3/account/password",
            reset_body(&sid, "s", "N3w-Passw0rd!!"),
        )
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    let login = client
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "user": user_id, "password": PASSWORD}),
        )
        .await;
    login.assert_ok();
}

fn password_auth(user_id: &str, password: &str, session: Option<String>) -> AuthData {
    let identifier = UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user_id.to_owned()));
    let mut auth = uiaa::Password::new(identifier, password.to_owned());
    auth.session = session;
    AuthData::Password(auth)
}

#[tokio::test]
async fn users_add_and_remove_addresses_routed_to_their_server() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry(&sink).await;
    let raw = server.raw();
    let (alice_id, _, _) = raw.register("alice", PASSWORD).await;
    let alice = server.login("alice", PASSWORD).await;
    let account = alice.account();
    let capabilities = alice.homeserver_capabilities();
    assert!(capabilities.can_change_thirdparty_ids().await.unwrap());

    // The SDK asks for the email; the person follows its link.
    let secret = ClientSecret::new();
    let email = "alice@finances.example";
    let requested = account
        .request_3pid_email_token(&secret, email, UInt::from(1u32))
        .await
        .unwrap();
    let link = sink.wait_for(email).await.first_link().expect("a link");
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    let challenge = account
        .add_3pid(&secret, &requested.sid, None)
        .await
        .expect_err("adding an address re-authenticates");
    let session = challenge
        .as_uiaa_response()
        .and_then(|info| info.session.clone())
        .expect("a UIA session");
    let wrong = password_auth(&alice_id, "not-her-password", Some(session.clone()));
    assert!(
        account
            .add_3pid(&secret, &requested.sid, Some(wrong))
            .await
            .is_err()
    );
    assert!(account.get_3pids().await.unwrap().threepids.is_empty());
    account
        .add_3pid(
            &secret,
            &requested.sid,
            Some(password_auth(&alice_id, PASSWORD, Some(session))),
        )
        .await
        .expect("added");
    let threepids = account.get_3pids().await.unwrap().threepids;
    assert_eq!(threepids.len(), 1);
    assert_eq!(threepids[0].address, email);
    assert_eq!(threepids[0].medium, Medium::Email);
    assert_eq!(login_by_email(&raw, email, PASSWORD).await, 200);

    // The same validation adds nothing twice, not even to another account.
    let (bob_id, bob_token, _) = raw.register("bob", PASSWORD).await;
    let bob = raw.clone_with(&bob_token);
    let stolen = bob
        .post(
            "/_matrix/client/v3/account/3pid/add",
            json!({"client_secret": secret.as_str(), "sid": requested.sid.as_str(),
                   "auth": {"type": "m.login.password", "password": PASSWORD,
                            "identifier": {"type": "m.id.user", "user": bob_id}}}),
        )
        .await;
    assert_eq!(stolen.status, 401, "{:?}", stolen.body);

    // Bound to Alice; routed to another server; not one plain address.
    let ask = |email: &str| {
        bob.post(
            ADD_TOKEN,
            json!({"client_secret": "b", "email": email, "send_attempt": 1}),
        )
    };
    ask("Alice@finances.example")
        .await
        .assert_error(400, "M_THREEPID_IN_USE");
    ask("bob@company.example")
        .await
        .assert_error(403, "M_THREEPID_DENIED");
    ask("bob@finances.example, spy@evil.example")
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // Removing it: gone from the account, from logins and from lookups.
    account
        .delete_3pid(email, Medium::Email, None)
        .await
        .expect("removed");
    assert!(account.get_3pids().await.unwrap().threepids.is_empty());
    assert_eq!(login_by_email(&raw, email, PASSWORD).await, 403);
    bob.post(
        "/_matrix/client/v3/account/3pid/delete",
        json!({"medium": "email", "address": email}),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");
    // Free again, for Bob this time.
    let sid = validate_at(&sink, &bob, ADD_TOKEN, email, "b2").await;
    let added = bob
        .post(
            "/_matrix/client/v3/account/3pid/add",
            json!({"client_secret": "b2", "sid": sid,
                   "auth": {"type": "m.login.password", "password": PASSWORD,
                            "identifier": {"type": "m.id.user", "user": bob_id}}}),
        )
        .await;
    added.assert_ok();
    assert_eq!(
        bob.get("/_matrix/client/v3/account/3pid").await.body["threepids"][0]["address"],
        email
    );
}

#[tokio::test]
async fn locked_addresses_can_be_neither_added_nor_removed() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_configured(&sink, |config| {
        config.policy.email_registration = true;
        config.policy.lock_email = true;
    })
    .await;
    let client = server.raw();
    let email = "jean@finances.example";
    let (_, token) = register_agent(&sink, &client, email).await;
    let jean = client.clone_with(&token);
    let capabilities = jean.get("/_matrix/client/v3/capabilities").await;
    assert_eq!(
        capabilities.body["capabilities"]["m.3pid_changes"]["enabled"],
        false
    );
    let emails_before = sink.received().len();
    jean.post(
        ADD_TOKEN,
        json!({"client_secret": "j", "email": "jean2@finances.example", "send_attempt": 1}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    jean.post(
        "/_matrix/client/v3/account/3pid/add",
        json!({"client_secret": "j", "sid": "whatever"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    jean.post(
        "/_matrix/client/v3/account/3pid/delete",
        json!({"medium": "email", "address": email}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    assert_eq!(
        jean.get("/_matrix/client/v3/account/3pid").await.body["threepids"][0]["address"],
        email
    );
    assert_eq!(sink.received().len(), emails_before, "no email went out");
    // A forgotten password may still be reset.
    request_token_at(&client, RESET_TOKEN, email, "r", 1).await;
}

#[tokio::test]
async fn registering_again_with_the_address_of_a_deactivated_account_reactivates_it() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let client = server.raw();
    let email = "jean.martin@finances.example";
    let (user_id, token) = register_agent(&sink, &client, email).await;
    let jean = client.clone_with(&token);
    let room = jean
        .post("/_matrix/client/v3/createRoom", json!({"name": "Budget"}))
        .await;
    room.assert_ok();
    let deactivated = jean
        .post(
            "/_matrix/client/v3/account/deactivate",
            json!({"auth": {"type": "m.login.password", "password": PASSWORD,
                            "identifier": {"type": "m.id.user", "user": user_id}}}),
        )
        .await;
    deactivated.assert_ok();
    // Kept for the account to come back: not unbound.
    assert_eq!(deactivated.body["id_server_unbind_result"], "no-support");
    assert_eq!(login_by_email(&client, email, PASSWORD).await, 403);
    // Nobody resets the password of a deactivated account.
    client
        .post(
            RESET_TOKEN,
            json!({"client_secret": "r", "email": email, "send_attempt": 1}),
        )
        .await
        .assert_error(400, "M_THREEPID_NOT_FOUND");

    let sid = validate(&sink, &client, email, "again").await;
    let challenge = client.post("/_matrix/client/v3/register", json!({})).await;
    let mut body = register_body(&sid, "again", &challenge.body["session"]);
    body["password"] = json!("Ag41n-Passw0rd!");
    let again = client.post("/_matrix/client/v3/register", body).await;
    again.assert_ok();
    assert_eq!(again.body["user_id"], user_id.as_str(), "the same account");
    let jean = client.clone_with(again.body["access_token"].as_str().unwrap());
    let profile = jean
        .get(&format!("/_matrix/client/v3/profile/{user_id}"))
        .await;
    assert_eq!(profile.body["displayname"], "Jean Martin [Finances]");
    assert_eq!(login_by_email(&client, email, PASSWORD).await, 403);
    assert_eq!(login_by_email(&client, email, "Ag41n-Passw0rd!").await, 200);
    assert_eq!(
        jean.get("/_matrix/client/v3/account/3pid").await.body["threepids"][0]["address"],
        email
    );
    // It is active again: its address is in use.
    client
        .post(
            REGISTRATION_TOKEN,
            json!({"client_secret": "x", "email": email, "send_attempt": 1}),
        )
        .await
        .assert_error(400, "M_THREEPID_IN_USE");
}

/// Without registration by email, a deactivated account's address is released for others.
#[tokio::test]
async fn a_deactivated_account_releases_its_address_when_accounts_are_not_email_based() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry(&sink).await;
    let raw = server.raw();
    let (alice_id, alice_token, _) = raw.register("alice", PASSWORD).await;
    let alice = raw.clone_with(&alice_token);
    let email = "shared@finances.example";
    let sid = validate_at(&sink, &alice, ADD_TOKEN, email, "a").await;
    let password = json!({"type": "m.login.password", "password": PASSWORD,
                          "identifier": {"type": "m.id.user", "user": alice_id}});
    alice
        .post(
            "/_matrix/client/v3/account/3pid/add",
            json!({"client_secret": "a", "sid": sid, "auth": password}),
        )
        .await
        .assert_ok();
    let deactivated = alice
        .post(
            "/_matrix/client/v3/account/deactivate",
            json!({"auth": password}),
        )
        .await;
    deactivated.assert_ok();
    assert_eq!(deactivated.body["id_server_unbind_result"], "success");
    let (_, bob_token, _) = raw.register("bob", PASSWORD).await;
    let bob = raw.clone_with(&bob_token);
    request_token_at(&bob, ADD_TOKEN, email, "b", 1).await;
    let info = raw
        .get(&format!(
            "/_matrix/identity/api/v1/info?medium=email&address={email}"
        ))
        .await;
    assert_eq!(info.body["hs"], server.server_name());
    assert!(info.body.get("new_hs").is_none(), "{:?}", info.body);
}

/// Element Web's library through every email flow: registering with a validated address,
/// resetting the forgotten password, adding a second address and removing it.
#[tokio::test]
async fn element_web_s_library_registers_resets_and_manages_addresses_by_email() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let base = server.base_url();
    let email = "jean.martin@finances.example";
    let step = |input: serde_json::Value| {
        let mut input = input;
        input["baseUrl"] = json!(base);
        run_js_sdk("email", input)
    };
    // The person follows the link of the latest email to `address`.
    let follow = async |address: &str, already: usize| {
        let link = sink
            .wait_for_after(address, already)
            .await
            .first_link()
            .expect("a link");
        assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    };

    let asked = step(
        json!({"step": "request", "purpose": "register", "email": email,
                             "secret": "reg"}),
    )
    .await;
    assert!(asked["submitUrl"].as_str().unwrap().starts_with(&base));
    follow(email, 0).await;
    let registered = step(
        json!({"step": "register", "sid": asked["sid"], "secret": "reg",
                                  "password": PASSWORD}),
    )
    .await;
    let user_id = format!("@jean.martin-finances.example:{}", server.server_name());
    assert_eq!(registered["userId"], user_id.as_str());

    let asked = step(
        json!({"step": "request", "purpose": "password", "email": email,
                             "secret": "pw"}),
    )
    .await;
    follow(email, 1).await;
    let new_password = "N3w-Passw0rd!!";
    step(json!({"step": "reset", "sid": asked["sid"], "secret": "pw",
                "password": new_password}))
    .await;
    let raw = server.raw();
    assert_eq!(login_by_email(&raw, email, PASSWORD).await, 403);

    let second = "jean.second@finances.example";
    let asked = step(json!({"step": "request", "purpose": "add", "email": second,
                             "secret": "add"}))
    .await;
    follow(second, 0).await;
    let managed = step(json!({"step": "add", "sid": asked["sid"], "secret": "add",
                               "email": second, "loginEmail": email,
                               "password": new_password}))
    .await;
    assert_eq!(managed["userId"], user_id.as_str());
    assert_eq!(managed["added"], json!([email, second]));
    assert_eq!(managed["kept"], json!([email]));
    assert_eq!(managed["changesAllowed"], true);
}
