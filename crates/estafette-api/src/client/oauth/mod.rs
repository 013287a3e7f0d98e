//! The OAuth 2.0 API (spec v1.15): the server metadata under `/_matrix/client`, and the
//! authorization server's own endpoints under `/oauth2`, whose errors follow RFC 6749 rather
//! than Matrix's `errcode`.

mod auth_metadata;
mod authorize;
mod registration;
mod token;

use axum::Json;
use axum::response::{IntoResponse, Response};
use estafette_service::OAuthError;
use http::StatusCode;
use serde_json::json;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = auth_metadata::routes(router);
    let router = registration::routes(router);
    let router = authorize::routes(router);
    token::routes(router)
}

/// An OAuth error as RFC 6749 §5.2 words it: 401 for a client that failed to authenticate,
/// 400 otherwise; never cached.
fn oauth_error(err: OAuthError) -> Response {
    let status = if err.is_client_error() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        [(http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": err.error, "error_description": err.description})),
    )
        .into_response()
}
