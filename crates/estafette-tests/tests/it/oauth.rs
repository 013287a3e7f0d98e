//! The OAuth 2.0 API (spec v1.15) with Estafette as its own authorization server: matrix-sdk's
//! OAuth client registers, sends the user to the server's sign-in page, exchanges the code
//! (PKCE), refreshes and revokes; and every way of getting the flow wrong is refused.

use estafette_tests::{RawClient, TestServer};
use matrix_sdk::Client;
use matrix_sdk::authentication::oauth::ClientRegistrationData;
use matrix_sdk::authentication::oauth::registration::{
    ApplicationType, ClientMetadata, Localized, OAuthGrantType,
};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::utils::UrlOrQuery;
use serde_json::{Value, json};
use url::Url;

use crate::room_helpers::user;

const REDIRECT: &str = "http://127.0.0.1/callback";

fn registration() -> ClientRegistrationData {
    let mut metadata = ClientMetadata::new(
        ApplicationType::Native,
        vec![OAuthGrantType::AuthorizationCode {
            redirect_uris: vec![Url::parse(REDIRECT).unwrap()],
        }],
        Localized::new(Url::parse("https://app.example.org/").unwrap(), []),
    );
    metadata.client_name = Some(Localized::new("Tchap <test>".to_owned(), []));
    Raw::new(&metadata).unwrap().into()
}

/// Form bodies, as browsers and OAuth clients send them.
pub(crate) trait FormBody {
    fn form_body(self, fields: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// A browser that does not follow redirects, so the test sees where the server sends it.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The hidden grant field of a sign-in page.
pub(crate) fn grant_of(page: &str) -> String {
    let start = page
        .find("name=\"grant\" value=\"")
        .expect("a sign-in form")
        + 20;
    page[start..].split('"').next().unwrap().to_owned()
}

/// Opens the authorization URL and submits the form with `fields`: the response.
pub(crate) async fn sign_in(
    base: &str,
    authorization: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let browser = browser();
    let page = browser.get(authorization).send().await.unwrap();
    assert_eq!(page.status(), 200, "{:?}", page.headers().get("location"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    let grant = grant_of(&html);
    let mut form = vec![("grant", grant.as_str())];
    form.extend_from_slice(fields);
    browser
        .post(format!("{base}/oauth2/authorize"))
        .form_body(&form)
        .send()
        .await
        .unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> Url {
    assert_eq!(response.status(), 303, "a redirect back to the client");
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

pub(crate) fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[tokio::test]
async fn matrix_sdk_signs_in_on_the_servers_page_refreshes_and_revokes() {
    let server = TestServer::start().await;
    let base = server.base_url();
    let (alice_id, _) = user(server.raw(), "alice").await;
    let metadata = server.raw().get("/_matrix/client/v1/auth_metadata").await;
    metadata.assert_ok();
    assert_eq!(metadata.body["issuer"], format!("{base}/"));
    assert_eq!(
        metadata.body["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let unstable = server
        .raw()
        .get("/_matrix/client/unstable/org.matrix.msc2965/auth_metadata")
        .await;
    assert_eq!(unstable.body, metadata.body);

    let client = Client::builder()
        .homeserver_url(&base)
        .handle_refresh_tokens()
        .build()
        .await
        .unwrap();
    let oauth = client.oauth();
    let data = oauth
        .login(
            Url::parse(REDIRECT).unwrap(),
            None,
            Some(registration()),
            None,
        )
        .build()
        .await
        .expect("registered, and an authorization URL");

    // A wrong password shows the form again, with an alert, and sends nobody anywhere.
    let wrong = sign_in(
        &base,
        data.url.as_str(),
        &[
            ("action", "sign_in"),
            ("username", "alice"),
            ("password", "nope"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("location").is_none());
    let page = wrong.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\"") && page.contains("Wrong username or password"),
        "{page}"
    );
    // The client's name is shown escaped.
    assert!(page.contains("Tchap &lt;test&gt;"), "{page}");

    let signed_in = sign_in(
        &base,
        data.url.as_str(),
        &[
            ("action", "sign_in"),
            ("username", "alice"),
            ("password", "alice's password"),
        ],
    )
    .await;
    let callback = location(&signed_in);
    assert_eq!(callback.path(), "/callback");
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(data.state.secret().as_str())
    );
    oauth
        .finish_login(UrlOrQuery::Url(callback))
        .await
        .expect("the code is exchanged for tokens");
    let whoami = client.whoami().await.unwrap();
    assert_eq!(whoami.user_id.as_str(), alice_id);
    let device = client.device_id().unwrap().to_owned();
    assert_eq!(whoami.device_id.as_deref(), Some(&*device));

    // The access token expires: the SDK refreshes it on its own and carries on.
    let first_token = client.access_token().unwrap();
    server.advance_clock(60 * 60 * 1000);
    client.whoami().await.expect("refreshed");
    let second_token = client.access_token().unwrap();
    assert_ne!(first_token, second_token);
    let stale = server.raw().with_token(first_token);
    stale
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");

    // Signing out revokes the session (what `OAuth::logout` sends, which the SDK refuses to
    // send over plain http, the test server's scheme): the token is refused, the device gone.
    let response = browser()
        .post(format!("{base}/oauth2/revoke"))
        .form_body(&[
            ("token", second_token.as_str()),
            ("token_type_hint", "access_token"),
            ("client_id", oauth.client_id().unwrap().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let revoked = server.raw().with_token(second_token);
    revoked
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
}

/// Registers a client over raw HTTP: its ID.
pub(crate) async fn raw_client_id(base: &str) -> String {
    let response = browser()
        .post(format!("{base}/oauth2/registration"))
        .json(
            &json!({"client_uri": "https://app.example.org/", "redirect_uris": [REDIRECT],
                      "application_type": "native", "client_name": "Raw",
                      "grant_types": ["authorization_code", "refresh_token"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

/// A verifier and its S256 challenge.
pub(crate) fn pkce(seed: &str) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!("{seed}-{}", "v".repeat(50));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn authorization_url(
    base: &str,
    client_id: &str,
    challenge: &str,
    device: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&format!("{base}/oauth2/authorize")).unwrap();
    let scope = format!("urn:matrix:client:api:* urn:matrix:client:device:{device}");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:4567/callback")
        .append_pair("scope", &scope)
        .append_pair("state", "st4te")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (key, value) in extra {
        url.query_pairs_mut().append_pair(key, value);
    }
    url.to_string()
}

pub(crate) async fn token_request(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = browser()
        .post(format!("{base}/oauth2/token"))
        .form_body(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn devices_of(client: &RawClient) -> Vec<String> {
    let devices = client.get("/_matrix/client/v3/devices").await;
    devices.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn wrong_verifiers_redirects_clients_and_replayed_codes_are_refused() {
    let server = TestServer::start().await;
    let base = server.base_url();
    let (_, alice) = user(server.raw(), "alice").await;
    let client_id = raw_client_id(&base).await;
    let credentials = [
        ("action", "sign_in"),
        ("username", "alice"),
        ("password", "alice's password"),
    ];
    let code_for = |device: &'static str, seed: &'static str| {
        let (base, client_id) = (base.clone(), client_id.clone());
        async move {
            let (verifier, challenge) = pkce(seed);
            let url = authorization_url(&base, &client_id, &challenge, device, &[]);
            let response = sign_in(&base, &url, &credentials).await;
            let callback = location(&response);
            // Loopback redirect URIs take any port.
            assert_eq!(callback.port(), Some(4567));
            assert_eq!(query_param(&callback, "state").as_deref(), Some("st4te"));
            (query_param(&callback, "code").expect("a code"), verifier)
        }
    };
    let exchange = |code: String, verifier: String, client: String, redirect: &'static str| {
        let base = base.clone();
        async move {
            token_request(
                &base,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", &client),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    let redirect = "http://127.0.0.1:4567/callback";

    // A wrong verifier, another redirect URI, another client: refused, no session.
    let (code, _) = code_for("DEVICEONE1", "one").await;
    let (status, body) = exchange(code.clone(), pkce("other").0, client_id.clone(), redirect).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (code, verifier) = code_for("DEVICETWO2", "two").await;
    let (status, body) = exchange(
        code.clone(),
        verifier.clone(),
        client_id.clone(),
        "http://127.0.0.1:9/other",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let other_client = raw_client_id(&base).await;
    let (code, verifier) = code_for("DEVICETRI3", "three").await;
    let (status, body) = exchange(code, verifier, other_client, redirect).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = exchange("x".into(), "y".into(), "no-such-client".into(), redirect).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(
        !devices_of(&alice)
            .await
            .iter()
            .any(|d| d.starts_with("DEVICE"))
    );

    // A code works once; its replay is refused and ends the session it opened.
    let (code, verifier) = code_for("DEVICEFOR4", "four").await;
    let (status, tokens) =
        exchange(code.clone(), verifier.clone(), client_id.clone(), redirect).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().is_some() && tokens["refresh_token"].is_string());
    let session = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = session.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(whoami.body["device_id"], "DEVICEFOR4");
    let (status, body) = exchange(code, verifier, client_id.clone(), redirect).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    session
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");

    // Refresh tokens are single-use rotations; unknown ones are refused.
    let (code, verifier) = code_for("DEVICEFIV5", "five").await;
    let (_, tokens) = exchange(code, verifier, client_id.clone(), redirect).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    let (status, body) = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token_request(
        &base,
        &[("grant_type", "password"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    // Revoking by refresh token ends the session; unknown tokens are fine.
    for token in [
        refreshed["refresh_token"].as_str().unwrap(),
        "unknown-token",
    ] {
        let response = browser()
            .post(format!("{base}/oauth2/revoke"))
            .form_body(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    server
        .raw()
        .with_token(refreshed["access_token"].as_str().unwrap())
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");

    // Requests that cannot be trusted with a redirect are shown; the others go back with an
    // error and the state.
    let (_, challenge) = pkce("six");
    let untrusted = [
        authorization_url(&base, "no-such-client", &challenge, "D6", &[]),
        authorization_url(&base, &client_id, &challenge, "D6", &[])
            .replace("127.0.0.1%3A4567", "evil.example"),
    ];
    for url in untrusted {
        let response = browser().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert!(response.headers().get("location").is_none());
    }
    for (url, error) in [
        (
            authorization_url(&base, &client_id, "short", "D7", &[]),
            "invalid_request",
        ),
        (
            authorization_url(&base, &client_id, &challenge, "bad:device", &[]),
            "invalid_scope",
        ),
        (
            authorization_url(&base, &client_id, &challenge, "D8", &[("prompt", "none")]),
            "login_required",
        ),
        (
            authorization_url(&base, &client_id, &challenge, "D9", &[])
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
    ] {
        let response = browser().get(&url).send().await.unwrap();
        let back = location(&response);
        assert_eq!(query_param(&back, "error").as_deref(), Some(error), "{url}");
        assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
    }

    // A sign-in page left open too long expires; "Cancel" sends access_denied back.
    let url = authorization_url(&base, &client_id, &challenge, "DEVICESEV7", &[]);
    let page = browser()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grant = grant_of(&page);
    server.advance_clock(11 * 60 * 1000);
    let late = browser()
        .post(format!("{base}/oauth2/authorize"))
        .form_body(&[
            ("grant", grant.as_str()),
            ("action", "sign_in"),
            ("username", "alice"),
            ("password", "alice's password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 400);
    let denied = sign_in(&base, &url, &[("action", "deny")]).await;
    assert_eq!(
        query_param(&location(&denied), "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test]
async fn prompt_create_registers_an_account_then_signs_it_in() {
    let server = TestServer::start().await;
    let base = server.base_url();
    let metadata = server.raw().get("/_matrix/client/v1/auth_metadata").await;
    assert_eq!(metadata.body["prompt_values_supported"], json!(["create"]));
    let client_id = raw_client_id(&base).await;
    let (verifier, challenge) = pkce("create");
    let url = authorization_url(
        &base,
        &client_id,
        &challenge,
        "NEWDEVICE1",
        &[("prompt", "create")],
    );
    let mismatch = sign_in(
        &base,
        &url,
        &[
            ("action", "register"),
            ("username", "zoe"),
            ("password", "a long password"),
            ("confirm", "another one"),
        ],
    )
    .await;
    assert_eq!(mismatch.status(), 401);
    assert!(mismatch.text().await.unwrap().contains("differ"));
    let created = sign_in(
        &base,
        &url,
        &[
            ("action", "register"),
            ("username", "Zoe"),
            ("password", "a long password"),
            ("confirm", "a long password"),
        ],
    )
    .await;
    let code = query_param(&location(&created), "code").unwrap();
    let (status, tokens) = token_request(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:4567/callback"),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let session = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = session.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(
        whoami.body["user_id"],
        format!("@zoe:{}", server.server_name())
    );
    // The new account signs in with its password like any other.
    server
        .raw()
        .login("zoe", "a long password")
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_device_without_a_browser_is_approved_from_another_one() {
    let server = TestServer::start().await;
    let base = server.base_url();
    user(server.raw(), "alice").await;
    let metadata = server.raw().get("/_matrix/client/v1/auth_metadata").await;
    assert_eq!(
        metadata.body["device_authorization_endpoint"],
        format!("{base}/oauth2/device_authorization")
    );
    let registered = browser()
        .post(format!("{base}/oauth2/registration"))
        .json(&json!({"client_uri": "https://tv.example.org/", "application_type": "native",
                      "client_name": "Salle de réunion",
                      "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let client: Value = registered.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let authorize = |device: &'static str| {
        let (base, client_id) = (base.clone(), client_id.clone());
        async move {
            let scope = format!("urn:matrix:client:api:* urn:matrix:client:device:{device}");
            let response = browser()
                .post(format!("{base}/oauth2/device_authorization"))
                .form_body(&[("client_id", client_id.as_str()), ("scope", scope.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let poll = |device_code: String| {
        let (base, client_id) = (base.clone(), client_id.clone());
        async move {
            token_request(
                &base,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", &device_code),
                    ("client_id", &client_id),
                ],
            )
            .await
        }
    };
    let grant = authorize("MEETINGROOM").await;
    assert_eq!(grant["interval"], 5);
    let device_code = grant["device_code"].as_str().unwrap().to_owned();
    let user_code = grant["user_code"].as_str().unwrap().to_owned();
    assert_eq!(
        poll(device_code.clone()).await.1["error"],
        "authorization_pending"
    );
    assert_eq!(poll(device_code.clone()).await.1["error"], "slow_down");
    server.advance_clock(6_000);
    assert_eq!(
        poll(device_code.clone()).await.1["error"],
        "authorization_pending"
    );

    // On a phone: the page shows the client and the code; the password approves it.
    let page = browser()
        .get(grant["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Salle de réunion") && html.contains(&user_code),
        "{html}"
    );
    let decide = |fields: Vec<(&'static str, String)>| {
        let base = base.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser()
                .post(format!("{base}/oauth2/device"))
                .form_body(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let typed = user_code.to_lowercase().replace('-', " ");
    let wrong = decide(vec![
        ("user_code", typed.clone()),
        ("action", "approve".into()),
        ("username", "alice".into()),
        ("password", "nope".into()),
    ])
    .await;
    assert_eq!(wrong.status(), 401);
    let approved = decide(vec![
        ("user_code", typed),
        ("action", "approve".into()),
        ("username", "alice".into()),
        ("password", "alice's password".into()),
    ])
    .await;
    assert_eq!(approved.status(), 200);
    server.advance_clock(6_000);
    let (status, tokens) = poll(device_code.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    let session = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = session.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(whoami.body["device_id"], "MEETINGROOM");
    assert_eq!(
        poll(device_code).await.1["error"],
        "invalid_grant",
        "a device code works once"
    );

    // Denied, expired, unknown.
    let denied = authorize("DENIED").await;
    decide(vec![
        (
            "user_code",
            denied["user_code"].as_str().unwrap().to_owned(),
        ),
        ("action", "deny".into()),
    ])
    .await;
    server.advance_clock(6_000);
    assert_eq!(
        poll(denied["device_code"].as_str().unwrap().to_owned())
            .await
            .1["error"],
        "access_denied"
    );
    let late = authorize("LATE").await;
    server.advance_clock(11 * 60 * 1000);
    assert_eq!(
        poll(late["device_code"].as_str().unwrap().to_owned())
            .await
            .1["error"],
        "expired_token"
    );
    let page = browser()
        .get(late["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert_eq!(poll("nope".to_owned()).await.1["error"], "invalid_grant");
    // A client that did not register the grant may not use it.
    let other = raw_client_id(&base).await;
    let refused = browser()
        .post(format!("{base}/oauth2/device_authorization"))
        .form_body(&[
            ("client_id", other.as_str()),
            (
                "scope",
                "urn:matrix:client:api:* urn:matrix:client:device:X",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
}
