//! Validating an email address before registering (TCHAP.md §2): the server emails a token
//! (through a real SMTP server) only to addresses its rules send to it, the link in the email
//! validates the session once, and wrong, foreign or replayed submissions change nothing.

use std::time::Duration;

use estafette::service::ValidationPurpose;
use estafette_tests::{RawClient, SmtpSink, TestServer};
use serde_json::json;

/// A ministry's server: its rules send `@finances.example` to it, everything else to the
/// externals' server (by invitation only).
pub(crate) async fn ministry(sink: &SmtpSink) -> (TestServer, tempfile::TempDir) {
    ministry_registering(sink, false).await
}

/// [`ministry`], with registration by email only when `by_email`, and Tchap's password policy.
pub(crate) async fn ministry_registering(
    sink: &SmtpSink,
    by_email: bool,
) -> (TestServer, tempfile::TempDir) {
    ministry_configured(sink, move |config| {
        config.policy.email_registration = by_email
    })
    .await
}

/// [`ministry`], configured further by `change`.
pub(crate) async fn ministry_configured(
    sink: &SmtpSink,
    change: impl FnOnce(&mut estafette::core::Config) + 'static,
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.toml");
    std::fs::write(&rules, "").unwrap();
    let (path, url) = (rules.clone(), sink.url());
    let server = TestServer::builder()
        .configure(move |config| {
            config.policy.routing_file = Some(path);
            config.policy.external_servers = vec!["agent.externe.example".to_owned()];
            config.email.smtp_url = Some(url);
            config.email.from = "Ministère <noreply@finances.example>".to_owned();
            config.auth.password_min_length = 12;
            config.auth.password_require_all_classes = true;
            change(config);
        })
        .start()
        .await;
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\npattern = \"[^@]+@finances\\\\.example\"\nhs = \"{}\"\n",
            server.server_name()
        ),
    )
    .unwrap();
    wait_for_route(&server, "a@finances.example").await;
    (server, dir)
}

/// Waits for the server to read its rules again (within a second of their change) and route
/// `address` to itself.
pub(crate) async fn wait_for_route(server: &TestServer, address: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let path = format!("/_matrix/identity/api/v1/info?medium=email&address={address}");
    loop {
        let info = server.raw().get(&path).await;
        if info.body["hs"] == server.server_name() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "rules never read");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where a validation email is asked for before registering.
pub(crate) const REGISTRATION_TOKEN: &str = "/_matrix/client/v3/register/email/requestToken";

async fn request_token(
    client: &RawClient,
    email: &str,
    secret: &str,
    attempt: u32,
) -> serde_json::Value {
    request_token_at(client, REGISTRATION_TOKEN, email, secret, attempt).await
}

/// Asks `path` (a `…/email/requestToken`) for a validation email.
pub(crate) async fn request_token_at(
    client: &RawClient,
    path: &str,
    email: &str,
    secret: &str,
    attempt: u32,
) -> serde_json::Value {
    let response = client
        .post(
            path,
            json!({"client_secret": secret, "email": email, "send_attempt": attempt}),
        )
        .await;
    response.assert_ok();
    response.body
}

#[tokio::test]
async fn an_address_routed_here_is_validated_by_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry(&sink).await;
    let client = server.raw();

    let requested = request_token(&client, "Jean.Martin@finances.example", "s3cret", 1).await;
    let sid = requested["sid"].as_str().unwrap().to_owned();
    let submit_url = requested["submit_url"].as_str().unwrap().to_owned();
    let email = sink.wait_for("jean.martin@finances.example").await;
    let link = email.first_link().expect("a link to follow");
    assert!(
        link.starts_with(&format!("{submit_url}?")),
        "{link} under {submit_url}"
    );
    assert!(link.contains(&format!("sid={sid}")), "{link}");

    // The same attempt again: the same session, and no second email.
    let again = request_token(&client, "jean.martin@finances.example", "s3cret", 1).await;
    assert_eq!(again["sid"], sid.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 1, "one email per attempt");

    let validations = &server.services().threepid_validation;
    let purpose = ValidationPurpose::Registration;
    assert!(
        validations
            .validated_address(&sid, "s3cret", purpose)
            .await
            .is_err()
    );

    // Wrong and foreign submissions change nothing.
    let token = link.split("token=").nth(1).unwrap().to_owned();
    for (secret, token) in [
        ("s3cret", "not-the-token"),
        ("another-secret", token.as_str()),
    ] {
        client
            .post(
                &submit_url.replace(&server.base_url(), ""),
                json!({"sid": sid, "client_secret": secret, "token": token}),
            )
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
    assert!(
        validations
            .validated_address(&sid, "s3cret", purpose)
            .await
            .is_err()
    );

    // The person follows the link in the email.
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("validated"));
    let address = validations
        .validated_address(&sid, "s3cret", purpose)
        .await
        .expect("validated");
    assert_eq!(address.as_str(), "jean.martin@finances.example");
    assert!(
        validations
            .validated_address(&sid, "s3cret", ValidationPurpose::PasswordReset)
            .await
            .is_err(),
        "for registration only"
    );
}

#[tokio::test]
async fn addresses_that_may_not_register_here_get_no_email() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry(&sink).await;
    let client = server.raw();
    let request = |email: &str| {
        client.post(
            "/_matrix/client/v3/register/email/requestToken",
            json!({"client_secret": "s3cret", "email": email, "send_attempt": 1}),
        )
    };
    // Routed to the externals' server, or elsewhere by an anchored rule.
    for denied in [
        "partner@company.example",
        "jean@finances.example.evil.example",
    ] {
        let response = request(denied).await;
        response.assert_error(403, "M_THREEPID_DENIED");
        let message = response.body["error"].as_str().unwrap_or_default();
        assert!(message.contains("not authorized to register"), "{message}");
    }
    for malformed in [
        "jean@finances.example, spy@evil.example",
        "\"spy@evil.example\"@finances.example",
        "Jean <jean@finances.example>",
        "jean@finances.example\r\nBcc: spy@evil.example",
        "jéan@finances.example",
    ] {
        request(malformed)
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
    // An address already bound to an account.
    let (alice_id, _, _) = client.register("alice", "Alice's password 1").await;
    let alice = ruma::UserId::parse(&alice_id).unwrap();
    let bound = estafette::storage::Threepid {
        medium: "email".to_owned(),
        address: "alice@finances.example".to_owned(),
        validated_ts: 1,
        added_ts: 1,
    };
    let threepids = &server.services().context.storage.threepids;
    threepids.bind(&alice, &bound).await.unwrap();
    request("Alice@finances.example")
        .await
        .assert_error(400, "M_THREEPID_IN_USE");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.received().is_empty(), "{:?}", sink.received());

    // A server that sends no email validates nothing.
    let mute = TestServer::start().await;
    mute.raw()
        .post(
            "/_matrix/client/v3/register/email/requestToken",
            json!({"client_secret": "s3cret", "email": "a@b.example", "send_attempt": 1}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
}

/// Validates `email` for registration with `secret`: the session's ID.
pub(crate) async fn validate(
    sink: &SmtpSink,
    client: &RawClient,
    email: &str,
    secret: &str,
) -> String {
    validate_at(sink, client, REGISTRATION_TOKEN, email, secret).await
}

/// Validates `email` through `path` (a `…/email/requestToken`), following the emailed link.
pub(crate) async fn validate_at(
    sink: &SmtpSink,
    client: &RawClient,
    path: &str,
    email: &str,
    secret: &str,
) -> String {
    let address = email.to_ascii_lowercase();
    let already = sink.count_to(&address);
    let requested = request_token_at(client, path, email, secret, 1).await;
    let link = sink
        .wait_for_after(&address, already)
        .await
        .first_link()
        .expect("a link");
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    requested["sid"].as_str().unwrap().to_owned()
}

pub(crate) fn register_body(
    sid: &str,
    secret: &str,
    session: &serde_json::Value,
) -> serde_json::Value {
    json!({
        "username": "ignored",
        "password": "Str0ng-Passw0rd!",
        "auth": {
            "type": "m.login.email.identity",
            "threepid_creds": {"sid": sid, "client_secret": secret},
            "session": session,
        },
    })
}

#[tokio::test]
async fn agents_register_with_a_validated_address_and_are_named_after_it() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let client = server.raw();
    let name = server.server_name().to_owned();

    // Only the email stage is offered, and weak passwords are refused before it.
    let weak = client
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "x", "password": "weakpassword"}),
        )
        .await;
    weak.assert_error(400, "M_WEAK_PASSWORD");
    let challenge = client
        .post(
            "/_matrix/client/v3/register",
            json!({"password": "Str0ng-Passw0rd!"}),
        )
        .await;
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge.body["flows"],
        json!([{"stages": ["m.login.email.identity"]}])
    );
    let session = challenge.body["session"].clone();

    // Credentials of a session not validated yet, or under another secret, do not register.
    let pending = request_token(&client, "jean.martin@finances.example", "s3cret", 1).await;
    let pending_sid = pending["sid"].as_str().unwrap();
    let refused = client
        .post(
            "/_matrix/client/v3/register",
            register_body(pending_sid, "s3cret", &session),
        )
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert!(
        refused.body["completed"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );

    let link = sink
        .wait_for("jean.martin@finances.example")
        .await
        .first_link()
        .unwrap();
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    let foreign = client
        .post(
            "/_matrix/client/v3/register",
            register_body(pending_sid, "another-secret", &session),
        )
        .await;
    assert_eq!(foreign.status, 401);

    let registered = client
        .post(
            "/_matrix/client/v3/register",
            register_body(pending_sid, "s3cret", &session),
        )
        .await;
    registered.assert_ok();
    let user_id = format!("@jean.martin-finances.example:{name}");
    assert_eq!(registered.body["user_id"], user_id.as_str());
    let token = registered.body["access_token"].as_str().unwrap();
    let jean = client.clone_with(token);
    let profile = jean
        .get(&format!("/_matrix/client/v3/profile/{user_id}"))
        .await;
    assert_eq!(profile.body["displayname"], "Jean Martin [Finances]");
    let addresses = jean.get("/_matrix/client/v3/account/3pid").await;
    assert_eq!(
        addresses.body["threepids"][0]["address"],
        "jean.martin@finances.example"
    );
    let login = client
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": "Str0ng-Passw0rd!",
                   "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                  "address": "jean.martin@finances.example"}}),
        )
        .await;
    assert_eq!(login.body["user_id"], user_id.as_str());

    // The address is taken now; a clashing name gets an integer.
    client
        .post(
            "/_matrix/client/v3/register/email/requestToken",
            json!({"client_secret": "other", "email": "jean.martin@finances.example",
                   "send_attempt": 1}),
        )
        .await
        .assert_error(400, "M_THREEPID_IN_USE");
    let existing = estafette::service::NewAccount {
        localpart: Some("marie-finances.example".to_owned()),
        ..Default::default()
    };
    server.services().accounts.create(existing).await.unwrap();
    let sid = validate(&sink, &client, "marie@finances.example", "m4rie").await;
    let challenge = client.post("/_matrix/client/v3/register", json!({})).await;
    let marie = client
        .post(
            "/_matrix/client/v3/register",
            register_body(&sid, "m4rie", &challenge.body["session"]),
        )
        .await;
    marie.assert_ok();
    assert_eq!(
        marie.body["user_id"],
        format!("@marie-finances.example1:{name}").as_str()
    );
}
