//! Authenticated media for other servers: `GET /_matrix/federation/v1/media/download` and
//! `/thumbnail`, answered as `multipart/mixed` (metadata, then the file) for this server's own
//! users' uploads.

use axum::extract::State;
use estafette_service::MediaRequester;
use ruma::api::federation::authenticated_media::{
    Content, ContentMetadata, FileOrLocation, get_content, get_content_thumbnail,
};

use crate::AppState;
use crate::client::media::content::{disposition, method};
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::small;
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_content).ruma(get_content_thumbnail)
}

fn content(file: estafette_service::MediaFile) -> FileOrLocation {
    let disposition = disposition(&file, None);
    let content_type = file.served_content_type();
    FileOrLocation::File(Content::new(file.bytes, content_type, disposition))
}

/// `GET /_matrix/federation/v1/media/download/{mediaId}`
async fn get_content(
    State(state): State<AppState>,
    request: Ruma<get_content::v1::Request>,
) -> ApiResult<get_content::v1::Response> {
    let origin = request.origin()?;
    let file = state
        .services
        .media
        .download_local(&request.body.media_id, MediaRequester::Server(origin))
        .await?;
    Ok(RumaResponse(get_content::v1::Response::new(
        ContentMetadata::new(),
        content(file),
    )))
}

/// `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
async fn get_content_thumbnail(
    State(state): State<AppState>,
    request: Ruma<get_content_thumbnail::v1::Request>,
) -> ApiResult<get_content_thumbnail::v1::Response> {
    let origin = request.origin()?;
    let body = &request.body;
    let server = state.services.context.server_name.clone();
    let file = state
        .services
        .media
        .thumbnail(
            &server,
            &body.media_id,
            small(body.width),
            small(body.height),
            method(body.method.as_ref()),
            MediaRequester::Server(origin),
        )
        .await?;
    Ok(RumaResponse(get_content_thumbnail::v1::Response::new(
        ContentMetadata::new(),
        content(file),
    )))
}
