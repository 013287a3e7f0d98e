//! Typing and read receipts: `/rooms/{roomId}/typing/{userId}`,
//! `/rooms/{roomId}/receipt/{receiptType}/{eventId}`, `/rooms/{roomId}/read_markers`.

use axum::extract::State;
use ruma::api::client::read_marker::set_read_marker;
use ruma::api::client::receipt::create_receipt;
use ruma::api::client::typing::create_typing_event;
use ruma::events::receipt::ReceiptThread;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_typing_event)
        .ruma(create_receipt)
        .ruma(set_read_marker)
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
async fn create_typing_event(
    State(state): State<AppState>,
    request: Ruma<create_typing_event::v3::Request>,
) -> ApiResult<create_typing_event::v3::Response> {
    let body = &request.body;
    let (typing, timeout) = match &body.state {
        create_typing_event::v3::Typing::Yes(info) => (true, Some(info.timeout)),
        _ => (false, None),
    };
    state
        .services
        .typing
        .set_typing(
            request.requester()?,
            &body.room_id,
            &body.user_id,
            typing,
            timeout,
        )
        .await?;
    Ok(RumaResponse(create_typing_event::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
async fn create_receipt(
    State(state): State<AppState>,
    request: Ruma<create_receipt::v3::Request>,
) -> ApiResult<create_receipt::v3::Response> {
    let body = &request.body;
    let thread = match &body.thread {
        ReceiptThread::Unthreaded => None,
        other => Some(other.as_str().unwrap_or_default().to_owned()),
    };
    state
        .services
        .receipts
        .send_receipt(
            request.requester()?,
            &body.room_id,
            body.receipt_type.as_str(),
            &body.event_id,
            thread.as_deref(),
        )
        .await?;
    Ok(RumaResponse(create_receipt::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
async fn set_read_marker(
    State(state): State<AppState>,
    request: Ruma<set_read_marker::v3::Request>,
) -> ApiResult<set_read_marker::v3::Response> {
    let body = &request.body;
    state
        .services
        .receipts
        .set_read_markers(
            request.requester()?,
            &body.room_id,
            body.fully_read.as_deref(),
            body.read_receipt.as_deref(),
            body.private_read_receipt.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_read_marker::v3::Response::new()))
}
