//! `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::api::client::to_device::send_event_to_device;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(send_event_to_device)
}

async fn send_event_to_device(
    State(state): State<AppState>,
    request: Ruma<send_event_to_device::v3::Request>,
) -> ApiResult<send_event_to_device::v3::Response> {
    let body = &request.body;
    let messages = body
        .messages
        .iter()
        .map(|(user, devices)| {
            let devices = devices
                .iter()
                .map(|(device, content)| (device.to_string(), content.json().to_owned()))
                .collect();
            (user.clone(), devices)
        })
        .collect::<BTreeMap<_, BTreeMap<_, _>>>();
    state
        .services
        .to_device
        .send(
            request.requester()?,
            &body.event_type.to_string(),
            body.txn_id.as_str(),
            &messages,
        )
        .await?;
    Ok(RumaResponse(send_event_to_device::v3::Response::new()))
}
