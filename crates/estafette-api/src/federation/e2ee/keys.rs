//! This server's users' devices and end-to-end keys, for other servers:
//! `/_matrix/federation/v1/user/keys/{query,claim}` and `/_matrix/federation/v1/user/devices`.

use axum::extract::State;
use ruma::api::federation::device::get_devices;
use ruma::api::federation::keys::{claim_keys, get_keys};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::typed;
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_keys).ruma(claim_keys).ruma(get_devices)
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

/// `GET /_matrix/federation/v1/user/devices/{userId}`: a local user's devices with their keys.
async fn get_devices(
    State(state): State<AppState>,
    request: Ruma<get_devices::v1::Request>,
) -> ApiResult<get_devices::v1::Response> {
    let user_id = &request.body.user_id;
    tracing::debug!(origin = ?request.origin, %user_id, "device list query");
    let list = state.services.device_keys.device_list(user_id).await?;
    let stream_id = ruma::UInt::new_saturating(list.stream_id);
    let mut response = get_devices::v1::Response::new(user_id.clone(), stream_id);
    for (device_id, keys, name) in list.devices {
        let mut device = get_devices::v1::UserDevice::new(device_id, typed(keys)?);
        device.device_display_name = name;
        response.devices.push(device);
    }
    response.master_key = list.master_key.map(typed).transpose()?;
    response.self_signing_key = list.self_signing_key.map(typed).transpose()?;
    Ok(RumaResponse(response))
}
