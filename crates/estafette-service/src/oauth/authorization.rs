//! The authorization endpoint: the request checked, the user signed in (or registered, with
//! `prompt=create`) on the server's own page, and sent back to the client with a code.

use estafette_storage::{NewGrant, OAuthGrantRecord};
use serde_json::Value as JsonValue;
use url::Url;

use super::{GRANT_LIFETIME_MS, OAuthService, grants_api, scoped_device};
use crate::accounts::digest;
use crate::{NewAccount, ServiceError, ServiceResult};

const GRANT_ID_LENGTH: usize = 32;
const CODE_LENGTH: usize = 32;

/// The query of an authorization request, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub response_mode: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
}

/// What the sign-in page shows.
#[derive(Debug, Clone)]
pub struct AuthorizationPage {
    /// Names the request in the page's form.
    pub grant_id: String,
    pub client_name: String,
    pub client_uri: String,
    /// Show the registration form (`prompt=create`, where anyone may register).
    pub create: bool,
    /// The upstream provider users may sign in with instead, by name.
    pub upstream: Option<String>,
}

/// A request that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationError {
    /// The client or its redirect URI cannot be trusted: the user is told, nothing redirects.
    Shown(String),
    /// The client is sent the error at its redirect URI (this URL).
    Redirect(String),
}

/// How a sign-in (or registration) went.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Back to the client, with the code or an error.
    Redirect(String),
    /// The form again, with what went wrong.
    Retry {
        page: AuthorizationPage,
        message: String,
    },
    /// The request is over (expired or used): shown to the user.
    Ended(String),
    /// Single sign-on done: the user confirms going back to `destination` (the client's host)
    /// at `url`, which carries a login token.
    Continue { url: String, destination: String },
    /// Signed in for the account management page, to go back to `return_to` (its path).
    Account {
        user_id: ruma::OwnedUserId,
        return_to: String,
    },
}

/// Where the client gets its answer: `params` in the redirect URI's query or fragment.
fn answer(redirect_uri: &str, response_mode: &str, params: &[(&str, &str)]) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    if response_mode == "fragment" {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        url.set_fragment(Some(&encoded));
    } else {
        url.query_pairs_mut().extend_pairs(params);
    }
    url.to_string()
}

/// Whether `asked` is one of the client's redirect URIs; on loopback, any port goes (RFC 8252).
fn registered(asked: &str, client: &JsonValue) -> bool {
    let Ok(mut asked_url) = Url::parse(asked) else {
        return false;
    };
    let uris = client["redirect_uris"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    uris.iter().filter_map(JsonValue::as_str).any(|uri| {
        if uri == asked {
            return true;
        }
        let loopback = asked_url.scheme() == "http"
            && matches!(
                asked_url.host_str(),
                Some("localhost" | "127.0.0.1" | "[::1]")
            );
        loopback && asked_url.set_port(None).is_ok() && asked_url.as_str() == uri
    })
}

/// A PKCE challenge: 43 to 128 characters of base64url (RFC 7636 §4.2).
fn well_formed_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

impl OAuthService {
    /// Checks an authorization request and records it for the sign-in page.
    pub async fn start_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> ServiceResult<Result<AuthorizationPage, AuthorizationError>> {
        let shown = |message: &str| Ok(Err(AuthorizationError::Shown(message.to_owned())));
        let Some(client_id) = request.client_id.as_deref() else {
            return shown("The application did not say who it is (client_id is missing).");
        };
        let Some(client) = self.client(client_id).await? else {
            return shown("This application is not registered with this server.");
        };
        let Some(redirect_uri) = request.redirect_uri.as_deref() else {
            return shown("The application did not say where to return (redirect_uri is missing).");
        };
        if !registered(redirect_uri, &client) {
            return shown("The application asked to return to an address it did not register.");
        }
        let response_mode = request.response_mode.as_deref().unwrap_or("query");
        let state = request.state.as_deref();
        let refuse = |error: &str, description: &str| {
            let mode = if matches!(response_mode, "query" | "fragment") {
                response_mode
            } else {
                "query"
            };
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = state {
                params.push(("state", state));
            }
            Ok(Err(AuthorizationError::Redirect(answer(
                redirect_uri,
                mode,
                &params,
            ))))
        };
        if request.response_type.as_deref() != Some("code") {
            return refuse(
                "unsupported_response_type",
                "The only response type is 'code'",
            );
        }
        if !matches!(response_mode, "query" | "fragment") {
            return refuse("invalid_request", "response_mode is 'query' or 'fragment'");
        }
        if request.code_challenge_method.as_deref() != Some("S256") {
            return refuse(
                "invalid_request",
                "PKCE with code_challenge_method=S256 is required",
            );
        }
        let challenge = request.code_challenge.as_deref().unwrap_or_default();
        if !well_formed_challenge(challenge) {
            return refuse(
                "invalid_request",
                "code_challenge must be 43 to 128 base64url characters",
            );
        }
        let scope = request.scope.as_deref().unwrap_or_default();
        if !grants_api(scope) {
            return refuse(
                "invalid_scope",
                "The scope must include urn:matrix:client:api:*",
            );
        }
        if let Err(err) = scoped_device(scope) {
            return refuse(err.error, &err.description);
        }
        let prompt = request.prompt.as_deref();
        if prompt == Some("none") {
            return refuse(
                "login_required",
                "The user must sign in on this server's page",
            );
        }
        let grant_id = self.context.random.alphanumeric(GRANT_ID_LENGTH);
        let now = self.context.now();
        self.context
            .storage
            .oauth_grants
            .create(
                &NewGrant {
                    id: &grant_id,
                    client_id,
                    redirect_uri,
                    scope,
                    state,
                    code_challenge: challenge,
                    response_mode,
                    prompt,
                    now,
                },
                now.saturating_sub(GRANT_LIFETIME_MS * 6),
            )
            .await?;
        Ok(Ok(self.page(grant_id, &client, prompt)))
    }

    /// The form of `grant` again, with what went wrong.
    fn retry(&self, grant: &OAuthGrantRecord, client: &JsonValue, message: String) -> SignIn {
        SignIn::Retry {
            page: self.page(grant.id.clone(), client, grant.prompt.as_deref()),
            message,
        }
    }

    fn page(
        &self,
        grant_id: String,
        client: &JsonValue,
        prompt: Option<&str>,
    ) -> AuthorizationPage {
        let client_uri = client["client_uri"].as_str().unwrap_or_default().to_owned();
        AuthorizationPage {
            grant_id,
            client_name: client["client_name"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| client_uri.clone()),
            client_uri,
            create: prompt == Some("create") && self.accounts.registration_open(),
            upstream: self.upstream_name(),
        }
    }

    /// The pending request of a sign-in form, with its client.
    pub(super) async fn pending(
        &self,
        grant_id: &str,
    ) -> ServiceResult<Result<(OAuthGrantRecord, JsonValue), String>> {
        let ended = "This sign-in request has expired or was already used: go back to the application and start again.";
        let Some(grant) = self.context.storage.oauth_grants.get(grant_id).await? else {
            return Ok(Err(ended.to_owned()));
        };
        let expired = grant.created_ts.saturating_add(GRANT_LIFETIME_MS) < self.context.now();
        if expired || grant.completed_ts.is_some() {
            return Ok(Err(ended.to_owned()));
        }
        let Some(client) = self.client(&grant.client_id).await? else {
            return Ok(Err(ended.to_owned()));
        };
        Ok(Ok((grant, client)))
    }

    /// The sign-in form was sent: on the right password, back to the client with a code.
    pub async fn sign_in(
        &self,
        grant_id: &str,
        username: &str,
        password: &str,
    ) -> ServiceResult<SignIn> {
        let (grant, client) = match self.pending(grant_id).await? {
            Ok(pending) => pending,
            Err(message) => return Ok(SignIn::Ended(message)),
        };
        let retry = |message: &str| self.retry(&grant, &client, message.to_owned());
        let user_id = match self.sessions.local_user_id(username.trim()) {
            Ok(user_id) => user_id,
            Err(_) => return Ok(retry("Wrong username or password.")),
        };
        match self.sessions.check_password(&user_id, password).await {
            Ok(()) => {}
            Err(ServiceError::Forbidden(_)) => return Ok(retry("Wrong username or password.")),
            Err(ServiceError::UserDeactivated) => {
                return Ok(retry("This account has been deactivated."));
            }
            Err(other) => return Err(other),
        }
        self.grant_code(&grant, &user_id).await
    }

    /// The registration form was sent (`prompt=create`): the account is created, then the
    /// client gets its code as after a sign-in.
    pub async fn register(
        &self,
        grant_id: &str,
        username: &str,
        password: &str,
        confirmation: &str,
    ) -> ServiceResult<SignIn> {
        let (grant, client) = match self.pending(grant_id).await? {
            Ok(pending) => pending,
            Err(message) => return Ok(SignIn::Ended(message)),
        };
        let retry = |message: String| self.retry(&grant, &client, message);
        if !self.accounts.registration_open() {
            return Ok(retry("Registration is closed on this server.".to_owned()));
        }
        if password != confirmation {
            return Ok(retry("The two passwords differ.".to_owned()));
        }
        if let Err(err) =
            crate::accounts::check_password_policy(&self.context.config.auth, password)
        {
            return Ok(retry(err.to_string()));
        }
        let account = NewAccount {
            localpart: Some(username.trim().to_lowercase()),
            password: Some(password.to_owned()),
            is_admin: false,
            display_name: None,
            trusted_localpart: false,
        };
        let user_id = match self.accounts.create(account).await {
            Ok(user_id) => user_id,
            Err(ServiceError::UserInUse) => {
                return Ok(retry("This username is taken.".to_owned()));
            }
            Err(ServiceError::InvalidUsername(message)) => return Ok(retry(message)),
            Err(other) => return Err(other),
        };
        self.grant_code(&grant, &user_id).await
    }

    /// The user said no: back to the client with `access_denied`.
    pub async fn deny(&self, grant_id: &str) -> ServiceResult<SignIn> {
        let (grant, _) = match self.pending(grant_id).await? {
            Ok(pending) => pending,
            Err(message) => return Ok(SignIn::Ended(message)),
        };
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "The user declined"),
        ];
        if let Some(state) = grant.state.as_deref() {
            params.push(("state", state));
        }
        Ok(SignIn::Redirect(answer(
            &grant.redirect_uri,
            &grant.response_mode,
            &params,
        )))
    }

    pub(super) async fn grant_code(
        &self,
        grant: &OAuthGrantRecord,
        user_id: &ruma::UserId,
    ) -> ServiceResult<SignIn> {
        let code = self.context.random.alphanumeric(CODE_LENGTH);
        let completed = self
            .context
            .storage
            .oauth_grants
            .complete(&grant.id, user_id, &digest(&code), self.context.now())
            .await?;
        if !completed {
            return Ok(SignIn::Ended(
                "This sign-in request was already used: go back to the application.".to_owned(),
            ));
        }
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = grant.state.as_deref() {
            params.push(("state", state));
        }
        Ok(SignIn::Redirect(answer(
            &grant.redirect_uri,
            &grant.response_mode,
            &params,
        )))
    }
}
