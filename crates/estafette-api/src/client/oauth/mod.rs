//! The OAuth 2.0 API (spec v1.15): the server metadata under `/_matrix/client`, and the
//! authorization server's own endpoints under `/oauth2`, whose errors follow RFC 6749 rather
//! than Matrix's `errcode`.

mod account;
mod auth_metadata;
mod authorize;
mod device;
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
    let router = device::routes(router);
    let router = account::routes(router);
    token::routes(router)
}

/// A browser's form post: the client's address (for the sign-in rate limit) and the form,
/// `None` when it cannot be read as one.
async fn browser_form<T: for<'de> serde::Deserialize<'de>>(
    state: &crate::AppState,
    request: axum::extract::Request,
) -> (String, Option<T>) {
    let (parts, body) = request.into_parts();
    let address = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    let limit = state.services.context.config.limits.max_request_body_bytes;
    let form = match axum::body::to_bytes(body, limit).await {
        Ok(body) => serde_urlencoded::from_bytes(&body).ok(),
        Err(_) => None,
    };
    (address, form)
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
