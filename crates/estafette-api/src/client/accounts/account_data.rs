//! Account data: `/user/{userId}/account_data/{type}`,
//! `/user/{userId}/rooms/{roomId}/account_data/{type}` and the room tags kept in it
//! (`/user/{userId}/rooms/{roomId}/tags`).

use axum::extract::State;
use ruma::api::client::config::{
    get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
};
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use ruma::serde::Raw;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::typed;
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(set_global_account_data)
        .ruma(get_global_account_data)
        .ruma(set_room_account_data)
        .ruma(get_room_account_data)
        .ruma(get_tags)
        .ruma(create_tag)
        .ruma(delete_tag)
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
async fn get_tags(
    State(state): State<AppState>,
    request: Ruma<get_tags::v3::Request>,
) -> ApiResult<get_tags::v3::Response> {
    let body = &request.body;
    let tags = state
        .services
        .account_data
        .tags(request.requester()?, &body.user_id, &body.room_id)
        .await?;
    Ok(RumaResponse(get_tags::v3::Response::new(typed(tags)?)))
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn create_tag(
    State(state): State<AppState>,
    request: Ruma<create_tag::v3::Request>,
) -> ApiResult<create_tag::v3::Response> {
    let body = &request.body;
    let info = serde_json::to_value(&body.tag_info)
        .map_err(|e| crate::ApiError::bad_json(e.to_string()))?;
    state
        .services
        .account_data
        .set_tag(
            request.requester()?,
            &body.user_id,
            &body.room_id,
            &body.tag,
            info,
        )
        .await?;
    Ok(RumaResponse(create_tag::v3::Response::new()))
}

/// `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn delete_tag(
    State(state): State<AppState>,
    request: Ruma<delete_tag::v3::Request>,
) -> ApiResult<delete_tag::v3::Response> {
    let body = &request.body;
    state
        .services
        .account_data
        .delete_tag(
            request.requester()?,
            &body.user_id,
            &body.room_id,
            &body.tag,
        )
        .await?;
    Ok(RumaResponse(delete_tag::v3::Response::new()))
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
