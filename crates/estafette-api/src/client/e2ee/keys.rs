//! End-to-end encryption keys: `/keys/upload`, `/keys/query`, `/keys/claim`, `/keys/changes`.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::parse_token;
use ruma::UInt;
use ruma::api::client::keys::{
    claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
};
use serde_json::Value as JsonValue;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::{plain, typed};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(upload_keys)
        .ruma(get_keys)
        .ruma(claim_keys)
        .ruma(get_key_changes)
        .ruma(upload_signing_keys)
        .ruma(upload_signatures)
}

/// `POST /_matrix/client/v3/keys/upload`
async fn upload_keys(
    State(state): State<AppState>,
    request: Ruma<upload_keys::v3::Request>,
) -> ApiResult<upload_keys::v3::Response> {
    let body = &request.body;
    let device_keys = body.device_keys.as_ref().map(plain).transpose()?;
    let keys = |map: &BTreeMap<
        ruma::OwnedOneTimeKeyId,
        ruma::serde::Raw<ruma::encryption::OneTimeKey>,
    >| {
        map.iter()
            .map(|(id, key)| Ok((id.to_string(), plain(key)?)))
            .collect::<Result<BTreeMap<_, _>, ApiError>>()
    };
    let counts = state
        .services
        .device_keys
        .upload(
            request.requester()?,
            device_keys,
            keys(&body.one_time_keys)?,
            keys(&body.fallback_keys)?,
        )
        .await?;
    let counts = counts
        .into_iter()
        .map(|(algorithm, n)| (algorithm.as_str().into(), UInt::new(n).unwrap_or_default()))
        .collect();
    Ok(RumaResponse(upload_keys::v3::Response::new(counts)))
}

/// `POST /_matrix/client/v3/keys/query`
async fn get_keys(
    State(state): State<AppState>,
    request: Ruma<get_keys::v3::Request>,
) -> ApiResult<get_keys::v3::Response> {
    let result = state
        .services
        .device_keys
        .query(request.requester()?, &request.body.device_keys)
        .await?;
    let mut response = get_keys::v3::Response::new();
    response.device_keys = typed(&result.device_keys)?;
    response.master_keys = typed(&result.master_keys)?;
    response.self_signing_keys = typed(&result.self_signing_keys)?;
    response.user_signing_keys = typed(&result.user_signing_keys)?;
    response.failures = result.failures;
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/keys/claim`
async fn claim_keys(
    State(state): State<AppState>,
    request: Ruma<claim_keys::v3::Request>,
) -> ApiResult<claim_keys::v3::Response> {
    let claimed = state
        .services
        .device_keys
        .claim(&request.body.one_time_keys)
        .await?;
    let keys = typed(&claimed.one_time_keys)?;
    let mut response = claim_keys::v3::Response::new(keys);
    response.failures = claimed.failures;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v3/keys/changes`
async fn get_key_changes(
    State(state): State<AppState>,
    request: Ruma<get_key_changes::v3::Request>,
) -> ApiResult<get_key_changes::v3::Response> {
    let body = &request.body;
    let (from, to) = (parse_token(&body.from)?, parse_token(&body.to)?);
    let requester = request.requester()?;
    let (changed, left) = state
        .services
        .device_keys
        .changes(&requester.user_id, from, to)
        .await?;
    Ok(RumaResponse(get_key_changes::v3::Response::new(
        changed.into_iter().collect(),
        left.into_iter().collect(),
    )))
}

/// `POST /_matrix/client/v3/keys/device_signing/upload`
async fn upload_signing_keys(
    State(state): State<AppState>,
    request: Ruma<upload_signing_keys::v3::Request>,
) -> ApiResult<upload_signing_keys::v3::Response> {
    let body = &request.body;
    state
        .services
        .device_keys
        .upload_signing_keys(
            request.requester()?,
            &state.services.uia,
            body.master_key.as_ref().map(plain).transpose()?,
            body.self_signing_key.as_ref().map(plain).transpose()?,
            body.user_signing_key.as_ref().map(plain).transpose()?,
            body.auth.as_ref(),
        )
        .await?;
    Ok(RumaResponse(upload_signing_keys::v3::Response::new()))
}

/// `POST /_matrix/client/v3/keys/signatures/upload`
async fn upload_signatures(
    State(state): State<AppState>,
    request: Ruma<upload_signatures::v3::Request>,
) -> ApiResult<upload_signatures::v3::Response> {
    let signed = request
        .body
        .signed_keys
        .iter()
        .map(|(user, keys)| {
            let keys = keys
                .iter()
                .map(|(key_id, object)| {
                    let object = serde_json::from_str(object.get())
                        .map_err(|e| ApiError::bad_json(e.to_string()))?;
                    Ok((key_id.to_string(), object))
                })
                .collect::<Result<BTreeMap<_, _>, ApiError>>()?;
            Ok((user.clone(), keys))
        })
        .collect::<Result<BTreeMap<_, _>, ApiError>>()?;
    let failures = state
        .services
        .device_keys
        .upload_signatures(request.requester()?, signed)
        .await?;
    let failures: serde_json::Map<String, JsonValue> = failures
        .into_iter()
        .map(|(user, keys)| {
            let keys: serde_json::Map<String, JsonValue> = keys
                .into_iter()
                .map(|(key, (errcode, error))| {
                    (key, serde_json::json!({"errcode": errcode, "error": error}))
                })
                .collect();
            (user.to_string(), JsonValue::Object(keys))
        })
        .collect();
    let mut response = upload_signatures::v3::Response::new();
    response.failures = typed(JsonValue::Object(failures))?;
    Ok(RumaResponse(response))
}
