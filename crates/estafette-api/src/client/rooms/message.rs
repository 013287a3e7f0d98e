//! Messages: `/rooms/{roomId}/send/{eventType}/{txnId}` and `/rooms/{roomId}/messages`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use estafette_service::{DelayedDraft, Direction, EventDraft, format_token, parse_token};
use ruma::api::client::message::{get_message_events, send_message_event};
use ruma::events::TimelineEventType;

use crate::client::delayed_events::{requested_delay, scheduled};
use crate::client::pdu_format::{client_events, content_object};
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(send_message_event).ruma(get_message_events)
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`, sent now or, with
/// `?org.matrix.msc4140.delay=`, later.
async fn send_message_event(
    State(state): State<AppState>,
    request: Ruma<send_message_event::v3::Request>,
) -> Result<Response, ApiError> {
    let body = &request.body;
    let content = content_object(body.body.json())?;
    let kind = TimelineEventType::from(body.event_type.to_string());
    if let Some(delay_ms) = requested_delay(request.query.as_deref())? {
        let draft = DelayedDraft {
            room_id: &body.room_id,
            kind,
            state_key: None,
            content,
            delay_ms,
        };
        return scheduled(&state, request.requester()?, draft).await;
    }
    let requester = request.requester()?;
    let draft = EventDraft::message(kind, content).at(massaged_ts(requester, body.timestamp));
    let event_id = state
        .services
        .rooms
        .send_message_at(requester, &body.room_id, draft, body.txn_id.as_str())
        .await?;
    Ok(RumaResponse(send_message_event::v3::Response::new(event_id)).into_response())
}

/// The `ts` an application service gave (timestamp massaging); ignored from anyone else.
pub(super) fn massaged_ts(
    requester: &estafette_service::Requester,
    ts: Option<ruma::MilliSecondsSinceUnixEpoch>,
) -> Option<u64> {
    ts.filter(|_| requester.appservice.is_some())
        .map(|ts| ts.get().into())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/messages`
async fn get_message_events(
    State(state): State<AppState>,
    request: Ruma<get_message_events::v3::Request>,
) -> ApiResult<get_message_events::v3::Response> {
    let body = &request.body;
    let from = body.from.as_deref().map(parse_token).transpose()?;
    let to = body.to.as_deref().map(parse_token).transpose()?;
    let direction = match body.dir {
        ruma::api::Direction::Backward => Direction::Backward,
        _ => Direction::Forward,
    };
    let limit = crate::json::small(body.limit);
    let page = state
        .services
        .rooms
        .messages(
            request.requester()?,
            &body.room_id,
            from,
            to,
            direction,
            limit,
            &crate::client::event_filters::event_filter(&body.filter),
        )
        .await?;
    let mut response = get_message_events::v3::Response::new();
    response.start = format_token(page.start);
    response.end = page.end.map(format_token);
    response.chunk = client_events(&page.chunk, true)?;
    response.state = client_events(&page.state, true)?;
    Ok(RumaResponse(response))
}
