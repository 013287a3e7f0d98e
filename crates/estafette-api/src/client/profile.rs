//! Profiles: `/profile/{userId}` and `/profile/{userId}/{keyName}` (displayname, avatar_url
//! and custom fields).

use axum::Router;
use axum::extract::State;
use ruma::api::client::profile::{delete_profile_field, get_profile, get_profile_field, set_profile_field};
use ruma::profile::ProfileFieldValue;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::RouterExt;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .ruma(get_profile)
        .ruma(get_profile_field)
        .ruma(set_profile_field)
        .ruma(delete_profile_field)
}

/// `GET /_matrix/client/v3/profile/{userId}`
async fn get_profile(State(state): State<AppState>, request: Ruma<get_profile::v3::Request>) -> ApiResult<get_profile::v3::Response> {
    let profile = state.services.profiles.get(&request.body.user_id).await?;
    Ok(RumaResponse(profile.into_iter().collect()))
}

/// `GET /_matrix/client/v3/profile/{userId}/{keyName}`
async fn get_profile_field(
    State(state): State<AppState>,
    request: Ruma<get_profile_field::v3::Request>,
) -> ApiResult<get_profile_field::v3::Response> {
    let field = request.body.field.as_str();
    let value = state.services.profiles.get_field(&request.body.user_id, field).await?;
    let value = ProfileFieldValue::new(field, value)
        .map_err(|err| ApiError::bad_json(format!("Stored {field} is malformed: {err}")))?;
    Ok(RumaResponse(get_profile_field::v3::Response::new(value)))
}

/// `PUT /_matrix/client/v3/profile/{userId}/{keyName}`
async fn set_profile_field(
    State(state): State<AppState>,
    request: Ruma<set_profile_field::v3::Request>,
) -> ApiResult<set_profile_field::v3::Response> {
    let value = &request.body.value;
    let field = value.field_name();
    state
        .services
        .profiles
        .set_field(request.requester()?, &request.body.user_id, field.as_str(), Some(value.value().into_owned()))
        .await?;
    Ok(RumaResponse(set_profile_field::v3::Response::new()))
}

/// `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`
async fn delete_profile_field(
    State(state): State<AppState>,
    request: Ruma<delete_profile_field::v3::Request>,
) -> ApiResult<delete_profile_field::v3::Response> {
    let body = &request.body;
    state.services.profiles.set_field(request.requester()?, &body.user_id, body.field.as_str(), None).await?;
    Ok(RumaResponse(delete_profile_field::v3::Response::new()))
}
