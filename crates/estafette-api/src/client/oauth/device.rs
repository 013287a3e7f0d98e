//! The device authorization grant (RFC 8628): `POST /oauth2/device_authorization` for the
//! device, and the page at `/oauth2/device` where the user approves its code.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use estafette_service::{DEVICE_AUTHORIZATION_PATH, DEVICE_PAGE_PATH, normalize_user_code};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::authorize::html;
use super::oauth_error;
use crate::html::{escape, page};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            DEVICE_AUTHORIZATION_PATH,
            &[Method::POST],
            axum::routing::post(device_authorization),
        )
        .axum(
            DEVICE_PAGE_PATH,
            &[Method::GET, Method::POST],
            axum::routing::get(device_page).post(device_decision),
        )
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizationForm {
    client_id: Option<String>,
    scope: Option<String>,
}

async fn device_authorization(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let form: AuthorizationForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let answer = state
        .services
        .oauth
        .device_authorization(form.client_id.as_deref(), form.scope.as_deref())
        .await?;
    Ok(match answer {
        Ok(grant) => (
            [(http::header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "device_code": grant.device_code,
                "user_code": grant.user_code,
                "verification_uri": grant.verification_uri,
                "verification_uri_complete": grant.verification_uri_complete,
                "expires_in": grant.expires_in_secs,
                "interval": grant.interval_secs,
            })),
        )
            .into_response(),
        Err(err) => oauth_error(err),
    })
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    user_code: Option<String>,
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p role=\"status\">{}</p>",
        escape(title),
        escape(text)
    );
    html(status, page(title, &body))
}

/// The code entry form, or the approval form for a code.
async fn device_page(
    State(state): State<AppState>,
    query: Query<PageQuery>,
) -> Result<Response, ApiError> {
    let Some(code) = query.0.user_code.filter(|c| !c.trim().is_empty()) else {
        let body = format!(
            "<h1>Connect a device</h1><form method=\"get\" action=\"{DEVICE_PAGE_PATH}\">\
             <label for=\"user_code\">The code the device shows</label>\
             <input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" required>\
             <button type=\"submit\">Continue</button></form>"
        );
        return Ok(html(StatusCode::OK, page("Connect a device", &body)));
    };
    Ok(match state.services.oauth.device_request(&code).await? {
        Ok(client) => approval_form(&client, &normalize_user_code(&code), None),
        Err(text) => message(StatusCode::BAD_REQUEST, "Code not valid", &text),
    })
}

fn approval_form(client: &str, code: &str, error: Option<&str>) -> Response {
    let alert = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Connect a device</h1><p>{} asks for full access to your account with the code \
         <strong>{}</strong>. Check that the device shows this code.</p>{alert}\
         <form method=\"post\" action=\"{DEVICE_PAGE_PATH}\">\
         <input type=\"hidden\" name=\"user_code\" value=\"{}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" name=\"action\" value=\"approve\">Allow</button> \
         <button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Deny</button></form>",
        escape(client),
        escape(code),
        escape(code),
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    html(status, page("Connect a device", &body))
}

#[derive(Debug, Default, Deserialize)]
struct DecisionForm {
    user_code: Option<String>,
    action: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

async fn device_decision(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (address, form) = super::browser_form::<DecisionForm>(&state, request).await;
    let form = form.unwrap_or_default();
    let Some(code) = form.user_code else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            "Code not valid",
            "The form names no code.",
        ));
    };
    let oauth = &state.services.oauth;
    let approval = match form.action.as_deref() {
        Some("approve") => {
            state
                .services
                .rate_limits
                .check_login(&address)
                .await
                .map_err(ApiError::limit_exceeded)?;
            Some((
                form.username.unwrap_or_default(),
                form.password.unwrap_or_default(),
            ))
        }
        Some("deny") => None,
        _ => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                "Code not valid",
                "The form asks for nothing.",
            ));
        }
    };
    let credentials = approval.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    Ok(match oauth.decide_device(&code, credentials).await? {
        Ok(true) if approval.is_some() => message(
            StatusCode::OK,
            "Device connected",
            "The device is signed in to your account: you may close this page.",
        ),
        Ok(true) => message(
            StatusCode::OK,
            "Device refused",
            "The device was not let in.",
        ),
        Ok(false) => {
            let client = oauth.device_request(&code).await?.unwrap_or_default();
            approval_form(
                &client,
                &normalize_user_code(&code),
                Some("Wrong username or password."),
            )
        }
        Err(text) => message(StatusCode::BAD_REQUEST, "Code not valid", &text),
    })
}
