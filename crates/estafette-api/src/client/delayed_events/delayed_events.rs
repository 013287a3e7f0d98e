//! `GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events` (what waits) and
//! `…/delayed_events/{delayId}` (one of them: `GET`; `POST` with `{"action"}` to send, cancel
//! or restart it), and `POST …/delayed_events/{delayId}/{action}`, which needs no access
//! token: the `delay_id` is the capability the call stack keeps.

use std::time::Duration;

use axum::extract::State;
use estafette_service::{DelayAction, DelayedEvent};
use ruma::api::client::delayed_events::update_delayed_event::UpdateAction;
use ruma::api::client::delayed_events::{
    DelayedEventData, get_all_delayed_events, get_delayed_event, update_delayed_event,
};
use ruma::events::TimelineEventType;
use ruma::serde::Raw;
use ruma::{MilliSecondsSinceUnixEpoch, UInt};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_all)
        .ruma(get_one)
        .ruma(update)
        .ruma(update_by_capability)
}

fn data(event: DelayedEvent) -> Result<DelayedEventData, ApiError> {
    let content = Raw::from_json(
        serde_json::value::to_raw_value(&event.content)
            .map_err(|e| ApiError::bad_json(e.to_string()))?,
    );
    Ok(DelayedEventData::new(
        event.delay_id,
        event.room_id,
        TimelineEventType::from(event.event_type),
        event.state_key,
        content,
        Duration::from_millis(event.delay_ms),
        MilliSecondsSinceUnixEpoch(UInt::new_saturating(event.running_since)),
    ))
}

fn action(action: &UpdateAction) -> Result<DelayAction, ApiError> {
    match action {
        UpdateAction::Send => Ok(DelayAction::Send),
        UpdateAction::Cancel => Ok(DelayAction::Cancel),
        UpdateAction::Restart => Ok(DelayAction::Restart),
        other => Err(ApiError::invalid_param(format!(
            "Unknown action {}: expected send, cancel or restart",
            other.as_str()
        ))),
    }
}

async fn get_all(
    State(state): State<AppState>,
    request: Ruma<get_all_delayed_events::unstable::Request>,
) -> ApiResult<get_all_delayed_events::unstable::Response> {
    let events = state
        .services
        .delayed_events
        .list(request.requester()?)
        .await?;
    let events = events.into_iter().map(data).collect::<Result<_, _>>()?;
    Ok(RumaResponse(
        get_all_delayed_events::unstable::Response::new(events),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    request: Ruma<get_delayed_event::unstable::Request>,
) -> ApiResult<get_delayed_event::unstable::Response> {
    let event = state
        .services
        .delayed_events
        .get(request.requester()?, &request.body.delay_id)
        .await?;
    Ok(RumaResponse(get_delayed_event::unstable::Response::new(
        data(event)?,
    )))
}

async fn update(
    State(state): State<AppState>,
    request: Ruma<update_delayed_event::unstable_v1::Request>,
) -> ApiResult<update_delayed_event::unstable_v1::Response> {
    let body = &request.body;
    state
        .services
        .delayed_events
        .update(
            Some(request.requester()?),
            &body.delay_id,
            action(&body.action)?,
        )
        .await?;
    Ok(RumaResponse(
        update_delayed_event::unstable_v1::Response::new(),
    ))
}

async fn update_by_capability(
    State(state): State<AppState>,
    request: Ruma<update_delayed_event::unstable_v2::Request>,
) -> ApiResult<update_delayed_event::unstable_v2::Response> {
    let body = &request.body;
    state
        .services
        .delayed_events
        .update(None, &body.delay_id, action(&body.action)?)
        .await?;
    Ok(RumaResponse(
        update_delayed_event::unstable_v2::Response::new(),
    ))
}
