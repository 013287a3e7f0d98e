//! Account data: `/user/{userId}/account_data/{type}` and
//! `/user/{userId}/rooms/{roomId}/account_data/{type}`.

use axum::extract::State;
use ruma::api::client::config::{
    get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
};
use ruma::serde::Raw;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(set_global_account_data)
        .ruma(get_global_account_data)
        .ruma(set_room_account_data)
        .ruma(get_room_account_data)
}

/// `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn set_global_account_data(
    State(state): State<AppState>,
    request: Ruma<set_global_account_data::v3::Request>,
) -> ApiResult<set_global_account_data::v3::Response> {
    let body = &request.body;
    let data_type = body.event_type.to_string();
    state
        .services
        .account_data
        .set(
            request.requester()?,
            &body.user_id,
            None,
            &data_type,
            body.data.json(),
        )
        .await?;
    Ok(RumaResponse(set_global_account_data::v3::Response::new()))
}

/// `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn get_global_account_data(
    State(state): State<AppState>,
    request: Ruma<get_global_account_data::v3::Request>,
) -> ApiResult<get_global_account_data::v3::Response> {
    let body = &request.body;
    let data_type = body.event_type.to_string();
    let json = state
        .services
        .account_data
        .get(request.requester()?, &body.user_id, None, &data_type)
        .await?;
    Ok(RumaResponse(get_global_account_data::v3::Response::new(
        Raw::from_json(json),
    )))
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn set_room_account_data(
    State(state): State<AppState>,
    request: Ruma<set_room_account_data::v3::Request>,
) -> ApiResult<set_room_account_data::v3::Response> {
    let body = &request.body;
    let data_type = body.event_type.to_string();
    state
        .services
        .account_data
        .set(
            request.requester()?,
            &body.user_id,
            Some(&body.room_id),
            &data_type,
            body.data.json(),
        )
        .await?;
    Ok(RumaResponse(set_room_account_data::v3::Response::new()))
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn get_room_account_data(
    State(state): State<AppState>,
    request: Ruma<get_room_account_data::v3::Request>,
) -> ApiResult<get_room_account_data::v3::Response> {
    let body = &request.body;
    let data_type = body.event_type.to_string();
    let json = state
        .services
        .account_data
        .get(
            request.requester()?,
            &body.user_id,
            Some(&body.room_id),
            &data_type,
        )
        .await?;
    Ok(RumaResponse(get_room_account_data::v3::Response::new(
        Raw::from_json(json),
    )))
}
