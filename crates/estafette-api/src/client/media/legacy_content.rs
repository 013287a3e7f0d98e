//! The deprecated downloads and thumbnails of `/_matrix/media/v3/`, which need no access
//! token: served only when the operator allows it (`media.unauthenticated_downloads`), and
//! through the same antivirus checks as every other path.
#![allow(deprecated)]

use axum::extract::State;
use estafette_service::{MediaRequester, ServiceError};
use ruma::api::client::media::{get_content, get_content_as_filename, get_content_thumbnail};

use super::content::{download, thumbnail};
use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_content)
        .ruma(get_content_as_filename)
        .ruma(get_content_thumbnail)
}

/// Who asks, once the operator's choice allows anyone to.
fn anonymous(
    state: &AppState,
    (server, media_id): (&ruma::ServerName, &str),
    allow_remote: bool,
) -> Result<MediaRequester<'static>, ServiceError> {
    if state
        .services
        .context
        .config
        .media
        .unauthenticated_downloads
    {
        Ok(MediaRequester::Anonymous { allow_remote })
    } else {
        Err(ServiceError::NotFound(format!(
            "mxc://{server}/{media_id} is only served with an access token, at \
             /_matrix/client/v1/media/"
        )))
    }
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}`
async fn get_content(
    State(state): State<AppState>,
    request: Ruma<get_content::v3::Request>,
) -> ApiResult<get_content::v3::Response> {
    let body = &request.body;
    let media = (&*body.server_name, body.media_id.as_str());
    let requester = anonymous(&state, media, body.allow_remote)?;
    let (bytes, content_type, disposition) =
        download(&state, requester, media, None, body.timeout_ms).await?;
    Ok(RumaResponse(get_content::v3::Response::new(
        bytes,
        content_type,
        disposition,
    )))
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}`
async fn get_content_as_filename(
    State(state): State<AppState>,
    request: Ruma<get_content_as_filename::v3::Request>,
) -> ApiResult<get_content_as_filename::v3::Response> {
    let body = &request.body;
    let media = (&*body.server_name, body.media_id.as_str());
    let requester = anonymous(&state, media, body.allow_remote)?;
    let filename = Some(body.filename.as_str());
    let (bytes, content_type, disposition) =
        download(&state, requester, media, filename, body.timeout_ms).await?;
    Ok(RumaResponse(get_content_as_filename::v3::Response::new(
        bytes,
        content_type,
        disposition,
    )))
}

/// `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}`
async fn get_content_thumbnail(
    State(state): State<AppState>,
    request: Ruma<get_content_thumbnail::v3::Request>,
) -> ApiResult<get_content_thumbnail::v3::Response> {
    let body = &request.body;
    let media = (&*body.server_name, body.media_id.as_str());
    let requester = anonymous(&state, media, body.allow_remote)?;
    let size = (body.width, body.height, body.method.as_ref());
    let (bytes, disposition) = thumbnail(&state, requester, media, size).await?;
    Ok(RumaResponse(get_content_thumbnail::v3::Response::new(
        bytes,
        "image/png".to_owned(),
        disposition,
    )))
}
