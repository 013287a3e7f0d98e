//! The Identity Service API (`/_matrix/identity/v2`): each server is its users' identity
//! server, so a client configured with its homeserver as identity server finds what it needs
//! there: status and terms, access tokens against OpenID tokens, hashed lookups, public keys.

mod account;
mod association;
mod invitation;
mod keys;
mod lookup;

use axum::extract::State;
use ruma::api::identity_service::discovery::{get_server_status, get_supported_versions};
use ruma::api::identity_service::tos::{accept_terms_of_service, get_terms_of_service};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = router
        .ruma(get_server_status)
        .ruma(get_supported_versions)
        .ruma(get_terms_of_service)
        .ruma(accept_terms_of_service);
    let router = account::routes(router);
    let router = association::routes(router);
    let router = invitation::routes(router);
    let router = lookup::routes(router);
    keys::routes(router)
}

/// `GET /_matrix/identity/v2`: the identity service is up.
async fn get_server_status(
    State(_state): State<AppState>,
    _request: Ruma<get_server_status::v2::Request>,
) -> ApiResult<get_server_status::v2::Response> {
    Ok(RumaResponse(get_server_status::v2::Response::new()))
}

/// `GET /_matrix/identity/versions`
async fn get_supported_versions(
    State(_state): State<AppState>,
    _request: Ruma<get_supported_versions::Request>,
) -> ApiResult<get_supported_versions::Response> {
    let versions = ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6"]
        .map(str::to_owned)
        .to_vec();
    Ok(RumaResponse(get_supported_versions::Response::new(
        versions,
    )))
}

/// `GET /_matrix/identity/v2/terms`: this identity service has no terms to accept (its
/// operator is the homeserver's, whose terms users accepted already).
async fn get_terms_of_service(
    State(_state): State<AppState>,
    _request: Ruma<get_terms_of_service::v2::Request>,
) -> ApiResult<get_terms_of_service::v2::Response> {
    Ok(RumaResponse(get_terms_of_service::v2::Response::new(
        Default::default(),
    )))
}

/// `POST /_matrix/identity/v2/terms`: nothing to record.
async fn accept_terms_of_service(
    State(_state): State<AppState>,
    request: Ruma<accept_terms_of_service::v2::Request>,
) -> ApiResult<accept_terms_of_service::v2::Response> {
    request.identity()?;
    Ok(RumaResponse(accept_terms_of_service::v2::Response::new()))
}
