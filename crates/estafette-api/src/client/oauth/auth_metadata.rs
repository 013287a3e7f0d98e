//! `GET /_matrix/client/v1/auth_metadata` (and its MSC2965 unstable path)

use axum::extract::State;
use ruma::api::client::discovery::get_authorization_server_metadata::v1;
use serde_json::json;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_authorization_server_metadata)
}

async fn get_authorization_server_metadata(
    State(state): State<AppState>,
    _request: Ruma<v1::Request>,
) -> ApiResult<v1::Response> {
    let metadata = state.services.oauth.metadata();
    let mut document = json!({
        "issuer": metadata.issuer,
        "authorization_endpoint": metadata.authorization_endpoint,
        "token_endpoint": metadata.token_endpoint,
        "registration_endpoint": metadata.registration_endpoint,
        "revocation_endpoint": metadata.revocation_endpoint,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": ["authorization_code", "refresh_token",
                                  estafette_service::DEVICE_GRANT_TYPE],
        "device_authorization_endpoint": metadata.device_authorization_endpoint,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": [estafette_service::SCOPE_API, "urn:matrix:client:device:*"],
        "account_management_uri": metadata.account_management_uri,
        "account_management_actions_supported": estafette_service::ACCOUNT_ACTIONS,
    });
    if metadata.registration_open {
        document["prompt_values_supported"] = json!(["create"]);
    }
    let raw = serde_json::value::to_raw_value(&document)
        .map_err(|e| ApiError::bad_json(e.to_string()))?;
    Ok(RumaResponse(v1::Response::new(
        ruma::serde::Raw::from_json(raw),
    )))
}
