//! `PUT /_matrix/client/unstable/org.matrix.msc4140/rooms/{roomId}/delayed_event/{eventType}/{txnId}`:
//! MSC4140's newer form, the delay and any state key in the body.

use axum::extract::State;
use axum::response::Response;
use estafette_service::DelayedDraft;
use ruma::api::client::delayed_events::send_delayed_event;
use ruma::events::TimelineEventType;

use super::scheduled;
use crate::client::pdu_format::content_object;
use crate::extract::Ruma;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(send_delayed_event)
}

async fn send_delayed_event(
    State(state): State<AppState>,
    request: Ruma<send_delayed_event::unstable::Request>,
) -> Result<Response, ApiError> {
    let body = &request.body;
    let content = content_object(body.content.json())?;
    let delay_ms = u64::try_from(body.delay.as_millis()).unwrap_or(u64::MAX);
    let draft = DelayedDraft {
        room_id: &body.room_id,
        kind: TimelineEventType::from(body.event_type.to_string()),
        state_key: body.state_key.as_deref(),
        content,
        delay_ms,
    };
    scheduled(&state, request.requester()?, draft).await
}
