//! Profiles: `/profile/{userId}` and `/profile/{userId}/{keyName}` (displayname, avatar_url
//! and custom fields). The per-field legacy endpoints stay for clients that still use them.
#![allow(deprecated)]

use axum::extract::{FromRequestParts, Path, State};
use http::Method;
use ruma::api::client::profile::{
    delete_profile_field, get_avatar_url, get_display_name, get_profile, get_profile_field,
    set_avatar_url, set_display_name, set_profile_field,
};
use ruma::profile::ProfileFieldValue;
use serde_json::Value as JsonValue;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_profile)
        .ruma(get_profile_field)
        .ruma(set_profile_field)
        .ruma(delete_profile_field)
        .ruma(get_display_name)
        .ruma(set_display_name)
        .ruma(get_avatar_url)
        .ruma(set_avatar_url)
        // The legacy types' literal paths win over `{keyName}`: DELETE is served on them too.
        .axum(
            "/_matrix/client/v3/profile/{user_id}/displayname",
            &[Method::DELETE],
            axum::routing::delete(delete_display_name),
        )
        .axum(
            "/_matrix/client/v3/profile/{user_id}/avatar_url",
            &[Method::DELETE],
            axum::routing::delete(delete_avatar_url),
        )
}

/// `DELETE` on a legacy field's own path, as on `{keyName}`.
async fn delete_named(
    state: &AppState,
    request: axum::extract::Request,
    field: &str,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (mut parts, _) = request.into_parts();
    let Path(user_id) = Path::<String>::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| ApiError::invalid_param(format!("Invalid path parameter: {e}")))?;
    let user_id = ruma::OwnedUserId::try_from(user_id)
        .map_err(|e| ApiError::invalid_param(format!("Invalid user ID: {e}")))?;
    let ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let requester = crate::extract::optional_requester(&parts.uri, &parts.headers, state, ip)
        .await?
        .ok_or_else(ApiError::missing_token)?;
    state
        .services
        .profiles
        .set_field(&requester, &user_id, field, None)
        .await?;
    Ok(axum::Json(serde_json::json!({})).into_response())
}

async fn delete_display_name(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    delete_named(&state, request, "displayname").await
}

async fn delete_avatar_url(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    delete_named(&state, request, "avatar_url").await
}

/// The legacy endpoints answer `{}` for an unset field, as Synapse does.
async fn optional_field(
    state: &AppState,
    user_id: &ruma::UserId,
    field: &str,
) -> Result<Option<JsonValue>, ApiError> {
    match state.services.profiles.get_field(user_id, field).await {
        Ok(value) => Ok(Some(value)),
        Err(estafette_service::ServiceError::NotFound(_))
            if state.services.accounts.exists(user_id).await? =>
        {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /_matrix/client/v3/profile/{userId}/displayname`
async fn get_display_name(
    State(state): State<AppState>,
    request: Ruma<get_display_name::v3::Request>,
) -> ApiResult<get_display_name::v3::Response> {
    let value = optional_field(&state, &request.body.user_id, "displayname").await?;
    Ok(RumaResponse(get_display_name::v3::Response::new(
        value.and_then(|v| v.as_str().map(ToOwned::to_owned)),
    )))
}

/// `PUT /_matrix/client/v3/profile/{userId}/displayname`; no value removes the name.
async fn set_display_name(
    State(state): State<AppState>,
    request: Ruma<set_display_name::v3::Request>,
) -> ApiResult<set_display_name::v3::Response> {
    let body = &request.body;
    let value = body.displayname.clone().map(JsonValue::String);
    state
        .services
        .profiles
        .set_field(request.requester()?, &body.user_id, "displayname", value)
        .await?;
    Ok(RumaResponse(set_display_name::v3::Response::new()))
}

/// `GET /_matrix/client/v3/profile/{userId}/avatar_url`
async fn get_avatar_url(
    State(state): State<AppState>,
    request: Ruma<get_avatar_url::v3::Request>,
) -> ApiResult<get_avatar_url::v3::Response> {
    let value = optional_field(&state, &request.body.user_id, "avatar_url").await?;
    let mut response = get_avatar_url::v3::Response::new(None);
    response.avatar_url = value.and_then(|v| v.as_str().map(Into::into));
    Ok(RumaResponse(response))
}

/// `PUT /_matrix/client/v3/profile/{userId}/avatar_url`; no value removes the avatar.
async fn set_avatar_url(
    State(state): State<AppState>,
    request: Ruma<set_avatar_url::v3::Request>,
) -> ApiResult<set_avatar_url::v3::Response> {
    let body = &request.body;
    let value = body
        .avatar_url
        .as_ref()
        .map(|url| JsonValue::String(url.to_string()));
    state
        .services
        .profiles
        .set_field(request.requester()?, &body.user_id, "avatar_url", value)
        .await?;
    Ok(RumaResponse(set_avatar_url::v3::Response::new()))
}

/// `GET /_matrix/client/v3/profile/{userId}`
async fn get_profile(
    State(state): State<AppState>,
    request: Ruma<get_profile::v3::Request>,
) -> ApiResult<get_profile::v3::Response> {
    let profile = state.services.profiles.get(&request.body.user_id).await?;
    Ok(RumaResponse(profile.into_iter().collect()))
}

/// `GET /_matrix/client/v3/profile/{userId}/{keyName}`
async fn get_profile_field(
    State(state): State<AppState>,
    request: Ruma<get_profile_field::v3::Request>,
) -> ApiResult<get_profile_field::v3::Response> {
    let field = request.body.field.as_str();
    let value = state
        .services
        .profiles
        .get_field(&request.body.user_id, field)
        .await?;
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
        .set_field(
            request.requester()?,
            &request.body.user_id,
            field.as_str(),
            Some(value.value().into_owned()),
        )
        .await?;
    Ok(RumaResponse(set_profile_field::v3::Response::new()))
}

/// `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`
async fn delete_profile_field(
    State(state): State<AppState>,
    request: Ruma<delete_profile_field::v3::Request>,
) -> ApiResult<delete_profile_field::v3::Response> {
    let body = &request.body;
    state
        .services
        .profiles
        .set_field(
            request.requester()?,
            &body.user_id,
            body.field.as_str(),
            None,
        )
        .await?;
    Ok(RumaResponse(delete_profile_field::v3::Response::new()))
}
