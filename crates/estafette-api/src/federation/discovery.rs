//! `GET /_matrix/federation/v1/version` and `GET /_matrix/key/v2/server`.

use axum::Router;
use axum::extract::State;
use ruma::api::federation::discovery::{get_server_keys, get_server_version};
use ruma::serde::Raw;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::RouterExt;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
    router.ruma(get_server_version).ruma(get_server_keys)
}

/// `GET /_matrix/federation/v1/version`
async fn get_server_version(
    State(_state): State<AppState>,
    _request: Ruma<get_server_version::v1::Request>,
) -> ApiResult<get_server_version::v1::Response> {
    let mut server = get_server_version::v1::Server::new();
    server.name = Some("Estafette".to_owned());
    server.version = Some(env!("CARGO_PKG_VERSION").to_owned());
    let mut response = get_server_version::v1::Response::new();
    response.server = Some(server);
    Ok(RumaResponse(response))
}

/// `GET /_matrix/key/v2/server`: the self-signed key document.
async fn get_server_keys(
    State(state): State<AppState>,
    _request: Ruma<get_server_keys::v2::Request>,
) -> ApiResult<get_server_keys::v2::Response> {
    let document = state.services.server_keys.document()?;
    let raw = serde_json::value::to_raw_value(&document)
        .map_err(|e| ApiError::bad_json(e.to_string()))?;
    Ok(RumaResponse(get_server_keys::v2::Response::new(
        Raw::from_json(raw),
    )))
}
