//! `GET /_matrix/client/v1/media/preview_url` and its deprecated `/_matrix/media/v3/` form
//! (which matrix-js-sdk still asks of servers without authenticated media): link previews,
//! answered only when the operator enabled them.

use axum::extract::State;
use http::StatusCode;
use ruma::api::client::authenticated_media::get_media_preview;
use ruma::api::client::media::get_media_preview as get_legacy_media_preview;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::{ApiError, AppState};

pub(crate) fn routes(router: crate::router::Routes) -> crate::router::Routes {
    router
        .ruma(get_media_preview)
        .ruma(get_legacy_media_preview)
}

/// The preview as JSON, or `M_UNRECOGNIZED` when previews are off, as on servers that do not
/// offer them.
async fn preview(
    state: &AppState,
    requester: &ruma::UserId,
    url: &str,
) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    let previews = &state.services.url_previews;
    if !previews.enabled() {
        return Err(ApiError::unrecognized(
            StatusCode::NOT_FOUND,
            "URL previews are not enabled on this server",
        ));
    }
    let preview = previews.preview(requester, url).await?;
    serde_json::value::to_raw_value(&*preview)
        .map_err(|e| ApiError::from(estafette_service::ServiceError::Internal(e.to_string())))
}

/// `GET /_matrix/client/v1/media/preview_url`
async fn get_media_preview(
    State(state): State<AppState>,
    request: Ruma<get_media_preview::v1::Request>,
) -> ApiResult<get_media_preview::v1::Response> {
    let requester = &request.requester()?.user_id;
    let data = preview(&state, requester, &request.body.url).await?;
    Ok(RumaResponse(
        get_media_preview::v1::Response::from_raw_value(data),
    ))
}

/// `GET /_matrix/media/v3/preview_url`
#[allow(deprecated)]
async fn get_legacy_media_preview(
    State(state): State<AppState>,
    request: Ruma<get_legacy_media_preview::v3::Request>,
) -> ApiResult<get_legacy_media_preview::v3::Response> {
    let requester = &request.requester()?.user_id;
    let data = preview(&state, requester, &request.body.url).await?;
    Ok(RumaResponse(
        get_legacy_media_preview::v3::Response::from_raw_value(data),
    ))
}
