//! This server's users' end-to-end keys, for other servers:
//! `/_matrix/federation/v1/user/keys/query` and `/_matrix/federation/v1/user/keys/claim`.

use axum::Router;
use axum::extract::State;
use ruma::api::federation::keys::{claim_keys, get_keys};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::RouterExt;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
    router.ruma(get_keys).ruma(claim_keys)
}

/// Builds a ruma field from plain JSON of the same shape.
fn typed<T: serde::de::DeserializeOwned>(value: impl serde::Serialize) -> Result<T, ApiError> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::bad_json(format!("Stored keys are malformed: {e}")))
}

/// `POST /_matrix/federation/v1/user/keys/query`: device and cross-signing keys (never a
/// user-signing key) of this server's users.
async fn get_keys(
    State(state): State<AppState>,
    request: Ruma<get_keys::v1::Request>,
) -> ApiResult<get_keys::v1::Response> {
    tracing::debug!(origin = ?request.origin, "key query");
    let result = state
        .services
        .device_keys
        .query_local(None, &request.body.device_keys)
        .await?;
    let mut response = get_keys::v1::Response::new(typed(&result.device_keys)?);
    response.master_keys = typed(&result.master_keys)?;
    response.self_signing_keys = typed(&result.self_signing_keys)?;
    Ok(RumaResponse(response))
}

/// `POST /_matrix/federation/v1/user/keys/claim`: one-time (or fallback) keys of this
/// server's users' devices.
async fn claim_keys(
    State(state): State<AppState>,
    request: Ruma<claim_keys::v1::Request>,
) -> ApiResult<claim_keys::v1::Response> {
    tracing::debug!(origin = ?request.origin, "key claim");
    let claimed = state
        .services
        .device_keys
        .claim_local(&request.body.one_time_keys)
        .await?;
    Ok(RumaResponse(claim_keys::v1::Response::new(typed(
        &claimed,
    )?)))
}
