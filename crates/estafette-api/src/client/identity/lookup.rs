//! Which accounts addresses belong to: `GET /_matrix/identity/v2/hash_details` and
//! `POST /_matrix/identity/v2/lookup`.

use axum::extract::State;
use estafette_service::LookupAlgorithm;
use ruma::api::identity_service::lookup::IdentifierHashingAlgorithm;
use ruma::api::identity_service::lookup::{get_hash_parameters, lookup_3pid};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_hash_parameters).ruma(lookup_3pid)
}

async fn get_hash_parameters(
    State(state): State<AppState>,
    request: Ruma<get_hash_parameters::v2::Request>,
) -> ApiResult<get_hash_parameters::v2::Response> {
    request.identity()?;
    Ok(RumaResponse(get_hash_parameters::v2::Response::new(
        state.services.identity.pepper(),
        vec![
            IdentifierHashingAlgorithm::Sha256,
            IdentifierHashingAlgorithm::None,
        ],
    )))
}

async fn lookup_3pid(
    State(state): State<AppState>,
    request: Ruma<lookup_3pid::v2::Request>,
) -> ApiResult<lookup_3pid::v2::Response> {
    request.identity()?;
    let body = &request.body;
    let algorithm = match &body.algorithm {
        IdentifierHashingAlgorithm::Sha256 => LookupAlgorithm::Sha256,
        IdentifierHashingAlgorithm::None => LookupAlgorithm::None,
        other => {
            return Err(ApiError::invalid_param(format!(
                "Unsupported lookup algorithm {}: use sha256 or none",
                other.as_str()
            )));
        }
    };
    let mappings = state
        .services
        .identity
        .lookup(algorithm, &body.pepper, &body.addresses)
        .await?;
    Ok(RumaResponse(lookup_3pid::v2::Response::new(mappings)))
}
