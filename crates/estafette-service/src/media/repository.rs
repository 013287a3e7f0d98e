//! The media repository: uploads of local users, downloads (other servers' media fetched over
//! authenticated federation and kept), and thumbnails made here from the original.

use std::io::Cursor;
use std::sync::Arc;

use estafette_storage::MediaRecord;
use ruma::api::federation::authenticated_media::FileOrLocation;
use ruma::api::federation::authenticated_media::get_content::v1 as federation_download;
use ruma::{OwnedMxcUri, ServerName};

use crate::{Context, FederationService, Requester, ServiceError, ServiceResult};

/// Thumbnails are at most this wide and high.
const MAX_THUMBNAIL_SIDE: u32 = 800;
/// The variant holding the bytes as uploaded.
const ORIGINAL: &str = "original";

/// A file as clients and servers download it.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// How a thumbnail fits the requested size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailMethod {
    /// Fills the size exactly, cutting what overflows.
    Crop,
    /// Fits within the size, keeping the aspect ratio.
    Scale,
}

#[derive(Clone)]
pub struct MediaService {
    context: Arc<Context>,
    federation: FederationService,
}

impl MediaService {
    pub(crate) fn new(context: Arc<Context>, federation: FederationService) -> Self {
        Self {
            context,
            federation,
        }
    }

    /// `POST /_matrix/media/v3/upload`
    pub async fn upload(
        &self,
        requester: &Requester,
        content_type: Option<&str>,
        filename: Option<&str>,
        bytes: &[u8],
    ) -> ServiceResult<OwnedMxcUri> {
        let limit = self.context.config.media.max_upload_bytes;
        if bytes.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "Files are limited to {limit} bytes"
            )));
        }
        let media_id = self.context.random.alphanumeric(24);
        let origin = &self.context.server_name;
        self.context
            .storage
            .media_files
            .write(origin, &media_id, ORIGINAL, bytes)
            .await?;
        let record = MediaRecord {
            content_type: content_type.map(ToOwned::to_owned),
            filename: filename.map(ToOwned::to_owned),
            size: bytes.len() as u64,
            uploader: Some(requester.user_id.to_string()),
            created_ts: self.context.now(),
        };
        self.context
            .storage
            .media
            .put(origin, &media_id, &record)
            .await?;
        Ok(OwnedMxcUri::from(format!("mxc://{origin}/{media_id}")))
    }

    /// A file of this server or of another (fetched once over federation, then kept).
    pub async fn download(&self, server: &ServerName, media_id: &str) -> ServiceResult<MediaFile> {
        if let Some(file) = self.stored(server, media_id).await? {
            return Ok(file);
        }
        if server == self.context.server_name {
            return Err(not_found(server, media_id));
        }
        self.fetch_remote(server, media_id).await
    }

    /// What this server serves other servers: its own users' uploads only.
    pub async fn download_local(&self, media_id: &str) -> ServiceResult<MediaFile> {
        let server = self.context.server_name.clone();
        self.stored(&server, media_id)
            .await?
            .ok_or_else(|| not_found(&server, media_id))
    }

    /// A thumbnail at most `width`×`height` (made once, then kept).
    pub async fn thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        width: u32,
        height: u32,
        method: ThumbnailMethod,
        local_only: bool,
    ) -> ServiceResult<MediaFile> {
        let original = if local_only {
            self.download_local(media_id).await?
        } else {
            self.download(server, media_id).await?
        };
        let (width, height) = (
            width.clamp(1, MAX_THUMBNAIL_SIDE),
            height.clamp(1, MAX_THUMBNAIL_SIDE),
        );
        let variant = format!(
            "thumbnail-{width}x{height}-{}",
            if method == ThumbnailMethod::Crop {
                "crop"
            } else {
                "scale"
            }
        );
        let files = &self.context.storage.media_files;
        if let Some(bytes) = files.read(server, media_id, &variant).await? {
            return Ok(png(bytes));
        }
        let image = image::load_from_memory(&original.bytes).map_err(|_| {
            ServiceError::NotFound(format!("mxc://{server}/{media_id} is not an image"))
        })?;
        let thumbnail = match method {
            ThumbnailMethod::Crop => {
                image.resize_to_fill(width, height, image::imageops::FilterType::Triangle)
            }
            ThumbnailMethod::Scale => image.thumbnail(width, height),
        };
        let mut bytes = Vec::new();
        thumbnail
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .map_err(|e| ServiceError::Internal(format!("cannot encode a thumbnail: {e}")))?;
        files.write(server, media_id, &variant, &bytes).await?;
        Ok(png(bytes))
    }

    async fn stored(
        &self,
        server: &ServerName,
        media_id: &str,
    ) -> ServiceResult<Option<MediaFile>> {
        if !is_media_id(media_id) {
            return Err(not_found(server, media_id));
        }
        let storage = &self.context.storage;
        let Some(record) = storage.media.get(server, media_id).await? else {
            return Ok(None);
        };
        let Some(bytes) = storage.media_files.read(server, media_id, ORIGINAL).await? else {
            return Ok(None);
        };
        Ok(Some(MediaFile {
            bytes,
            content_type: record.content_type,
            filename: record.filename,
        }))
    }

    async fn fetch_remote(&self, server: &ServerName, media_id: &str) -> ServiceResult<MediaFile> {
        let request = federation_download::Request::new(media_id.to_owned());
        let answer =
            self.federation.send(server, request).await.map_err(|e| {
                e.unavailable_as_not_found(format_args!("mxc://{server}/{media_id}"))
            })?;
        let FileOrLocation::File(content) = answer.content else {
            return Err(ServiceError::NotFound(format!(
                "mxc://{server}/{media_id} is only available elsewhere"
            )));
        };
        let file = MediaFile {
            bytes: content.file,
            content_type: content.content_type,
            filename: content.content_disposition.and_then(|d| d.filename),
        };
        self.context
            .storage
            .media_files
            .write(server, media_id, ORIGINAL, &file.bytes)
            .await?;
        let record = MediaRecord {
            content_type: file.content_type.clone(),
            filename: file.filename.clone(),
            size: file.bytes.len() as u64,
            uploader: None,
            created_ts: self.context.now(),
        };
        self.context
            .storage
            .media
            .put(server, media_id, &record)
            .await?;
        Ok(file)
    }
}

fn png(bytes: Vec<u8>) -> MediaFile {
    MediaFile {
        bytes,
        content_type: Some("image/png".to_owned()),
        filename: None,
    }
}

/// Media IDs are opaque, but only plain characters are ever valid here.
fn is_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= 255
        && media_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

fn not_found(server: &ServerName, media_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("mxc://{server}/{media_id} not found"))
}
