//! Presence: `/presence/{userId}/status`.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::presence::{get_presence, set_presence};
use ruma::presence::PresenceState;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(get_presence).ruma(set_presence)
}

/// `GET /_matrix/client/v3/presence/{userId}/status`
async fn get_presence(
    State(state): State<AppState>,
    request: Ruma<get_presence::v3::Request>,
) -> ApiResult<get_presence::v3::Response> {
    let info = state
        .services
        .presence
        .get(request.requester()?, &request.body.user_id)
        .await?;
    let mut response = get_presence::v3::Response::new(PresenceState::from(info.state.as_str()));
    response.status_msg = info.status_msg;
    response.currently_active = Some(info.currently_active);
    response.last_active_ago = info.last_active_ago.map(Duration::from_millis);
    Ok(RumaResponse(response))
}

/// `PUT /_matrix/client/v3/presence/{userId}/status`
async fn set_presence(
    State(state): State<AppState>,
    request: Ruma<set_presence::v3::Request>,
) -> ApiResult<set_presence::v3::Response> {
    let body = &request.body;
    state
        .services
        .presence
        .set(
            request.requester()?,
            &body.user_id,
            body.presence.as_str(),
            body.status_msg.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_presence::v3::Response::new()))
}
