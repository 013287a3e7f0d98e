//! Room state: `/rooms/{roomId}/state` and `/rooms/{roomId}/state/{eventType}/{stateKey}`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use estafette_service::{DelayedDraft, EventDraft};
use ruma::api::client::state::{get_state_event_for_key, get_state_events, send_state_event};
use ruma::events::TimelineEventType;
use serde_json::Value as JsonValue;
use serde_json::value::to_raw_value;

use crate::client::delayed_events::{requested_delay, scheduled};
use crate::client::pdu_format::{client_events, content_object};
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_state_events)
        .ruma(get_state_event_for_key)
        .ruma(send_state_event)
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state`
async fn get_state_events(
    State(state): State<AppState>,
    request: Ruma<get_state_events::v3::Request>,
) -> ApiResult<get_state_events::v3::Response> {
    let pdus = state
        .services
        .rooms
        .state(request.requester()?, &request.body.room_id)
        .await?;
    Ok(RumaResponse(get_state_events::v3::Response::new(
        client_events(&pdus, true)?,
    )))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
async fn get_state_event_for_key(
    State(state): State<AppState>,
    request: Ruma<get_state_event_for_key::v3::Request>,
) -> ApiResult<get_state_event_for_key::v3::Response> {
    let body = &request.body;
    let pdu = state
        .services
        .rooms
        .state_event(
            request.requester()?,
            &body.room_id,
            &body.event_type,
            &body.state_key,
        )
        .await?;
    let value = match body.format {
        get_state_event_for_key::v3::StateEventFormat::Event => pdu.to_client_json(true),
        _ => serde_json::from_str(pdu.content.get()).unwrap_or(JsonValue::Null),
    };
    let raw = to_raw_value(&value).map_err(|e| ApiError::bad_json(e.to_string()))?;
    Ok(RumaResponse(get_state_event_for_key::v3::Response::new(
        raw,
    )))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`, sent now or, with
/// `?org.matrix.msc4140.delay=`, later.
async fn send_state_event(
    State(state): State<AppState>,
    request: Ruma<send_state_event::v3::Request>,
) -> Result<Response, ApiError> {
    let body = &request.body;
    let content = content_object(body.body.json())?;
    let kind = TimelineEventType::from(body.event_type.to_string());
    if let Some(delay_ms) = requested_delay(request.query.as_deref())? {
        let draft = DelayedDraft {
            room_id: &body.room_id,
            kind,
            state_key: Some(&body.state_key),
            content,
            delay_ms,
        };
        return scheduled(&state, request.requester()?, draft).await;
    }
    let requester = request.requester()?;
    let ts = super::message::massaged_ts(requester, body.timestamp);
    let draft = EventDraft::state(kind, &body.state_key, content).at(ts);
    let event_id = state
        .services
        .rooms
        .send_state_at(requester, &body.room_id, draft)
        .await?;
    Ok(RumaResponse(send_state_event::v3::Response::new(event_id)).into_response())
}
