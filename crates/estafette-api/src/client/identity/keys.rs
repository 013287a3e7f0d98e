//! The identity service's public key (the server's signing key): `GET
//! /_matrix/identity/v2/pubkey/{keyId}`, `/pubkey/isvalid` and `/pubkey/ephemeral/isvalid`.

use axum::extract::State;
use ruma::api::identity_service::keys::{
    check_public_key_validity, get_public_key, validate_ephemeral_key,
};
use ruma::third_party_invite::IdentityServerBase64PublicKey;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_public_key)
        .ruma(check_public_key_validity)
        .ruma(validate_ephemeral_key)
}

async fn get_public_key(
    State(state): State<AppState>,
    request: Ruma<get_public_key::v2::Request>,
) -> ApiResult<get_public_key::v2::Response> {
    let key_id = request.body.key_id.as_str();
    let key = state.services.identity.public_key(key_id).ok_or_else(|| {
        ApiError::new(
            http::StatusCode::NOT_FOUND,
            ruma::api::error::ErrorKind::NotFound,
            format!("No public key {key_id}"),
        )
    })?;
    Ok(RumaResponse(get_public_key::v2::Response::new(
        IdentityServerBase64PublicKey(key),
    )))
}

async fn check_public_key_validity(
    State(state): State<AppState>,
    request: Ruma<check_public_key_validity::v2::Request>,
) -> ApiResult<check_public_key_validity::v2::Response> {
    let valid = state
        .services
        .identity
        .is_own_key(&request.body.public_key.0);
    Ok(RumaResponse(check_public_key_validity::v2::Response::new(
        valid,
    )))
}

/// No ephemeral keys are handed out (they come with invitations, which are signed with the
/// long-term key): none is valid.
async fn validate_ephemeral_key(
    State(_state): State<AppState>,
    _request: Ruma<validate_ephemeral_key::v2::Request>,
) -> ApiResult<validate_ephemeral_key::v2::Response> {
    Ok(RumaResponse(validate_ephemeral_key::v2::Response::new(
        false,
    )))
}
