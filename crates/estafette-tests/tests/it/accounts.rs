//! Registration, password changes and deactivation.

use estafette_tests::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_user_registers_with_the_sdk_and_the_server_knows_who_they_are() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let whoami = alice.client.whoami().await.unwrap();
    assert_eq!(
        whoami.user_id.as_str(),
        format!("@alice:{}", server.server_name())
    );
    assert_eq!(whoami.device_id.as_deref(), alice.client.device_id());
    assert!(!whoami.is_guest);
    let devices = alice.client.devices().await.unwrap().devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(
        devices[0].display_name.as_deref(),
        Some("alice's first device")
    );
    // The default display name is the localpart.
    assert_eq!(
        alice
            .client
            .account()
            .get_display_name()
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn registration_refuses_taken_invalid_and_weak_choices_before_authentication() {
    let server = TestServer::start().await;
    let raw = server.raw();
    raw.register("taken", "long enough password").await;
    let register = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password});
        let raw = server.raw();
        async move { raw.post("/_matrix/client/v3/register", body).await }
    };
    register("taken", "long enough password")
        .await
        .assert_error(400, "M_USER_IN_USE");
    register("Not Valid", "long enough password")
        .await
        .assert_error(400, "M_INVALID_USERNAME");
    register("_reserved", "long enough password")
        .await
        .assert_error(400, "M_INVALID_USERNAME");
    register("newcomer", "short")
        .await
        .assert_error(400, "M_WEAK_PASSWORD");
    let guest = raw
        .post("/_matrix/client/v3/register?kind=guest", json!({}))
        .await;
    guest.assert_error(403, "M_GUEST_ACCESS_FORBIDDEN");
    // Nothing was created by the refusals.
    raw.get("/_matrix/client/v3/register/available?username=newcomer")
        .await
        .assert_ok();
}

#[tokio::test]
async fn username_availability_follows_the_spec() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let free = raw
        .get("/_matrix/client/v3/register/available?username=carol")
        .await;
    free.assert_ok();
    assert_eq!(free.body["available"], true);
    raw.register("carol", "long enough password").await;
    raw.get("/_matrix/client/v3/register/available?username=carol")
        .await
        .assert_error(400, "M_USER_IN_USE");
    raw.get("/_matrix/client/v3/register/available?username=C%20A")
        .await
        .assert_error(400, "M_INVALID_USERNAME");
}

#[tokio::test]
async fn closed_registration_refuses_everyone() {
    let server = TestServer::builder()
        .configure(|config| config.registration.open = false)
        .start()
        .await;
    let raw = server.raw();
    raw.post(
        "/_matrix/client/v3/register",
        json!({"username": "x", "password": "long enough password"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    raw.get("/_matrix/client/v3/register/available?username=x")
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn uia_sessions_cannot_be_forged_or_reused() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let unknown = raw
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "dave", "password": "long enough password", "auth": {"type": "m.login.dummy", "session": "made-up"}}),
        )
        .await;
    unknown.assert_error(400, "M_UNKNOWN");
    let first = raw
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "dave", "password": "long enough password"}),
        )
        .await;
    assert_eq!(first.status, 401);
    assert_eq!(first.body["flows"], json!([{"stages": ["m.login.dummy"]}]));
    let session = first.body["session"].as_str().unwrap();
    let wrong_stage = raw
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "dave", "password": "long enough password", "auth": {"type": "m.login.recaptcha", "response": "x", "session": session}}),
        )
        .await;
    assert_eq!(wrong_stage.status, 401);
    assert_eq!(wrong_stage.errcode(), "M_UNRECOGNIZED");
    assert_eq!(wrong_stage.body["session"], session);
}

#[tokio::test]
async fn changing_the_password_logs_out_other_devices_and_replaces_the_old_password() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let laptop = server.login("alice", &alice.password).await;
    laptop.whoami().await.expect("the laptop is logged in");

    let new_password = "a brand new password";
    let account = alice.client.account();
    alice
        .with_password_uia(|auth| account.change_password(new_password, auth))
        .await
        .expect("the password changes");

    alice
        .client
        .whoami()
        .await
        .expect("the device that changed the password stays logged in");
    let laptop_error = laptop.whoami().await.unwrap_err();
    assert_eq!(
        laptop_error
            .client_api_error_kind()
            .map(|kind| kind.errcode().to_string()),
        Some("M_UNKNOWN_TOKEN".to_owned())
    );
    let raw = server.raw();
    let old = raw.login("alice", &alice.password).await;
    old.assert_error(403, "M_FORBIDDEN");
    server.login("alice", new_password).await;
}

#[tokio::test]
async fn a_wrong_password_does_not_change_the_password() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("erin", "the right password").await;
    let raw = raw.with_token(token);
    let first = raw
        .post(
            "/_matrix/client/v3/account/password",
            json!({"new_password": "another password"}),
        )
        .await;
    assert_eq!(first.status, 401);
    let session = first.body["session"].as_str().unwrap().to_owned();
    let wrong = raw
        .post(
            "/_matrix/client/v3/account/password",
            json!({"new_password": "another password", "auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "erin"}, "password": "wrong", "session": session}}),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.errcode()),
        (401, "M_FORBIDDEN"),
        "{wrong:?}"
    );
    assert_eq!(wrong.body["completed"], serde_json::Value::Null);
    server.login("erin", "the right password").await;
}

#[tokio::test]
async fn a_deactivated_account_is_gone_for_good() {
    let server = TestServer::start().await;
    let bob = server.register_user("bob").await;
    let user_id = bob.client.user_id().unwrap().to_owned();
    let account = bob.client.account();
    bob.with_password_uia(|auth| account.deactivate(None, auth, false))
        .await
        .expect("deactivation succeeds");

    let raw = server.raw();
    let token = bob.client.access_token().unwrap();
    raw.clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let login = raw.login("bob", &bob.password).await;
    login.assert_error(403, "M_USER_DEACTIVATED");
    raw.get("/_matrix/client/v3/register/available?username=bob")
        .await
        .assert_error(400, "M_USER_IN_USE");
    raw.get(&format!("/_matrix/client/v3/profile/{user_id}"))
        .await
        .assert_error(404, "M_NOT_FOUND");
}
