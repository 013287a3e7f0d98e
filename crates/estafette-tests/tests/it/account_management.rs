//! The account management page (OAuth 2.0 "Account management"): where an Element X user
//! signs devices out and approves a cross-signing reset (the `m.oauth` stage), including an
//! agent whose account ProConnect made, who has no password to give.

use std::time::Duration;

use estafette_tests::TestServer;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::CrossSigningResetAuthType;
use serde_json::{Value, json};
use url::Url;

use crate::oauth::FormBody;
use crate::upstream_oidc::{Browser, server_and_provider, single_sign_on, urlencode};

async fn page_at(browser: &mut Browser, url: &str) -> String {
    browser.get(url).await.text().await.unwrap()
}

/// Presses "Allow the reset" on the page.
async fn approve(browser: &mut Browser, base: &str, page: &str) {
    assert!(page.contains("Allow the reset"), "{page}");
    let approved = browser
        .post_form(
            &format!("{base}/account"),
            &[("do", "cross_signing_reset"), ("csrf", &csrf_of(page))],
        )
        .await;
    assert_eq!(approved.status(), 200);
}

/// The hidden anti-forgery field of the page's forms.
fn csrf_of(page: &str) -> String {
    let start = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a form of the signed-in page: {page}"))
        + 19;
    page[start..].split('"').next().unwrap().to_owned()
}

async fn master_key(client: &Client) -> Value {
    let user = client.user_id().unwrap().to_string();
    let raw = estafette_tests::RawClient::new(
        client
            .homeserver()
            .to_string()
            .trim_end_matches('/')
            .to_owned(),
    )
    .with_token(client.access_token().unwrap());
    let query = raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&user: []}}),
        )
        .await;
    query.body["master_keys"][&user]["keys"].clone()
}

/// Element X's "Reset identity": the SDK asks, is told to approve on the account page at
/// `approval_url`, `approve` does it in a browser, and the SDK's retry goes through.
async fn reset_identity<F, Fut>(client: &Client, approve: F)
where
    F: FnOnce(Url) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = master_key(client).await;
    let handle = client
        .encryption()
        .recovery()
        .reset_identity()
        .await
        .unwrap()
        .expect("replacing keys needs authentication");
    let CrossSigningResetAuthType::OAuth(info) = handle.auth_type() else {
        panic!("the account page is offered: {:?}", handle.auth_type());
    };
    let approval_url = Url::parse(info.approval_url.as_str()).unwrap();
    assert_eq!(
        approval_url.query(),
        Some("action=org.matrix.cross_signing_reset")
    );
    approve(approval_url).await;
    tokio::time::timeout(Duration::from_secs(30), handle.reset(None))
        .await
        .expect("the reset goes through in time")
        .expect("the reset goes through once approved");
    assert_ne!(master_key(client).await, before, "a new identity");
}

#[tokio::test]
async fn a_password_user_approves_a_reset_on_the_page_then_the_sdk_completes_it() {
    let server = TestServer::start().await;
    let base = server.base_url();
    let alice = server.register_user("alice").await;
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    alice
        .client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .unwrap();
    let metadata = server.raw().get("/_matrix/client/v1/auth_metadata").await;
    assert_eq!(
        metadata.body["account_management_uri"],
        format!("{base}/account")
    );
    let actions = metadata.body["account_management_actions_supported"].to_string();
    for action in [
        "org.matrix.devices_list",
        "org.matrix.device_delete",
        "org.matrix.cross_signing_reset",
    ] {
        assert!(actions.contains(action), "{actions}");
    }

    let page_base = base.clone();
    reset_identity(&alice.client, |approval_url| async move {
        let base = page_base;
        let mut browser = Browser::new();
        let page = browser.get(approval_url.as_str()).await;
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("name=\"password\""), "sign in first: {page}");
        let wrong = browser
            .post_form(
                &format!("{base}/account"),
                &[
                    ("do", "sign_in"),
                    ("action", "org.matrix.cross_signing_reset"),
                    ("username", "alice"),
                    ("password", "not hers"),
                ],
            )
            .await;
        assert_eq!(wrong.status(), 401);
        let signed_in = browser
            .post_form(
                &format!("{base}/account"),
                &[
                    ("do", "sign_in"),
                    ("action", "org.matrix.cross_signing_reset"),
                    ("username", "alice"),
                    ("password", &alice.password),
                ],
            )
            .await;
        assert_eq!(signed_in.status(), 303);
        let page = page_at(&mut browser, approval_url.as_str()).await;
        assert!(page.contains("Allow the reset"), "{page}");
        // A form posted from elsewhere (no token, or no session) approves nothing.
        let forged = browser
            .post_form(&format!("{base}/account"), &[("do", "cross_signing_reset")])
            .await;
        assert_eq!(forged.status(), 403);
        let foreign = crate::oauth::browser()
            .post(format!("{base}/account"))
            .form_body(&[("do", "cross_signing_reset"), ("csrf", &csrf_of(&page))])
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 403);
        approve(&mut browser, &base, &page).await;
    })
    .await;

    // Used once: the next replacement asks again, and still offers the password.
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let user = alice.client.user_id().unwrap().to_string();
    let again = raw
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            json!({"master_key": {"user_id": user, "usage": ["master"],
                                  "keys": {"ed25519:bm90LWEta2V5": "bm90LWEta2V5"}}}),
        )
        .await;
    assert_eq!(again.status, 401, "{again:?}");
    assert_eq!(
        again.body["flows"],
        json!([{"stages": ["m.login.password"]}, {"stages": ["m.oauth"]}])
    );
    assert_eq!(
        again.body["params"]["m.oauth"]["url"],
        format!("{base}/account?action=org.matrix.cross_signing_reset")
    );
}

/// An agent's device signed in through ProConnect (single sign-on, as Element Web does).
async fn agent_device(server: &TestServer, name: &str) -> Client {
    let base = server.base_url();
    let mut browser = Browser::new();
    let start = browser
        .get(&format!(
            "{base}/_matrix/client/v3/login/sso/redirect/oidc?redirectUrl={}",
            urlencode("https://app.element.example/")
        ))
        .await;
    let token = single_sign_on(&mut browser, start, "jean").await;
    let client = Client::builder()
        .homeserver_url(&base)
        .build()
        .await
        .unwrap();
    client
        .matrix_auth()
        .login_token(&token)
        .initial_device_display_name(name)
        .send()
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn an_agent_without_a_password_signs_a_device_out_and_resets_the_identity() {
    let (server, _provider) = server_and_provider().await;
    let base = server.base_url();
    let phone = agent_device(&server, "phone").await;
    let lost = agent_device(&server, "lost tablet").await;
    let lost_id = lost.device_id().unwrap().to_string();

    // The page, opened at the lost device: sign in with ProConnect, come back to it.
    let mut browser = Browser::new();
    let target = format!("action=org.matrix.device_delete&device_id={lost_id}");
    let page = page_at(&mut browser, &format!("{base}/account?{target}")).await;
    assert!(page.contains("Sign in with ProConnect"), "{page}");
    let start = browser
        .get(&format!("{base}/account/upstream?{target}"))
        .await;
    let form = match browser.follow(start, "http://never").await {
        Err((200, form)) => form,
        other => panic!("the provider's login form: {other:?}"),
    };
    let submitted = browser.submit_login(&form, "jean").await;
    let page = match browser.follow(submitted, "http://never").await {
        Err((200, page)) => page,
        other => panic!("the account page: {other:?}"),
    };
    assert!(
        page.contains("lost tablet") && page.contains(&lost_id),
        "{page}"
    );
    assert!(!page.contains("phone"), "only the device asked for: {page}");
    let csrf = csrf_of(&page);
    let signed_out = browser
        .post_form(
            &format!("{base}/account"),
            &[
                ("do", "device_delete"),
                ("device_id", &lost_id),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(signed_out.status(), 200);
    let whoami = |client: Client| async move { client.whoami().await.is_ok() };
    assert!(!whoami(lost).await, "the lost device is signed out");
    assert!(whoami(phone.clone()).await);
    let list = page_at(&mut browser, &format!("{base}/account")).await;
    assert!(list.contains("phone") && !list.contains(&lost_id), "{list}");

    // The identity: set up, then reset with the page's approval (no password exists).
    phone.sync_once(SyncSettings::default()).await.unwrap();
    phone
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .unwrap();
    reset_identity(&phone, |approval_url| async move {
        let page = page_at(&mut browser, approval_url.as_str()).await;
        assert!(page.contains("Allow the reset"), "{page}");
        approve(&mut browser, &base, &page).await;
        let out = browser
            .post_form(
                &format!("{base}/account"),
                &[("do", "sign_out"), ("csrf", &csrf_of(&page))],
            )
            .await;
        assert_eq!(out.status(), 200);
        let page = page_at(&mut browser, approval_url.as_str()).await;
        assert!(
            page.contains("Sign in with ProConnect"),
            "signed out: {page}"
        );
    })
    .await;
}
