//! `POST` (or `PUT`) `/_estafette/hooks/v1/{token}`, or `/_estafette/hooks/v1` with
//! `Authorization: Bearer {token}`: what a CI or monitoring tool sends. Answered in the
//! hook's dialect, not as Matrix errors: Slack's `ok` and error strings, or hookshot's
//! `{"ok": …}` with the event's ID. `GET` is refused, so that link previews cannot fire a
//! hook.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use estafette_service::{PayloadError, PostRefusal, WEBHOOK_PATH, WebhookPayload};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::ClientIp;
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.axum(
        WEBHOOK_PATH,
        &[Method::POST, Method::PUT, Method::GET],
        axum::routing::post(post_with_header)
            .put(post_with_header)
            .get(refuse_get),
    )
}

/// How a hook answers: its sender's dialect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Generic,
    Slack,
}

fn answer(dialect: Dialect, status: StatusCode, slack: &str, generic: &str) -> Response {
    let mut response = match dialect {
        Dialect::Slack => (status, slack.to_owned()).into_response(),
        Dialect::Generic => {
            (status, axum::Json(json!({"ok": false, "error": generic}))).into_response()
        }
    };
    protect(response.headers_mut());
    response
}

/// What a browser that opens the URL may do with the answer: nothing.
fn protect(headers: &mut HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
}

pub(super) async fn refuse_get() -> Response {
    let mut response = (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({"ok": false, "error": "Webhooks take POST or PUT, never GET"})),
    )
        .into_response();
    protect(response.headers_mut());
    response
}

pub(super) async fn post_to_path(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    post(&state, &token, client_ip, request).await
}

async fn post_with_header(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    request: Request,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    match token {
        Some(token) => post(&state, &token, client_ip, request).await,
        None => answer(
            Dialect::Generic,
            StatusCode::NOT_FOUND,
            "no_service",
            "Webhook not found",
        ),
    }
}

async fn post(
    state: &AppState,
    token: &str,
    client_ip: Option<std::net::IpAddr>,
    request: Request,
) -> Response {
    let webhooks = &state.services.webhooks;
    let hook = match webhooks.admit(token, client_ip).await {
        Ok(hook) => hook,
        Err(refusal) => return refused(Dialect::Generic, refusal),
    };
    let dialect = if hook.format == "slack" {
        Dialect::Slack
    } else {
        Dialect::Generic
    };
    let limit = state.services.context.config.webhooks.max_body_bytes;
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return answer(
            dialect,
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_payload",
            &format!("The body exceeds {limit} bytes"),
        );
    };
    let Some(payload) = decode(&parts.headers, &bytes) else {
        return answer(
            dialect,
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "The body is not JSON, a form with a JSON `payload`, or text",
        );
    };
    match webhooks.post(&hook, &payload).await {
        Ok(event_id) => {
            let mut response = match dialect {
                Dialect::Slack => (StatusCode::OK, "ok").into_response(),
                Dialect::Generic => {
                    axum::Json(json!({"ok": true, "event_id": event_id})).into_response()
                }
            };
            protect(response.headers_mut());
            response
        }
        Err(refusal) => refused(dialect, refusal),
    }
}

/// A refusal as the sender's format says it (Slack's strings, or hookshot's JSON).
fn refused(dialect: Dialect, refusal: PostRefusal) -> Response {
    match refusal {
        PostRefusal::Gone => answer(
            dialect,
            StatusCode::NOT_FOUND,
            "no_service",
            "Webhook not found",
        ),
        PostRefusal::RateLimited { retry_after_secs } => {
            let mut response = answer(
                dialect,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many posts; retry later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        PostRefusal::Payload(PayloadError::NoText) => answer(
            dialect,
            StatusCode::BAD_REQUEST,
            "no_text",
            "The payload needs text, blocks or attachments",
        ),
        PostRefusal::Payload(PayloadError::Invalid(why)) => {
            answer(dialect, StatusCode::BAD_REQUEST, "invalid_payload", &why)
        }
        PostRefusal::Forbidden(why) => {
            answer(dialect, StatusCode::FORBIDDEN, "action_prohibited", &why)
        }
        PostRefusal::Failed(err) => {
            tracing::warn!("webhook post failed: {err}");
            answer(
                dialect,
                StatusCode::INTERNAL_SERVER_ERROR,
                "rollup_error",
                "The message could not be posted",
            )
        }
    }
}

/// The payload by its `Content-Type`: a form (Slack's `payload=` field holding JSON, or flat
/// fields), text, or JSON (also without a type, as older scripts send it).
fn decode(headers: &HeaderMap, bytes: &[u8]) -> Option<WebhookPayload> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form = || -> Option<WebhookPayload> {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((_, payload)) = fields.iter().find(|(k, _)| k == "payload") {
            return serde_json::from_str(payload).ok().map(WebhookPayload::Json);
        }
        let object: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        (!object.is_empty()).then_some(WebhookPayload::Json(Value::Object(object)))
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return form();
    }
    if content_type.starts_with("text/") {
        return std::str::from_utf8(bytes)
            .ok()
            .map(|text| WebhookPayload::Text(text.to_owned()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => Some(WebhookPayload::Json(value)),
        Err(_) if content_type.is_empty() => form(),
        Err(_) => None,
    }
}
