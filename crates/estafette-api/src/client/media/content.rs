//! The media repository for clients: uploads (`POST /_matrix/media/v3/upload`, or
//! `POST /_matrix/media/v1/create` then `PUT /_matrix/media/v3/upload/…`), the authenticated
//! downloads and thumbnails of `/_matrix/client/v1/media/`, and the media configuration.

use axum::extract::State;
use estafette_service::{MediaFile, MediaRequester, ThumbnailMethod, Upload};
use ruma::api::client::authenticated_media::{
    get_content, get_content_as_filename, get_content_thumbnail, get_media_config,
};
use ruma::api::client::media::{
    create_content, create_content_async, create_mxc_uri,
    get_media_config as get_legacy_media_config,
};
use ruma::http_headers::{ContentDisposition, ContentDispositionType};
use ruma::media::Method;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::small;
use crate::router::Routes;

/// The longest a download waits for a pending upload, whatever the client asks.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_content)
        .ruma(create_mxc_uri)
        .ruma(create_content_async)
        .ruma(get_content)
        .ruma(get_content_as_filename)
        .ruma(get_content_thumbnail)
        .ruma(get_media_config)
        .ruma(get_legacy_media_config)
}

/// `POST /_matrix/media/v3/upload`
async fn create_content(
    State(state): State<AppState>,
    request: Ruma<create_content::v3::Request>,
) -> ApiResult<create_content::v3::Response> {
    let body = &request.body;
    let upload = Upload {
        content_type: body.content_type.as_deref(),
        filename: body.filename.as_deref(),
        bytes: &body.file,
    };
    let requester = request.requester()?;
    limit_uploads(&state, requester).await?;
    let uri = state.services.media.upload(requester, upload).await?;
    Ok(RumaResponse(create_content::v3::Response::new(uri)))
}

async fn limit_uploads(
    state: &AppState,
    requester: &estafette_service::Requester,
) -> Result<(), crate::ApiError> {
    state
        .services
        .rate_limits
        .check_upload(requester.user_id.as_str())
        .await
        .map_err(crate::ApiError::limit_exceeded)
}

/// `POST /_matrix/media/v1/create`
async fn create_mxc_uri(
    State(state): State<AppState>,
    request: Ruma<create_mxc_uri::v1::Request>,
) -> ApiResult<create_mxc_uri::v1::Response> {
    let requester = request.requester()?;
    limit_uploads(&state, requester).await?;
    let created = state.services.media.create(requester).await?;
    let mut response = create_mxc_uri::v1::Response::new(created.uri);
    response.unused_expires_at =
        ruma::UInt::new(created.unused_expires_at).map(ruma::MilliSecondsSinceUnixEpoch);
    Ok(RumaResponse(response))
}

/// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
async fn create_content_async(
    State(state): State<AppState>,
    request: Ruma<create_content_async::v3::Request>,
) -> Result<axum::Json<serde_json::Value>, crate::ApiError> {
    let body = &request.body;
    let upload = Upload {
        content_type: body.content_type.as_deref(),
        filename: body.filename.as_deref(),
        bytes: &body.file,
    };
    state
        .services
        .media
        .upload_to(
            request.requester()?,
            &body.server_name,
            &body.media_id,
            upload,
        )
        .await?;
    // ruma gives its empty response no constructor on the server side: `{}` as it is.
    Ok(axum::Json(serde_json::json!({})))
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
pub(crate) async fn download(
    state: &AppState,
    requester: MediaRequester<'_>,
    (server, media_id): (&ruma::ServerName, &str),
    filename: Option<&str>,
    wait: std::time::Duration,
) -> Result<(Vec<u8>, String, ContentDisposition), crate::ApiError> {
    let wait = wait.min(MAX_WAIT);
    let file = state
        .services
        .media
        .download_waiting(server, media_id, requester, wait)
        .await?;
    let disposition = disposition(&file, filename);
    let content_type = file.served_content_type();
    Ok((file.bytes, content_type, disposition))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
async fn get_content(
    State(state): State<AppState>,
    request: Ruma<get_content::v1::Request>,
) -> ApiResult<get_content::v1::Response> {
    let requester = &request.requester()?.user_id;
    let body = &request.body;
    let (bytes, content_type, disposition) = download(
        &state,
        MediaRequester::User(requester),
        (&body.server_name, &body.media_id),
        None,
        body.timeout_ms,
    )
    .await?;
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
    let requester = &request.requester()?.user_id;
    let body = &request.body;
    let (bytes, content_type, disposition) = download(
        &state,
        MediaRequester::User(requester),
        (&body.server_name, &body.media_id),
        Some(&body.filename),
        body.timeout_ms,
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
    let requester = MediaRequester::User(&request.requester()?.user_id);
    let body = &request.body;
    let size = (body.width, body.height, body.method.as_ref());
    let media = (&*body.server_name, body.media_id.as_str());
    let (bytes, disposition) = thumbnail(&state, requester, media, size).await?;
    Ok(RumaResponse(get_content_thumbnail::v1::Response::new(
        bytes,
        "image/png".to_owned(),
        disposition,
    )))
}

/// A PNG thumbnail of media for a client, and its disposition.
pub(crate) async fn thumbnail(
    state: &AppState,
    requester: MediaRequester<'_>,
    (server, media_id): (&ruma::ServerName, &str),
    (width, height, thumbnail_method): (ruma::UInt, ruma::UInt, Option<&Method>),
) -> Result<(Vec<u8>, ContentDisposition), crate::ApiError> {
    let file = state
        .services
        .media
        .thumbnail(
            server,
            media_id,
            small(width),
            small(height),
            method(thumbnail_method),
            requester,
        )
        .await?;
    let disposition = disposition(&file, None);
    Ok((file.bytes, disposition))
}

/// `GET /_matrix/client/v1/media/config`
async fn get_media_config(
    State(state): State<AppState>,
    request: Ruma<get_media_config::v1::Request>,
) -> ApiResult<get_media_config::v1::Response> {
    request.requester()?;
    Ok(RumaResponse(get_media_config::v1::Response::new(
        upload_limit(&state),
    )))
}

fn upload_limit(state: &AppState) -> ruma::UInt {
    let limit = state.services.context.config.media.max_upload_bytes as u64;
    ruma::UInt::new(limit).unwrap_or(ruma::UInt::MAX)
}

/// `GET /_matrix/media/v3/config`: deprecated by the authenticated one, and still what
/// matrix-js-sdk (Element Web) asks for the upload limit.
#[allow(deprecated)]
async fn get_legacy_media_config(
    State(state): State<AppState>,
    request: Ruma<get_legacy_media_config::v3::Request>,
) -> ApiResult<get_legacy_media_config::v3::Response> {
    request.requester()?;
    Ok(RumaResponse(get_legacy_media_config::v3::Response::new(
        upload_limit(&state),
    )))
}
