//! MSC4108's earlier rendezvous wire form, which matrix-rust-sdk 0.18 (Element X) speaks: the
//! payload is the `text/plain` body itself, its revision an `ETag`; a read with
//! `If-None-Match` answers 304 while nothing changed, a write must carry `If-Match` (412
//! `M_CONCURRENT_WRITE` when stale). The session is named by the URL `POST` answers with.

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use estafette_service::{MAX_LEGACY_PAYLOAD_BYTES, Rendezvous, RendezvousWrite};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use ruma::api::error::ErrorKind;
use serde_json::json;

use super::{admitted, read};
use crate::error::spec_errcode;
use crate::extract::{ClientIp, optional_requester};
use crate::router::Routes;
use crate::{ApiError, AppState};

const PATH: &str = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
const SESSION_PATH: &str = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous/{id}";
const TEXT_PLAIN: &str = "text/plain";

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(PATH, &[Method::POST], axum::routing::post(create))
        .axum(
            SESSION_PATH,
            &[Method::GET, Method::PUT, Method::DELETE],
            axum::routing::get(receive).put(send).delete(cancel),
        )
}

fn http_date(ts: u64) -> HeaderValue {
    let time = UNIX_EPOCH + Duration::from_millis(ts);
    ruma::http_headers::system_time_to_http_date(&time)
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// The headers every answer about a session carries: its revision and times, never cached,
/// the ETag readable by browser clients.
fn session_headers(session: &Rendezvous) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", session.token)) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::EXPIRES, http_date(session.expires_ts));
    headers.insert(header::LAST_MODIFIED, http_date(session.updated_ts));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    headers
}

/// Whether an `If-Match` / `If-None-Match` list names the session's revision.
fn names_revision(list: &HeaderValue, session: &Rendezvous) -> bool {
    list.to_str().is_ok_and(|list| {
        list.split(',').any(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == session.token
        })
    })
}

/// The payload of a write: `text/plain`, UTF-8, within the size limit.
fn payload(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    if body.len() > MAX_LEGACY_PAYLOAD_BYTES {
        return Err(ApiError::too_large(format!(
            "A rendezvous payload is at most {MAX_LEGACY_PAYLOAD_BYTES} bytes"
        )));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(TEXT_PLAIN) {
        return Err(ApiError::invalid_param(
            "A rendezvous payload must be sent as text/plain",
        ));
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::invalid_param("A rendezvous payload must be UTF-8 text"))
}

async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admitted(&state, ip).await?;
    let data = payload(&headers, &body)?;
    // matrix-sdk sends no access token here, even signed in; one that comes is checked.
    let signed_in = optional_requester(&uri, &headers, &state, ip)
        .await?
        .is_some();
    let session = state
        .services
        .rendezvous
        .create(signed_in, data, MAX_LEGACY_PAYLOAD_BYTES)
        .await?;
    let url = format!(
        "{}{PATH}/{}",
        state.services.context.config.base_url(),
        session.id
    );
    Ok((
        StatusCode::CREATED,
        session_headers(&session),
        Json(json!({ "url": url })),
    )
        .into_response())
}

async fn receive(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = read(&state, ip, &id, &headers).await?;
    let mut answer_headers = session_headers(&session);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|list| names_revision(list, &session))
    {
        return Ok((StatusCode::NOT_MODIFIED, answer_headers).into_response());
    }
    answer_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    Ok((StatusCode::OK, answer_headers, Body::from(session.data)).into_response())
}

async fn send(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admitted(&state, ip).await?;
    let data = payload(&headers, &body)?;
    let expected = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|tag| {
            tag.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::MissingParam,
                "A write must name the payload it replaces in If-Match",
            )
        })?;
    let written = state
        .services
        .rendezvous
        .write(&id, &expected, data, MAX_LEGACY_PAYLOAD_BYTES)
        .await?;
    Ok(match written {
        RendezvousWrite::Written(session) => {
            (StatusCode::ACCEPTED, session_headers(&session)).into_response()
        }
        RendezvousWrite::Conflict(session) => {
            let mut response = ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                spec_errcode("M_CONCURRENT_WRITE"),
                "The payload changed since this ETag; read it again",
            )
            .into_response();
            response.headers_mut().extend(session_headers(&session));
            response
        }
    })
}

async fn cancel(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admitted(&state, ip).await?;
    state.services.rendezvous.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
