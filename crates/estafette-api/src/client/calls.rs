//! Calls: `GET /voip/turnServer` and MatrixRTC's `GET /rtc/transports`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ruma::api::client::rtc::{RtcTransport, transports};
use ruma::api::client::voip::get_turn_server_info;

use crate::ApiError;
use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

/// The stable path of MSC4143, which Element X asks first (ruma knows the unstable one).
const RTC_TRANSPORTS_V1: &str = "/_matrix/client/v1/rtc/transports";

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_turn_server).ruma(get_rtc_transports).axum(
        RTC_TRANSPORTS_V1,
        &[http::Method::GET],
        axum::routing::get(get_rtc_transports),
    )
}

/// `GET /_matrix/client/v3/voip/turnServer`: without a TURN server, `{}` (as Synapse answers,
/// and clients then call without relay).
async fn get_turn_server(
    State(state): State<AppState>,
    request: Ruma<get_turn_server_info::v3::Request>,
) -> Result<Response, ApiError> {
    let credentials = state.services.calls.turn_server(request.requester()?)?;
    Ok(match credentials {
        Some(turn) => RumaResponse(get_turn_server_info::v3::Response::new(
            turn.username,
            turn.password,
            turn.uris,
            turn.ttl,
        ))
        .into_response(),
        None => Json(serde_json::json!({})).into_response(),
    })
}

/// `GET /_matrix/client/v1/rtc/transports` (MSC4143).
async fn get_rtc_transports(
    State(state): State<AppState>,
    request: Ruma<transports::v1::Request>,
) -> ApiResult<transports::v1::Response> {
    request.requester()?;
    Ok(RumaResponse(transports::v1::Response::new(
        livekit_transports(&state),
    )))
}

/// The configured LiveKit services as MatrixRTC transports (also the well-known `rtc_foci`).
pub(crate) fn livekit_transports(state: &AppState) -> Vec<RtcTransport> {
    state
        .services
        .calls
        .livekit_services()
        .into_iter()
        .map(RtcTransport::livekit)
        .collect()
}
