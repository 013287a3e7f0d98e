//! The media repository for clients: `POST /_matrix/media/v3/upload`, the authenticated
//! downloads and thumbnails of `/_matrix/client/v1/media/`, and the media configuration.

use axum::extract::State;
use estafette_service::{MediaFile, ThumbnailMethod};
use ruma::api::client::authenticated_media::{
    get_content, get_content_as_filename, get_content_thumbnail, get_media_config,
};
use ruma::api::client::media::create_content;
use ruma::http_headers::{ContentDisposition, ContentDispositionType};
use ruma::media::Method;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::small;
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_content)
        .ruma(get_content)
        .ruma(get_content_as_filename)
        .ruma(get_content_thumbnail)
        .ruma(get_media_config)
}

/// `POST /_matrix/media/v3/upload`
async fn create_content(
    State(state): State<AppState>,
    request: Ruma<create_content::v3::Request>,
) -> ApiResult<create_content::v3::Response> {
    let body = &request.body;
    let uri = state
        .services
        .media
        .upload(
            request.requester()?,
            body.content_type.as_deref(),
            body.filename.as_deref(),
            &body.file,
        )
        .await?;
    Ok(RumaResponse(create_content::v3::Response::new(uri)))
}

/// How a downloaded file is offered: inline when it is safe to show, otherwise as an
/// attachment, with its name when it has one.
pub(crate) fn disposition(file: &MediaFile, filename: Option<&str>) -> ContentDisposition {
    let inline = file.content_type.as_deref().is_some_and(|t| {
        [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "text/plain",
        ]
        .contains(&t)
    });
    let kind = if inline {
        ContentDispositionType::Inline
    } else {
        ContentDispositionType::Attachment
    };
    ContentDisposition::new(kind).with_filename(
        filename
            .map(ToOwned::to_owned)
            .or_else(|| file.filename.clone()),
    )
}

/// A file for a client: its bytes, content type and disposition.
async fn download(
    state: &AppState,
    server: &ruma::ServerName,
    media_id: &str,
    filename: Option<&str>,
) -> Result<(Vec<u8>, String, ContentDisposition), crate::ApiError> {
    let file = state.services.media.download(server, media_id).await?;
    let disposition = disposition(&file, filename);
    let content_type = file
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok((file.bytes, content_type, disposition))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
async fn get_content(
    State(state): State<AppState>,
    request: Ruma<get_content::v1::Request>,
) -> ApiResult<get_content::v1::Response> {
    request.requester()?;
    let body = &request.body;
    let (bytes, content_type, disposition) =
        download(&state, &body.server_name, &body.media_id, None).await?;
    Ok(RumaResponse(get_content::v1::Response::new(
        bytes,
        content_type,
        disposition,
    )))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`
async fn get_content_as_filename(
    State(state): State<AppState>,
    request: Ruma<get_content_as_filename::v1::Request>,
) -> ApiResult<get_content_as_filename::v1::Response> {
    request.requester()?;
    let body = &request.body;
    let (bytes, content_type, disposition) = download(
        &state,
        &body.server_name,
        &body.media_id,
        Some(&body.filename),
    )
    .await?;
    Ok(RumaResponse(get_content_as_filename::v1::Response::new(
        bytes,
        content_type,
        disposition,
    )))
}

/// The thumbnail method asked for (crop unless told to scale).
pub(crate) fn method(method: Option<&Method>) -> ThumbnailMethod {
    match method {
        Some(Method::Scale) => ThumbnailMethod::Scale,
        _ => ThumbnailMethod::Crop,
    }
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
async fn get_content_thumbnail(
    State(state): State<AppState>,
    request: Ruma<get_content_thumbnail::v1::Request>,
) -> ApiResult<get_content_thumbnail::v1::Response> {
    request.requester()?;
    let body = &request.body;
    let file = state
        .services
        .media
        .thumbnail(
            &body.server_name,
            &body.media_id,
            small(body.width),
            small(body.height),
            method(body.method.as_ref()),
            false,
        )
        .await?;
    let disposition = disposition(&file, None);
    Ok(RumaResponse(get_content_thumbnail::v1::Response::new(
        file.bytes,
        "image/png".to_owned(),
        disposition,
    )))
}

/// `GET /_matrix/client/v1/media/config`
async fn get_media_config(
    State(state): State<AppState>,
    request: Ruma<get_media_config::v1::Request>,
) -> ApiResult<get_media_config::v1::Response> {
    request.requester()?;
    let limit = state.services.context.config.media.max_upload_bytes as u64;
    Ok(RumaResponse(get_media_config::v1::Response::new(
        ruma::UInt::new(limit).unwrap_or(ruma::UInt::MAX),
    )))
}
