//! Login, refresh tokens and logout.

use estafette_tests::{TestServer, password_login};
use serde_json::json;

#[tokio::test]
async fn login_accepts_the_localpart_the_full_user_id_and_the_legacy_user_field() {
    let server = TestServer::start().await;
    let bob = server.register_user("bob").await;
    let by_localpart = server.login("bob", &bob.password).await;
    let full_id = format!("@bob:{}", server.server_name());
    let by_user_id = server.login(&full_id, &bob.password).await;
    assert_ne!(
        by_localpart.device_id(),
        by_user_id.device_id(),
        "each login is a new device"
    );
    let legacy = server
        .raw()
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "user": "bob", "password": bob.password}),
        )
        .await;
    legacy.assert_ok();
    assert_eq!(legacy.body["user_id"], full_id);
    assert_eq!(bob.client.devices().await.unwrap().devices.len(), 4);
}

#[tokio::test]
async fn login_flows_and_refusals() {
    let server = TestServer::start().await;
    let raw = server.raw();
    raw.register("carol", "carol's password").await;
    let flows = raw.get("/_matrix/client/v3/login").await;
    // Without an upstream provider: passwords, and login tokens a signed-in device issues.
    assert_eq!(
        flows.body["flows"],
        json!([{"type": "m.login.password"}, {"type": "m.login.token", "get_login_token": true}])
    );
    raw.login("carol", "wrong")
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.login("nobody", "wrong")
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.login("@carol:elsewhere.org", "carol's password")
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.post(
        "/_matrix/client/v3/login",
        json!({"type": "m.login.token", "token": "abc"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    raw.post(
        "/_matrix/client/v3/login",
        json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "carol"}}),
    )
    .await
    .assert_error(400, "M_UNKNOWN");
    raw.post(
        "/_matrix/client/v3/login",
        json!({"type": "m.login.password", "password": "x"}),
    )
    .await
    .assert_error(400, "M_MISSING_PARAM");
}

#[tokio::test]
async fn logging_in_with_a_known_device_id_replaces_that_devices_tokens() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, first_token, device_id) = raw.register("dan", "dan's password").await;
    let mut body = password_login("dan", "dan's password");
    body["device_id"] = json!(device_id);
    let again = raw.post("/_matrix/client/v3/login", body).await;
    again.assert_ok();
    assert_eq!(again.body["device_id"], device_id);
    raw.clone_with(&first_token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let token = again.body["access_token"].as_str().unwrap();
    raw.clone_with(token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_sdk_refreshes_an_expired_token_without_the_user_noticing() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let client = server.sdk_client().await;
    let login = client
        .matrix_auth()
        .login_username("alice", &alice.password)
        .request_refresh_token()
        .send()
        .await
        .unwrap();
    let first_refresh = login.refresh_token.clone().expect("a refresh token");
    assert_eq!(login.expires_in.map(|d| d.as_secs()), Some(300));
    let first_access = client.access_token().unwrap();

    server.advance_clock(301_000);
    let raw = server.raw();
    let expired = raw
        .clone_with(&first_access)
        .get("/_matrix/client/v3/account/whoami")
        .await;
    expired.assert_error(401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.body["soft_logout"], true);

    // The SDK sees the soft logout, refreshes, and retries.
    let whoami = client
        .whoami()
        .await
        .expect("the SDK recovers by refreshing");
    assert_eq!(whoami.device_id, Some(login.device_id.clone()));
    assert_ne!(client.access_token().unwrap(), first_access);
    // The new tokens were used, so the old refresh token is revoked.
    raw.post(
        "/_matrix/client/v3/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await
    .assert_error(401, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn a_lost_refresh_response_can_be_retried() {
    let server = TestServer::start().await;
    let raw = server.raw();
    raw.register("fay", "fay's password").await;
    let mut body = password_login("fay", "fay's password");
    body["refresh_token"] = json!(true);
    let login = raw.post("/_matrix/client/v3/login", body).await;
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    let lost = raw
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh}),
        )
        .await;
    lost.assert_ok();
    let retried = raw
        .post(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh}),
        )
        .await;
    retried.assert_ok();
    assert_eq!(retried.body["expires_in_ms"], 300_000);
    let token = retried.body["access_token"].as_str().unwrap();
    raw.clone_with(token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    let lost_token = lost.body["access_token"].as_str().unwrap();
    raw.clone_with(lost_token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    raw.post(
        "/_matrix/client/v3/refresh",
        json!({"refresh_token": "ert_unknown"}),
    )
    .await
    .assert_error(401, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn logout_ends_one_device_and_logout_all_ends_every_device() {
    let server = TestServer::start().await;
    let gus = server.register_user("gus").await;
    let second = server.login("gus", &gus.password).await;
    let third = server.login("gus", &gus.password).await;
    let second_token = second.access_token().unwrap();
    second.matrix_auth().logout().await.expect("logout");
    let raw = server.raw();
    raw.clone_with(&second_token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let devices = gus.client.devices().await.unwrap().devices;
    assert_eq!(devices.len(), 2, "the logged-out device is deleted");

    let third_token = third.access_token().unwrap();
    raw.clone_with(&third_token)
        .post("/_matrix/client/v3/logout/all", json!({}))
        .await
        .assert_ok();
    for token in [third_token, gus.client.access_token().unwrap()] {
        raw.clone_with(&token)
            .get("/_matrix/client/v3/account/whoami")
            .await
            .assert_error(401, "M_UNKNOWN_TOKEN");
    }
    let login = raw.login("gus", &gus.password).await;
    let token = login.body["access_token"].as_str().unwrap();
    let devices = raw
        .clone_with(token)
        .get("/_matrix/client/v3/devices")
        .await;
    assert_eq!(devices.body["devices"].as_array().unwrap().len(), 1);
}
