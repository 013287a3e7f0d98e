//! `POST /oauth2/registration`: dynamic client registration (RFC 7591).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use estafette_service::{OAuthError, REGISTRATION_PATH};
use http::{Method, StatusCode};
use serde_json::Value;

use super::oauth_error;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.axum(
        REGISTRATION_PATH,
        &[Method::POST],
        axum::routing::post(register_client),
    )
}

async fn register_client(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Ok(metadata) = serde_json::from_slice::<Value>(&body) else {
        return Ok(oauth_error(OAuthError {
            error: "invalid_client_metadata",
            description: "The body must be the client metadata as JSON".to_owned(),
        }));
    };
    Ok(
        match state.services.oauth.register_client(&metadata).await? {
            Ok(client) => (StatusCode::CREATED, Json(client.metadata)).into_response(),
            Err(err) => oauth_error(err),
        },
    )
}
