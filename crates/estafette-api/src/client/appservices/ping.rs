//! `POST /_matrix/client/v1/appservice/{appserviceId}/ping`: an application service checks
//! that the homeserver reaches it.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::appservice::request_ping;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(ping)
}

async fn ping(
    State(state): State<AppState>,
    request: Ruma<request_ping::v1::Request>,
) -> ApiResult<request_ping::v1::Response> {
    let requester = request.requester()?;
    let body = &request.body;
    let elapsed = state
        .services
        .appservices
        .ping(
            requester,
            &body.appservice_id,
            body.transaction_id.as_ref().map(|id| id.as_str()),
        )
        .await?;
    Ok(RumaResponse(request_ping::v1::Response::new(
        Duration::from_millis(elapsed),
    )))
}
