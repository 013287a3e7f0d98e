//! Signing in through an upstream OpenID Connect provider (ProConnect), with oidc-provider
//! (the certified Node implementation) as the provider: the first sign-in creates and links an
//! account named after the agent's address, the next ones come back to it, and a replayed
//! callback is refused.

use std::collections::BTreeMap;

use estafette_tests::{JsProcess, TestServer, run_js_sdk, start_js, unused_port};
use serde_json::{Value, json};
use url::Url;

use crate::oauth::{
    authorization_url, browser, grant_of, pkce, query_param, raw_client_id, token_request,
};

const CLIENT_REDIRECT: &str = "http://127.0.0.1:4567/callback";

/// Estafette with ProConnect's stand-in as its upstream provider.
pub(crate) async fn server_and_provider() -> (TestServer, JsProcess) {
    let port = unused_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let server = TestServer::builder()
        .configure(move |config| {
            config.oauth.upstream = Some(estafette_core::config::UpstreamProvider {
                name: "ProConnect".to_owned(),
                issuer,
                client_id: "estafette".to_owned(),
                client_secret: "s3cret-shared-with-the-provider".to_owned(),
                scopes: vec!["openid".into(), "email".into(), "profile".into()],
                localpart_claim: "email".to_owned(),
                display_name_claims: vec!["given_name".into(), "usual_name".into()],
            });
        })
        .start()
        .await;
    let provider = start_js(
        "oidc_provider",
        json!({
            "port": port,
            "client_id": "estafette",
            "client_secret": "s3cret-shared-with-the-provider",
            "redirect_uris": [format!("{}/oauth2/upstream/callback", server.base_url())],
            "accounts": {
                "jean": {"sub": "agent-1", "email": "Jean.Dupont@interieur.gouv.fr",
                         "email_verified": true, "given_name": "Jean", "usual_name": "Dupont"},
                "anne": {"sub": "agent-2", "email": "anne.martin@finances.gouv.fr",
                         "given_name": "Anne", "usual_name": "Martin"}
            }
        }),
    )
    .await;
    assert_eq!(provider.ready["ready"], true);
    (server, provider)
}

/// A browser session: follows redirects by hand, keeping the provider's cookies.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// The URL of the last page (relative links resolve against it).
    last: Option<Url>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: browser(),
            cookies: BTreeMap::new(),
            last: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        self.last = Some(response.url().clone());
        for header in response.headers().get_all("set-cookie") {
            let Ok(text) = header.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    pub(crate) async fn post_form(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        use crate::oauth::FormBody;
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form_body(fields)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    /// Submits the provider's login form (its HTML) as `login`.
    pub(crate) async fn submit_login(&mut self, form: &str, login: &str) -> reqwest::Response {
        let action = form
            .split("action=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let action = self.last.as_ref().unwrap().join(action).unwrap();
        self.post_form(action.as_str(), &[("login", login)]).await
    }

    /// Follows redirects from `response` until one leaves for `stop` (its URL), or a page
    /// comes (`Err` with its status and text).
    pub(crate) async fn follow(
        &mut self,
        mut response: reqwest::Response,
        stop: &str,
    ) -> Result<Url, (u16, String)> {
        for _ in 0..10 {
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                return Err((status, response.text().await.unwrap_or_default()));
            }
            let current = response.url().clone();
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = current.join(&location).unwrap();
            if next.as_str().starts_with(stop) {
                return Ok(next);
            }
            response = self.get(next.as_str()).await;
        }
        panic!("too many redirects");
    }
}

/// One sign-in through the provider as `login`: the code the client gets back (or the page
/// shown instead), and the callback URL the provider sent the browser to.
async fn sign_in_upstream(
    base: &str,
    client_id: &str,
    challenge: &str,
    device: &str,
    login: &str,
) -> (Result<String, (u16, String)>, Option<Url>) {
    let mut browser = Browser::new();
    let page = browser
        .get(&authorization_url(base, client_id, challenge, device, &[]))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with ProConnect"), "{page}");
    let grant = grant_of(&page);
    let start = browser
        .get(&format!("{base}/oauth2/upstream/start?grant={grant}"))
        .await;
    // At the provider: its login form, then back to Estafette's callback.
    let interaction = match browser.follow(start, "http://never").await {
        Err((200, form)) => form,
        other => panic!("expected the provider's login form, got {other:?}"),
    };
    assert!(interaction.contains("name=\"login\""));
    assert!(
        !browser.cookies.is_empty(),
        "the provider keeps its interaction in a cookie"
    );
    let submitted = browser.submit_login(&interaction, login).await;
    let callback = match browser
        .follow(submitted, &format!("{base}/oauth2/upstream/callback"))
        .await
    {
        Ok(callback) => callback,
        Err(page) => return (Err(page), None),
    };
    let back = browser.get(callback.as_str()).await;
    let result = match browser.follow(back, CLIENT_REDIRECT).await {
        Ok(url) => Ok(query_param(&url, "code").expect("a code")),
        Err(page) => Err(page),
    };
    (result, Some(callback))
}

async fn exchange(base: &str, client_id: &str, code: &str, verifier: &str) -> Value {
    let (status, tokens) = token_request(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CLIENT_REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[tokio::test]
async fn agents_sign_in_through_the_provider_get_an_account_and_come_back_to_it() {
    let (server, _provider) = server_and_provider().await;
    let base = server.base_url();
    let client_id = raw_client_id(&base).await;

    let (verifier, challenge) = pkce("first");
    let (code, callback) = sign_in_upstream(&base, &client_id, &challenge, "PHONE1", "jean").await;
    let tokens = exchange(&base, &client_id, &code.expect("signed in"), &verifier).await;
    let session = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = session.get("/_matrix/client/v3/account/whoami").await;
    let jean = format!("@jean.dupont-interieur.gouv.fr:{}", server.server_name());
    assert_eq!(whoami.body["user_id"], jean.as_str());
    let profile = session
        .get(&format!("/_matrix/client/v3/profile/{jean}"))
        .await;
    assert_eq!(profile.body["displayname"], "Jean Dupont");

    // The provider's answer is used once: the same callback again is refused.
    let replayed = browser()
        .get(callback.unwrap().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 400);
    assert!(replayed.headers().get("location").is_none());

    // Signing in again (another device) comes back to the same account.
    let (verifier, challenge) = pkce("second");
    let (code, _) = sign_in_upstream(&base, &client_id, &challenge, "LAPTOP1", "jean").await;
    let tokens = exchange(
        &base,
        &client_id,
        &code.expect("signed in again"),
        &verifier,
    )
    .await;
    let again = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = again.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(
        (
            whoami.body["user_id"].as_str(),
            whoami.body["device_id"].as_str()
        ),
        (Some(jean.as_str()), Some("LAPTOP1"))
    );

    // Another agent gets an account of her own.
    let (verifier, challenge) = pkce("third");
    let (code, _) = sign_in_upstream(&base, &client_id, &challenge, "PHONE2", "anne").await;
    let tokens = exchange(&base, &client_id, &code.expect("anne signed in"), &verifier).await;
    let anne = server
        .raw()
        .with_token(tokens["access_token"].as_str().unwrap());
    let whoami = anne.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(
        whoami.body["user_id"],
        format!("@anne.martin-finances.gouv.fr:{}", server.server_name())
    );
}

/// From the provider's first redirect: signs in there as `login`, and returns the login token
/// of the confirmation page Estafette then shows.
pub(crate) async fn single_sign_on(
    browser: &mut Browser,
    start: reqwest::Response,
    login: &str,
) -> String {
    let form = match browser.follow(start, "http://never").await {
        Err((200, form)) => form,
        other => panic!("expected the provider's login form, got {other:?}"),
    };
    let submitted = browser.submit_login(&form, login).await;
    let page = match browser.follow(submitted, "http://never").await {
        Err((200, page)) => page,
        other => panic!("expected the confirmation page, got {other:?}"),
    };
    login_token_of(&page, "app.element.example")
}

/// The login token at the end of a single sign-on, from the confirmation page's link.
fn login_token_of(page: &str, destination: &str) -> String {
    assert!(
        page.contains(&format!("Continue to {destination}")),
        "{page}"
    );
    let href = page
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let url = Url::parse(&href.replace("&amp;", "&")).unwrap();
    assert_eq!(url.host_str(), Some(destination));
    query_param(&url, "loginToken").expect("a login token")
}

#[tokio::test]
async fn clients_without_oauth_sign_in_with_sso_and_login_tokens() {
    let (server, _provider) = server_and_provider().await;
    let base = server.base_url();
    let flows = server.raw().get("/_matrix/client/v3/login").await;
    let flows = flows.body["flows"].as_array().unwrap().clone();
    let sso = flows
        .iter()
        .find(|f| f["type"] == "m.login.sso")
        .expect("m.login.sso");
    let providers = sso["identity_providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(
        (&providers[0]["id"], &providers[0]["name"]),
        (&json!("oidc"), &json!("ProConnect"))
    );
    assert_eq!(sso["oauth_aware_preferred"], true);
    assert!(
        flows
            .iter()
            .any(|f| f["type"] == "m.login.token" && f["get_login_token"] == true)
    );
    assert!(flows.iter().any(|f| f["type"] == "m.login.password"));

    // Element Web's single sign-on: off to the provider, back to a confirmation page.
    let mut browser = Browser::new();
    let redirect = "https://app.element.example/?from=sso";
    let start = browser
        .get(&format!(
            "{base}/_matrix/client/v3/login/sso/redirect/oidc?redirectUrl={}",
            urlencode(redirect)
        ))
        .await;
    assert_eq!(start.status(), 302);
    let token = single_sign_on(&mut browser, start, "jean").await;

    let login = |token: String| {
        let raw = server.raw();
        async move {
            raw.post(
                "/_matrix/client/v3/login",
                json!({"type": "m.login.token", "token": token}),
            )
            .await
        }
    };
    let signed_in = login(token.clone()).await;
    signed_in.assert_ok();
    let jean = format!("@jean.dupont-interieur.gouv.fr:{}", server.server_name());
    assert_eq!(signed_in.body["user_id"], jean.as_str());
    // A login token works once.
    login(token).await.assert_error(403, "M_FORBIDDEN");
    login("elt_forged".to_owned())
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .raw()
        .get("/_matrix/client/v3/login/sso/redirect/google?redirectUrl=https%3A%2F%2Fx")
        .await
        .assert_error(404, "M_NOT_FOUND");

    // A signed-in device lets a new one in with a login token, after the password again.
    let (_, alice) = crate::room_helpers::user(server.raw(), "alice").await;
    let challenge = alice
        .post("/_matrix/client/v1/login/get_token", json!({}))
        .await;
    assert_eq!(challenge.status, 401);
    let session = challenge.body["session"].as_str().unwrap().to_owned();
    let alice_id = format!("@alice:{}", server.server_name());
    let granted = alice
        .post(
            "/_matrix/client/v1/login/get_token",
            json!({"auth": {"type": "m.login.password", "session": session,
                            "identifier": {"type": "m.id.user", "user": alice_id},
                            "password": "alice's password"}}),
        )
        .await;
    granted.assert_ok();
    assert!(
        granted.body["expires_in_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    let token = granted.body["login_token"].as_str().unwrap().to_owned();
    // matrix-sdk signs the new device in with it.
    let client = matrix_sdk::Client::builder()
        .homeserver_url(&base)
        .build()
        .await
        .unwrap();
    client
        .matrix_auth()
        .login_token(&token)
        .initial_device_display_name("new laptop")
        .send()
        .await
        .expect("login with the token");
    assert_eq!(client.user_id().unwrap().as_str(), alice_id);
}

pub(crate) fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn element_webs_library_signs_in_with_sso() {
    let (server, _provider) = server_and_provider().await;
    let redirect = "https://app.element.example/#/home";
    let started = run_js_sdk(
        "sso",
        json!({"baseUrl": server.base_url(), "redirectUrl": redirect, "step": "start"}),
    )
    .await;
    assert_eq!(
        started["idp"],
        json!({"id": "oidc", "name": "ProConnect"}),
        "{started}"
    );
    let types = started["types"].as_array().unwrap();
    assert!(types.contains(&json!("m.login.sso")) && types.contains(&json!("m.login.token")));

    // The browser goes where the library says, signs in at the provider, and is shown the
    // way back to Element Web.
    let mut browser = Browser::new();
    let start = browser.get(started["url"].as_str().unwrap()).await;
    let token = single_sign_on(&mut browser, start, "anne").await;

    let finish = |token: String| {
        let base = server.base_url();
        async move {
            run_js_sdk(
                "sso",
                json!({"baseUrl": base, "redirectUrl": redirect, "step": "finish", "loginToken": token}),
            )
            .await
        }
    };
    let signed_in = finish(token.clone()).await;
    assert_eq!(
        signed_in["userId"],
        format!("@anne.martin-finances.gouv.fr:{}", server.server_name()),
        "{signed_in}"
    );
    let again = finish(token).await;
    assert_eq!(
        again["error"],
        json!({"status": 403, "errcode": "M_FORBIDDEN"})
    );
}
