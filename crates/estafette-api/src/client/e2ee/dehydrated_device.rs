//! Dehydrated devices (MSC3814): `/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
//! and its `/{deviceId}/events`.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::DehydratedDevice;
use ruma::api::client::dehydrated_device::{
    delete_dehydrated_device, get_dehydrated_device, get_events, put_dehydrated_device,
};
use ruma::serde::Raw;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::{plain, raw};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(put_dehydrated_device)
        .ruma(get_dehydrated_device)
        .ruma(delete_dehydrated_device)
        .ruma(get_events)
}

/// `PUT …/dehydrated_device`
async fn put_dehydrated_device(
    State(state): State<AppState>,
    request: Ruma<put_dehydrated_device::unstable::Request>,
) -> ApiResult<put_dehydrated_device::unstable::Response> {
    let body = &request.body;
    let keys = |map: &BTreeMap<ruma::OwnedOneTimeKeyId, Raw<ruma::encryption::OneTimeKey>>| {
        map.iter()
            .map(|(id, key)| Ok((id.to_string(), plain(key)?)))
            .collect::<Result<BTreeMap<_, _>, ApiError>>()
    };
    let device = DehydratedDevice {
        device_id: body.device_id.clone(),
        display_name: body.initial_device_display_name.clone(),
        device_data: plain(&body.device_data)?,
        device_keys: plain(&body.device_keys)?,
        one_time_keys: keys(&body.one_time_keys)?,
        fallback_keys: keys(&body.fallback_keys)?,
    };
    let device_id = state
        .services
        .dehydrated_devices
        .put(request.requester()?, device)
        .await?;
    Ok(RumaResponse(
        put_dehydrated_device::unstable::Response::new(device_id),
    ))
}

/// `GET …/dehydrated_device`
async fn get_dehydrated_device(
    State(state): State<AppState>,
    request: Ruma<get_dehydrated_device::unstable::Request>,
) -> ApiResult<get_dehydrated_device::unstable::Response> {
    let (device_id, data) = state
        .services
        .dehydrated_devices
        .get(request.requester()?)
        .await?;
    Ok(RumaResponse(
        get_dehydrated_device::unstable::Response::new(device_id, raw(&data)?),
    ))
}

/// `DELETE …/dehydrated_device`
async fn delete_dehydrated_device(
    State(state): State<AppState>,
    request: Ruma<delete_dehydrated_device::unstable::Request>,
) -> ApiResult<delete_dehydrated_device::unstable::Response> {
    let device_id = state
        .services
        .dehydrated_devices
        .delete(request.requester()?)
        .await?;
    Ok(RumaResponse(
        delete_dehydrated_device::unstable::Response::new(device_id),
    ))
}

/// `POST …/dehydrated_device/{deviceId}/events`
async fn get_events(
    State(state): State<AppState>,
    request: Ruma<get_events::unstable::Request>,
) -> ApiResult<get_events::unstable::Response> {
    let body = &request.body;
    let (events, next_batch) = state
        .services
        .dehydrated_devices
        .events(
            request.requester()?,
            &body.device_id,
            body.next_batch.as_deref(),
        )
        .await?;
    let mut response =
        get_events::unstable::Response::new(events.iter().map(raw).collect::<Result<_, _>>()?);
    response.next_batch = next_batch;
    Ok(RumaResponse(response))
}
