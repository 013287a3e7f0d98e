//! A user's devices: `/devices`, `/devices/{deviceId}`, `/delete_devices`.

use axum::extract::State;
use estafette_service::DeviceRecord;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::UInt;
use ruma::api::client::device::{
    Device, delete_device, delete_devices, get_device, get_devices, update_device,
};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_devices)
        .ruma(get_device)
        .ruma(update_device)
        .ruma(delete_device)
        .ruma(delete_devices)
}

fn to_device(record: DeviceRecord) -> Device {
    let mut device = Device::new(record.device_id);
    device.display_name = record.display_name;
    device.last_seen_ip = record.last_seen_ip;
    device.last_seen_ts = record
        .last_seen_ts
        .and_then(UInt::new)
        .map(MilliSecondsSinceUnixEpoch);
    device
}

/// `GET /_matrix/client/v3/devices`
async fn get_devices(
    State(state): State<AppState>,
    request: Ruma<get_devices::v3::Request>,
) -> ApiResult<get_devices::v3::Response> {
    let devices = state.services.devices.list(request.requester()?).await?;
    Ok(RumaResponse(get_devices::v3::Response::new(
        devices.into_iter().map(to_device).collect(),
    )))
}

/// `GET /_matrix/client/v3/devices/{deviceId}`
async fn get_device(
    State(state): State<AppState>,
    request: Ruma<get_device::v3::Request>,
) -> ApiResult<get_device::v3::Response> {
    let device = state
        .services
        .devices
        .get(request.requester()?, &request.body.device_id)
        .await?;
    Ok(RumaResponse(get_device::v3::Response::new(to_device(
        device,
    ))))
}

/// `PUT /_matrix/client/v3/devices/{deviceId}`: renames a device, or, for an application
/// service, creates it (201).
async fn update_device(
    State(state): State<AppState>,
    request: Ruma<update_device::v3::Request>,
) -> Result<(http::StatusCode, RumaResponse<update_device::v3::Response>), ApiError> {
    let body = &request.body;
    let requester = request.requester()?;
    if let Some(appservice) = &requester.appservice {
        super::check_appservice_limit(&state, appservice).await?;
    }
    let created = state
        .services
        .devices
        .rename(requester, &body.device_id, body.display_name.as_deref())
        .await?;
    let status = if created {
        http::StatusCode::CREATED
    } else {
        http::StatusCode::OK
    };
    Ok((status, RumaResponse(update_device::v3::Response::new())))
}

/// `DELETE /_matrix/client/v3/devices/{deviceId}`
async fn delete_device(
    State(state): State<AppState>,
    request: Ruma<delete_device::v3::Request>,
) -> ApiResult<delete_device::v3::Response> {
    let body = &request.body;
    state
        .services
        .devices
        .delete(
            request.requester()?,
            std::slice::from_ref(&body.device_id),
            body.auth.as_ref(),
        )
        .await?;
    Ok(RumaResponse(delete_device::v3::Response::new()))
}

/// `POST /_matrix/client/v3/delete_devices`
async fn delete_devices(
    State(state): State<AppState>,
    request: Ruma<delete_devices::v3::Request>,
) -> ApiResult<delete_devices::v3::Response> {
    let body = &request.body;
    state
        .services
        .devices
        .delete(request.requester()?, &body.devices, body.auth.as_ref())
        .await?;
    Ok(RumaResponse(delete_devices::v3::Response::new()))
}
