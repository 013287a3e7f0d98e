//! Profiles.

use estafette_tests::TestServer;
use matrix_sdk::ruma::{OwnedMxcUri, mxc_uri};
use serde_json::json;

#[tokio::test]
async fn a_user_sets_a_profile_that_others_can_read() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    alice
        .client
        .account()
        .set_display_name(Some("Alice Liddell"))
        .await
        .unwrap();
    let avatar: OwnedMxcUri = mxc_uri!("mxc://example.org/alice").to_owned();
    alice
        .client
        .account()
        .set_avatar_url(Some(&avatar))
        .await
        .unwrap();

    assert_eq!(
        alice
            .client
            .account()
            .get_display_name()
            .await
            .unwrap()
            .as_deref(),
        Some("Alice Liddell")
    );
    assert_eq!(
        alice.client.account().get_avatar_url().await.unwrap(),
        Some(avatar.clone())
    );
    let seen_by_bob = bob
        .client
        .account()
        .fetch_user_profile_of(alice.client.user_id().unwrap())
        .await
        .unwrap();
    assert_eq!(
        seen_by_bob.get("displayname"),
        Some(&json!("Alice Liddell"))
    );
    assert_eq!(
        seen_by_bob.get("avatar_url"),
        Some(&json!(avatar.to_string()))
    );

    alice.client.account().set_display_name(None).await.unwrap();
    assert_eq!(
        alice.client.account().get_display_name().await.unwrap(),
        None
    );
}

#[tokio::test]
async fn custom_profile_fields_can_be_set_and_deleted() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("kim", "kim's password").await;
    let raw = raw.with_token(token);
    let path = format!("/_matrix/client/v3/profile/{user_id}/m.tz");
    raw.put(&path, json!({"m.tz": "Europe/Paris"}))
        .await
        .assert_ok();
    assert_eq!(raw.get(&path).await.body, json!({"m.tz": "Europe/Paris"}));
    assert_eq!(
        raw.get(&format!("/_matrix/client/v3/profile/{user_id}"))
            .await
            .body["m.tz"],
        "Europe/Paris"
    );
    raw.delete(&path, json!({})).await.assert_ok();
    raw.get(&path).await.assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn profile_refusals() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("lee", "lee's password").await;
    let (other_id, _, _) = raw.register("max", "max's password").await;
    let authed = raw.clone_with(&token);
    authed
        .put(
            &format!("/_matrix/client/v3/profile/{other_id}/displayname"),
            json!({"displayname": "hacked"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    assert_eq!(
        raw.get(&format!(
            "/_matrix/client/v3/profile/{other_id}/displayname"
        ))
        .await
        .body["displayname"],
        "max"
    );
    raw.put(
        &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
        json!({"displayname": "x"}),
    )
    .await
    .assert_error(401, "M_MISSING_TOKEN");
    authed
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/displayname"),
            json!({"displayname": "x".repeat(300)}),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    authed
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/avatar_url"),
            json!({"avatar_url": "https://example.org/a.png"}),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
    authed
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/org.example.big"),
            json!({"org.example.big": "x".repeat(70_000)}),
        )
        .await
        .assert_error(400, "M_PROFILE_TOO_LARGE");
    let long_key = format!("org.example.{}", "k".repeat(250));
    authed
        .put(
            &format!("/_matrix/client/v3/profile/{user_id}/{long_key}"),
            json!({long_key.clone(): "v"}),
        )
        .await
        .assert_error(400, "M_KEY_TOO_LARGE");
    raw.get(&format!(
        "/_matrix/client/v3/profile/@nobody:{}",
        server.server_name()
    ))
    .await
    .assert_error(404, "M_NOT_FOUND");
    raw.get("/_matrix/client/v3/profile/not-a-user-id")
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

/// With display names locked (a government deployment derives them from the address), no
/// client changes one, and clients are told not to offer it; the avatar stays free.
#[tokio::test]
async fn locked_display_names_cannot_be_changed() {
    let server = TestServer::builder()
        .configure(|config| config.policy.lock_displayname = true)
        .start()
        .await;
    let alice = server.register_user("alice").await;
    let refused = alice
        .client
        .account()
        .set_display_name(Some("Someone Else"))
        .await
        .expect_err("locked");
    assert!(refused.to_string().contains("M_FORBIDDEN"), "{refused}");
    assert_ne!(
        alice
            .client
            .account()
            .get_display_name()
            .await
            .unwrap()
            .as_deref(),
        Some("Someone Else")
    );
    let capabilities = |server: &TestServer, token: String| {
        let raw = server.raw().clone_with(&token);
        async move { raw.get("/_matrix/client/v3/capabilities").await.body }
    };
    let token = alice.client.access_token().unwrap();
    let advertised = capabilities(&server, token).await;
    assert_eq!(
        advertised["capabilities"]["m.set_displayname"]["enabled"],
        false
    );
    assert_eq!(
        advertised["capabilities"]["m.profile_fields"]["disallowed"],
        json!(["displayname"])
    );
    let avatar: OwnedMxcUri = mxc_uri!("mxc://example.org/avatar").to_owned();
    alice
        .client
        .account()
        .set_avatar_url(Some(&avatar))
        .await
        .expect("avatars stay free");

    let free = TestServer::start().await;
    let bob = free.register_user("bob").await;
    let advertised = capabilities(&free, bob.client.access_token().unwrap()).await;
    let enabled = &advertised["capabilities"]["m.set_displayname"]["enabled"];
    assert_ne!(enabled, false, "{advertised}");
}
