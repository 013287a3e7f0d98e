//! `GET /oauth2/authorize`: the sign-in page (or the registration page, with `prompt=create`)
//! of an authorization request; `POST /oauth2/authorize`: its form, answered with a redirect
//! back to the client.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use estafette_service::{
    AUTHORIZE_PATH, AuthorizationError, AuthorizationPage, AuthorizationRequest, SignIn,
    UPSTREAM_CALLBACK_PATH, UPSTREAM_START_PATH, UpstreamCallback,
};
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::html::{escape, page};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            AUTHORIZE_PATH,
            &[Method::GET, Method::POST],
            axum::routing::get(authorize).post(submit),
        )
        .axum(
            UPSTREAM_START_PATH,
            &[Method::GET],
            axum::routing::get(start_upstream),
        )
        .axum(
            UPSTREAM_CALLBACK_PATH,
            &[Method::GET],
            axum::routing::get(upstream_callback),
        )
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    response_mode: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
}

/// Pages are never cached, nor shown inside another site's frame. (No `form-action`: browsers
/// apply it to the redirect after the form too, which goes to the client, elsewhere.)
pub(super) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (http::header::CACHE_CONTROL, "no-store"),
            (http::header::X_FRAME_OPTIONS, "DENY"),
            (
                http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        Html(body),
    )
        .into_response()
}

fn ended(message: &str) -> Response {
    let body = format!(
        "<h1>Sign-in stopped</h1><p role=\"alert\">{}</p>",
        escape(message)
    );
    html(StatusCode::BAD_REQUEST, page("Sign-in stopped", &body))
}

/// The sign-in form, or the registration form; `error` says what went wrong last time.
fn form(authorization: &AuthorizationPage, error: Option<&str>) -> Response {
    let client = format!(
        "<a href=\"{}\">{}</a>",
        escape(&authorization.client_uri),
        escape(&authorization.client_name)
    );
    let alert = error
        .map(|message| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message)))
        .unwrap_or_default();
    let grant = escape(&authorization.grant_id);
    let (title, intro, fields, action) = if authorization.create {
        (
            "Create an account",
            format!("<p>Create an account to continue to {client}.</p>"),
            "<label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required>\
             <label for=\"confirm\">Password again</label>\
             <input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required>",
            ("register", "Create the account"),
        )
    } else {
        (
            "Sign in",
            format!(
                "<p>Sign in to continue to {client}. It will have full access to your account.</p>"
            ),
            "<label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>",
            ("sign_in", "Sign in"),
        )
    };
    let upstream = authorization
        .upstream
        .as_deref()
        .map(|name| {
            format!(
                "<p><a href=\"{UPSTREAM_START_PATH}?grant={grant}\">Sign in with {}</a></p><p>or</p>",
                escape(name)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1>{intro}{alert}{upstream}\
         <form method=\"post\" action=\"{AUTHORIZE_PATH}\">\
         <input type=\"hidden\" name=\"grant\" value=\"{grant}\">{fields}\
         <button type=\"submit\" name=\"action\" value=\"{}\">{}</button> \
         <button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Cancel</button>\
         </form>",
        action.0, action.1
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    html(status, page(title, &body))
}

async fn authorize(
    State(state): State<AppState>,
    query: Query<AuthorizeQuery>,
) -> Result<Response, ApiError> {
    let Query(query) = query;
    let request = AuthorizationRequest {
        response_type: query.response_type,
        client_id: query.client_id,
        redirect_uri: query.redirect_uri,
        scope: query.scope,
        state: query.state,
        response_mode: query.response_mode,
        code_challenge: query.code_challenge,
        code_challenge_method: query.code_challenge_method,
        prompt: query.prompt,
    };
    Ok(
        match state.services.oauth.start_authorization(&request).await? {
            Ok(authorization) => form(&authorization, None),
            Err(AuthorizationError::Shown(message)) => ended(&message),
            Err(AuthorizationError::Redirect(url)) => Redirect::to(&url).into_response(),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
struct SubmittedForm {
    grant: Option<String>,
    action: Option<String>,
    username: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (address, submitted) = super::browser_form::<SubmittedForm>(&state, request).await;
    let Some(submitted) = submitted else {
        return Ok(ended("The form could not be read."));
    };
    let Some(grant) = submitted.grant.as_deref() else {
        return Ok(ended("The form names no sign-in request."));
    };
    let oauth = &state.services.oauth;
    let username = submitted.username.as_deref().unwrap_or_default();
    let password = submitted.password.as_deref().unwrap_or_default();
    let outcome = match submitted.action.as_deref() {
        Some("deny") => oauth.deny(grant).await?,
        Some(action @ ("sign_in" | "register")) => {
            // Passwords tried here count against the same limit as `/login`.
            state
                .services
                .rate_limits
                .check_login(&address)
                .await
                .map_err(ApiError::limit_exceeded)?;
            if action == "sign_in" {
                oauth.sign_in(grant, username, password).await?
            } else {
                let confirm = submitted.confirm.as_deref().unwrap_or_default();
                oauth.register(grant, username, password, confirm).await?
            }
        }
        _ => return Ok(ended("The form asks for nothing this page does.")),
    };
    Ok(answer(outcome))
}

fn answer(outcome: SignIn) -> Response {
    match outcome {
        // 303: the browser follows with a GET.
        SignIn::Redirect(url) => Redirect::to(&url).into_response(),
        SignIn::Retry { page, message } => form(&page, Some(&message)),
        SignIn::Ended(message) => ended(&message),
        SignIn::Account { .. } => ended("This sign-in was for the account page."),
        SignIn::Continue { url, destination } => {
            // Never straight back: a site that started the sign-in itself would get the
            // user's login token. The user sees where the token goes.
            let body = format!(
                "<h1>Continue</h1><p>You are signed in. Continue to <strong>{}</strong> to use \
                 your account there; if you did not start this sign-in, close this page.</p>\
                 <p><a href=\"{}\">Continue to {}</a></p>",
                escape(&destination),
                escape(&url),
                escape(&destination),
            );
            html(StatusCode::OK, page("Continue", &body))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct StartQuery {
    grant: Option<String>,
}

/// The sign-in page's "Sign in with …" link: off to the upstream provider.
async fn start_upstream(
    State(state): State<AppState>,
    query: Query<StartQuery>,
) -> Result<Response, ApiError> {
    let Some(grant) = query.0.grant else {
        return Ok(ended("The link names no sign-in request."));
    };
    Ok(match state.services.oauth.start_upstream(&grant).await? {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(message) => ended(&message),
    })
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Back from the upstream provider.
async fn upstream_callback(
    State(state): State<AppState>,
    query: Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let Query(query) = query;
    let callback = UpstreamCallback {
        code: query.code,
        state: query.state,
        error: query.error,
        error_description: query.error_description,
    };
    match state.services.oauth.finish_upstream(&callback).await? {
        SignIn::Account { user_id, return_to } => {
            super::account::signed_in(&state, &user_id, &return_to).await
        }
        outcome => Ok(answer(outcome)),
    }
}
