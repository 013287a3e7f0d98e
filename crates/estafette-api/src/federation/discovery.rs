//! `GET /_matrix/federation/v1/version` and `GET /_matrix/key/v2/server`.

use axum::extract::State;
use ruma::api::federation::discovery::{
    get_remote_server_keys, get_remote_server_keys_batch, get_server_keys, get_server_version,
};
use ruma::serde::Raw;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_server_version)
        .ruma(get_server_keys)
        .ruma(get_remote_server_keys)
        .ruma(get_remote_server_keys_batch)
        .ruma(crate::client::discovery::discover_federation_server)
}

/// `GET /_matrix/key/v2/query/{serverName}`: this server as a notary.
async fn get_remote_server_keys(
    State(state): State<AppState>,
    request: Ruma<get_remote_server_keys::v2::Request>,
) -> ApiResult<get_remote_server_keys::v2::Response> {
    let body = &request.body;
    let documents = state
        .services
        .server_keys
        .notarise(&body.server_name, body.minimum_valid_until_ts.get().into())
        .await?;
    Ok(RumaResponse(get_remote_server_keys::v2::Response::new(
        raws(&documents)?,
    )))
}

/// `POST /_matrix/key/v2/query`: several servers' keys at once.
async fn get_remote_server_keys_batch(
    State(state): State<AppState>,
    request: Ruma<get_remote_server_keys_batch::v2::Request>,
) -> ApiResult<get_remote_server_keys_batch::v2::Response> {
    let mut documents = Vec::new();
    for (server, keys) in &request.body.server_keys {
        let minimum = keys
            .values()
            .filter_map(|criteria| criteria.minimum_valid_until_ts)
            .map(|ts| u64::from(ts.get()))
            .max()
            .unwrap_or(0);
        documents.extend(state.services.server_keys.notarise(server, minimum).await?);
    }
    Ok(RumaResponse(
        get_remote_server_keys_batch::v2::Response::new(raws(&documents)?),
    ))
}

fn raws<T>(documents: &[serde_json::Value]) -> Result<Vec<Raw<T>>, ApiError> {
    documents.iter().map(crate::json::raw).collect()
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
