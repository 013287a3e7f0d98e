//! The account management page, `GET`/`POST /account` (its `account_management_uri`): the
//! user signs in (password, or the upstream provider through `/account/upstream`), then
//! lists and signs out devices, or approves a cross-signing reset (`m.oauth`). Plain HTML
//! forms, each carrying the session's anti-forgery token; the session is an `HttpOnly`
//! cookie scoped to the page.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use estafette_service::{ACCOUNT_PATH, AccountSession, DeviceRecord};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use ruma::{OwnedDeviceId, OwnedUserId};
use serde::Deserialize;

use super::authorize::html;
use crate::html::{escape, page};
use crate::router::Routes;
use crate::{ApiError, AppState};

const UPSTREAM_PATH: &str = "/account/upstream";
const COOKIE: &str = "estafette_account";
const SESSION_SECONDS: u32 = 15 * 60;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            ACCOUNT_PATH,
            &[Method::GET, Method::POST],
            axum::routing::get(show).post(act),
        )
        .axum(UPSTREAM_PATH, &[Method::GET], axum::routing::get(upstream))
}

/// What a link into the page asks for (the spec's `action` and `device_id`).
#[derive(Debug, Default, Clone, Deserialize)]
struct Target {
    action: Option<String>,
    device_id: Option<String>,
}

impl Target {
    /// The page's own path for this target: where a sign-in comes back to.
    fn path(&self) -> String {
        let pairs: Vec<(&str, &str)> = [("action", &self.action), ("device_id", &self.device_id)]
            .into_iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
            .collect();
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() {
            ACCOUNT_PATH.to_owned()
        } else {
            format!("{ACCOUNT_PATH}?{query}")
        }
    }

    fn hidden_fields(&self) -> String {
        let field = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    format!(
                        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                        escape(v)
                    )
                })
                .unwrap_or_default()
        };
        format!(
            "{}{}",
            field("action", &self.action),
            field("device_id", &self.device_id)
        )
    }
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn cookie_header(state: &AppState, value: &str, max_age: u32) -> HeaderValue {
    let secure = if state
        .services
        .context
        .config
        .base_url()
        .starts_with("https://")
    {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={ACCOUNT_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("estafette_account=; Max-Age=0"))
}

async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, AccountSession)>, ApiError> {
    let Some(cookie) = cookie_of(headers) else {
        return Ok(None);
    };
    let session = state.services.oauth.account_session(&cookie).await?;
    Ok(session.map(|session| (cookie, session)))
}

fn respond(status: StatusCode, title: &str, body: &str) -> Response {
    html(
        status,
        page(title, &format!("<h1>{}</h1>{body}", escape(title))),
    )
}

/// Signs the browser in as `user_id` and sends it back to `return_to` on the page.
pub(super) async fn signed_in(
    state: &AppState,
    user_id: &OwnedUserId,
    return_to: &str,
) -> Result<Response, ApiError> {
    let cookie = state.services.oauth.open_account_session(user_id).await?;
    // Only ever back to the page itself.
    let target = if return_to.starts_with(ACCOUNT_PATH) {
        return_to
    } else {
        ACCOUNT_PATH
    };
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(state, &cookie, SESSION_SECONDS),
    );
    Ok(response)
}

fn sign_in_page(state: &AppState, target: &Target, error: Option<&str>) -> Response {
    let alert = error
        .map(|message| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message)))
        .unwrap_or_default();
    let upstream = state
        .services
        .oauth
        .upstream_name()
        .map(|name| {
            let link = target.path().replacen(ACCOUNT_PATH, UPSTREAM_PATH, 1);
            format!(
                "<p><a href=\"{}\">Sign in with {}</a></p><p>or</p>",
                escape(&link),
                escape(&name)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p>Sign in to manage your account.</p>{alert}{upstream}\
         <form method=\"post\" action=\"{ACCOUNT_PATH}\">{}\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" name=\"do\" value=\"sign_in\">Sign in</button></form>",
        target.hidden_fields()
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    respond(status, "Your account", &body)
}

/// A button posting `what` (with the session's token and the page's target).
fn button(session: &AccountSession, what: &str, device: Option<&str>, label: &str) -> String {
    let device = device
        .map(|d| {
            format!(
                "<input type=\"hidden\" name=\"device_id\" value=\"{}\">",
                escape(d)
            )
        })
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{ACCOUNT_PATH}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">{device}\
         <button type=\"submit\" name=\"do\" value=\"{what}\">{}</button></form>",
        escape(&session.csrf),
        escape(label)
    )
}

fn device_item(session: &AccountSession, device: &DeviceRecord) -> String {
    let name = device
        .display_name
        .as_deref()
        .unwrap_or(device.device_id.as_str());
    format!(
        "<li><strong>{}</strong> ({}){}</li>",
        escape(name),
        escape(device.device_id.as_str()),
        button(
            session,
            "device_delete",
            Some(device.device_id.as_str()),
            &format!("Sign out {name}")
        )
    )
}

/// The page for a signed-in browser: what `target` asks for.
async fn manage(
    state: &AppState,
    session: &AccountSession,
    target: &Target,
) -> Result<Response, ApiError> {
    let oauth = &state.services.oauth;
    let footer = format!(
        "<p>Signed in as {}.</p>{}",
        escape(session.user_id.as_str()),
        button(session, "sign_out", None, "Leave this page signed out")
    );
    if target.action.as_deref() == Some("org.matrix.cross_signing_reset") {
        let body = format!(
            "<p>Your application asks to reset your cross-signing identity. Do it only if you \
             lost access to all your other devices and your recovery key: you will have to \
             verify your devices and contacts again.</p>{}{footer}",
            button(session, "cross_signing_reset", None, "Allow the reset")
        );
        return Ok(respond(StatusCode::OK, "Reset your identity", &body));
    }
    let devices = oauth.account_devices(&session.user_id).await?;
    let one = matches!(
        target.action.as_deref(),
        Some(
            "org.matrix.device_view"
                | "org.matrix.device_delete"
                | "org.matrix.session_view"
                | "org.matrix.session_end"
        )
    );
    if let (true, Some(device_id)) = (one, target.device_id.as_deref()) {
        let Some(device) = devices.iter().find(|d| d.device_id.as_str() == device_id) else {
            let body = format!(
                "<p role=\"alert\">No device {} is signed in.</p>{footer}",
                escape(device_id)
            );
            return Ok(respond(StatusCode::NOT_FOUND, "Device", &body));
        };
        let body = format!("<ul>{}</ul>{footer}", device_item(session, device));
        return Ok(respond(StatusCode::OK, "Device", &body));
    }
    let items: String = devices.iter().map(|d| device_item(session, d)).collect();
    let body = format!("<ul>{items}</ul>{footer}");
    Ok(respond(StatusCode::OK, "Your devices", &body))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(target): Query<Target>,
) -> Result<Response, ApiError> {
    match session_of(&state, &headers).await? {
        Some((_, session)) => manage(&state, &session, &target).await,
        None => Ok(sign_in_page(&state, &target, None)),
    }
}

/// The "Sign in with …" link: to the provider, and back to the same target.
async fn upstream(
    State(state): State<AppState>,
    Query(target): Query<Target>,
) -> Result<Response, ApiError> {
    let url = state
        .services
        .oauth
        .start_account_upstream(&target.path())
        .await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct Submitted {
    #[serde(rename = "do")]
    what: Option<String>,
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
    action: Option<String>,
    device_id: Option<String>,
}

async fn act(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let (address, form) = super::browser_form::<Submitted>(&state, request).await;
    let Some(form) = form else {
        return Ok(respond(
            StatusCode::BAD_REQUEST,
            "Your account",
            "<p role=\"alert\">The form could not be read.</p>",
        ));
    };
    let oauth = &state.services.oauth;
    if form.what.as_deref() == Some("sign_in") {
        state
            .services
            .rate_limits
            .check_login(&address)
            .await
            .map_err(ApiError::limit_exceeded)?;
        let target = Target {
            action: form.action,
            device_id: form.device_id,
        };
        let username = form.username.as_deref().unwrap_or_default();
        let password = form.password.as_deref().unwrap_or_default();
        return match oauth.account_password_sign_in(username, password).await? {
            Ok(user_id) => signed_in(&state, &user_id, &target.path()).await,
            Err(message) => Ok(sign_in_page(&state, &target, Some(&message))),
        };
    }
    let session = session_of(&state, &headers).await?;
    let Some((cookie, session)) =
        session.filter(|(_, s)| form.csrf.as_deref() == Some(s.csrf.as_str()))
    else {
        let body = format!(
            "<p role=\"alert\">This page has expired. <a href=\"{ACCOUNT_PATH}\">Start again</a>.</p>"
        );
        return Ok(respond(StatusCode::FORBIDDEN, "Your account", &body));
    };
    let back = format!("<p><a href=\"{ACCOUNT_PATH}\">Back to your devices</a></p>");
    match form.what.as_deref() {
        Some("device_delete") => {
            let device_id = OwnedDeviceId::from(form.device_id.unwrap_or_default());
            if !oauth.sign_device_out(&session.user_id, &device_id).await? {
                let body = format!("<p role=\"alert\">That device is not signed in.</p>{back}");
                return Ok(respond(StatusCode::NOT_FOUND, "Device", &body));
            }
            let body = format!(
                "<p role=\"status\">{} is signed out.</p>{back}",
                escape(device_id.as_str())
            );
            Ok(respond(StatusCode::OK, "Device signed out", &body))
        }
        Some("cross_signing_reset") => {
            oauth.approve_cross_signing_reset(&session.user_id).await?;
            let body = "<p role=\"status\">Go back to your application: it may reset your \
                        identity in the next ten minutes.</p>";
            Ok(respond(StatusCode::OK, "Reset allowed", body))
        }
        Some("sign_out") => {
            oauth.close_account_session(&cookie).await?;
            let mut response = respond(
                StatusCode::OK,
                "Signed out",
                "<p role=\"status\">This page is signed out.</p>",
            );
            response
                .headers_mut()
                .insert(header::SET_COOKIE, cookie_header(&state, "", 0));
            Ok(response)
        }
        _ => Ok(respond(
            StatusCode::BAD_REQUEST,
            "Your account",
            "<p role=\"alert\">The form asks for nothing this page does.</p>",
        )),
    }
}
