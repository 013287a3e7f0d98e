//! Stored sync filters: `/user/{userId}/filter` and `/user/{userId}/filter/{filterId}`.

use axum::extract::State;
use ruma::api::client::filter::{create_filter, get_filter};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(create_filter).ruma(get_filter)
}

/// `POST /_matrix/client/v3/user/{userId}/filter`
async fn create_filter(
    State(state): State<AppState>,
    request: Ruma<create_filter::v3::Request>,
) -> ApiResult<create_filter::v3::Response> {
    let body = &request.body;
    let filter_id = state
        .services
        .filters
        .create(request.requester()?, &body.user_id, &body.filter)
        .await?;
    Ok(RumaResponse(create_filter::v3::Response::new(filter_id)))
}

/// `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
async fn get_filter(
    State(state): State<AppState>,
    request: Ruma<get_filter::v3::Request>,
) -> ApiResult<get_filter::v3::Response> {
    let body = &request.body;
    let filter = state
        .services
        .filters
        .get(request.requester()?, &body.user_id, &body.filter_id)
        .await?;
    Ok(RumaResponse(get_filter::v3::Response::new(filter)))
}
