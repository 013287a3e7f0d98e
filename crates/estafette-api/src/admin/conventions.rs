//! What every admin endpoint shares (SYNAPSE_ADMIN.md §1): the caller is a server admin,
//! query parameters parsed as Synapse parses them (unknown ones ignored, booleans exactly
//! `true` or `false`, integers non-negative), and paging.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};

use crate::extract::requester_of_parts;
use crate::{ApiError, AppState};

/// A server administrator's request (403 "You are not a server admin" otherwise).
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let requester = requester_of_parts(parts, state).await?;
        let what = format!("{} {}", parts.method, parts.uri.path());
        state.services.admin.ensure_admin(&requester, &what).await?;
        Ok(Self)
    }
}

/// Any signed-in caller (endpoints open to a user about themself, or to an administrator).
pub(super) struct Caller(pub estafette_service::Requester);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        requester_of_parts(parts, state).await.map(Self)
    }
}

/// A request body as Synapse reads it: JSON whatever the `Content-Type`, none at all being an
/// empty object; not JSON is `M_NOT_JSON`, not an object `M_BAD_JSON`.
pub(super) fn body_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_json("Content must be a JSON object.")),
        Err(_) => Err(ApiError::not_json("Content not JSON.")),
    }
}

/// A boolean body field: absent is `default`, anything but a boolean `M_BAD_JSON`.
pub(super) fn body_flag(
    body: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match body.get(name) {
        None => Ok(default),
        Some(serde_json::Value::Bool(value)) => Ok(*value),
        Some(_) => Err(ApiError::bad_json(format!(
            "Param '{name}' must be a boolean, if given"
        ))),
    }
}

/// The query string, every parameter once (the last wins), unknown ones kept for no one.
pub(super) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_param(format!("Invalid query: {e}")))?;
        Ok(Self(params))
    }
}

impl Params {
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `true`, `false`, or absent.
    pub(super) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_param(format!(
                "Boolean query parameter '{name}' must be one of ['true', 'false']"
            ))),
        }
    }

    /// A non-negative integer, or `default` when absent.
    pub(super) fn integer(&self, name: &str, default: u64) -> Result<u64, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(text) => text.parse::<u64>().map_err(|_| {
                ApiError::invalid_param(format!(
                    "Query parameter '{name}' must be a non-negative integer"
                ))
            }),
        }
    }

    /// `dir`: `f` (ascending, the default) or `b`.
    pub(super) fn descending(&self) -> Result<bool, ApiError> {
        match self.text("dir") {
            None | Some("f") => Ok(false),
            Some("b") => Ok(true),
            Some(_) => Err(ApiError::invalid_param(
                "Query parameter 'dir' must be one of ['b', 'f']",
            )),
        }
    }
}

/// Paging of the "offset, string token" family: `next_token` only while `from + limit` falls
/// short of the total, as Synapse answers.
pub(super) fn next_token(from: u64, limit: u64, returned: usize, total: u64) -> Option<String> {
    (from.saturating_add(limit) < total).then(|| (from + returned as u64).to_string())
}
