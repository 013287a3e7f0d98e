//! `POST /rooms/{roomId}/report/{eventId}`, `POST /rooms/{roomId}/report` (v1.13) and
//! `POST /users/{userId}/report` (v1.14).

use axum::extract::State;
use ruma::api::client::reporting::report_user;
use ruma::api::client::room::{report_content, report_room};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(report_event)
        .ruma(report_room_handler)
        .ruma(report_user_handler)
}

async fn report_event(
    State(state): State<AppState>,
    request: Ruma<report_content::v3::Request>,
) -> ApiResult<report_content::v3::Response> {
    let body = &request.body;
    state
        .services
        .reports
        .report_event(
            request.requester()?,
            &body.room_id,
            &body.event_id,
            body.reason.clone(),
        )
        .await?;
    Ok(RumaResponse(report_content::v3::Response::new()))
}

async fn report_room_handler(
    State(state): State<AppState>,
    request: Ruma<report_room::v3::Request>,
) -> ApiResult<report_room::v3::Response> {
    let body = &request.body;
    state
        .services
        .reports
        .report_room(
            request.requester()?,
            &body.room_id,
            Some(body.reason.clone()),
        )
        .await?;
    Ok(RumaResponse(report_room::v3::Response::new()))
}

async fn report_user_handler(
    State(state): State<AppState>,
    request: Ruma<report_user::v3::Request>,
) -> ApiResult<report_user::v3::Response> {
    let body = &request.body;
    state
        .services
        .reports
        .report_user(
            request.requester()?,
            &body.user_id,
            Some(body.reason.clone()),
        )
        .await?;
    Ok(RumaResponse(report_user::v3::Response::new()))
}
