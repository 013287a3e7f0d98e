//! The media repository: uploads of local users, downloads (other servers' media fetched over
//! authenticated federation and kept), and thumbnails made here from the original.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use estafette_storage::MediaRecord;
use ruma::ServerName;
use ruma::api::federation::authenticated_media::FileOrLocation;
use ruma::api::federation::authenticated_media::get_content::v1 as federation_download;

use crate::antivirus::{AntivirusService, ScanSubject, content_hash};
use crate::{Context, FederationService, ServiceError, ServiceResult};

/// Thumbnails are at most this wide and high.
const MAX_THUMBNAIL_SIDE: u32 = 800;
/// The variant holding the bytes as uploaded, for media stored before contents were shared.
const ORIGINAL: &str = "original";
/// How often a download waiting for a pending upload looks again.
const PENDING_POLL: Duration = Duration::from_millis(200);

/// A file as clients and servers download it.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

impl MediaFile {
    /// The content type the file is served with: as uploaded, or plain bytes.
    pub fn served_content_type(&self) -> String {
        self.content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned())
    }
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
    pub(super) context: Arc<Context>,
    federation: FederationService,
    antivirus: AntivirusService,
}

/// Who asks for a file: a local user, another server, or a client without an access token
/// (the deprecated unauthenticated endpoints), which may forbid fetching other servers' media.
#[derive(Debug, Clone, Copy)]
pub enum MediaRequester<'a> {
    User(&'a ruma::UserId),
    Server(&'a ServerName),
    Anonymous { allow_remote: bool },
}

impl MediaRequester<'_> {
    fn name(&self) -> &str {
        match self {
            Self::User(user) => user.as_str(),
            Self::Server(server) => server.as_str(),
            Self::Anonymous { .. } => "anonymous",
        }
    }

    fn source(&self) -> &'static str {
        match self {
            Self::User(_) => "download",
            Self::Server(_) => "federation_download",
            Self::Anonymous { .. } => "unauthenticated_download",
        }
    }

    fn may_fetch_remote(&self) -> bool {
        match self {
            Self::User(_) => true,
            Self::Server(_) => false,
            Self::Anonymous { allow_remote } => *allow_remote,
        }
    }
}

impl MediaService {
    pub(crate) fn new(
        context: Arc<Context>,
        federation: FederationService,
        antivirus: AntivirusService,
    ) -> Self {
        Self {
            context,
            federation,
            antivirus,
        }
    }

    /// A file of this server or of another (fetched once over federation, then kept), never
    /// one the antivirus has not passed.
    pub async fn download(
        &self,
        server: &ServerName,
        media_id: &str,
        requester: MediaRequester<'_>,
    ) -> ServiceResult<MediaFile> {
        self.download_waiting(server, media_id, requester, Duration::ZERO)
            .await
    }

    /// [`Self::download`], waiting up to `wait` for media created but not uploaded yet
    /// (`M_NOT_YET_UPLOADED` after that).
    pub async fn download_waiting(
        &self,
        server: &ServerName,
        media_id: &str,
        requester: MediaRequester<'_>,
        wait: Duration,
    ) -> ServiceResult<MediaFile> {
        let deadline = tokio::time::Instant::now() + wait;
        let stored = loop {
            match self.stored(server, media_id, requester).await {
                Err(ServiceError::NotYetUploaded(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(PENDING_POLL).await;
                }
                other => break other?,
            }
        };
        if let Some(file) = stored {
            return Ok(file);
        }
        if server == self.context.server_name || !requester.may_fetch_remote() {
            return Err(not_found(server, media_id));
        }
        self.fetch_remote(server, media_id, requester).await
    }

    /// What this server serves other servers: its own users' uploads only.
    pub async fn download_local(
        &self,
        media_id: &str,
        requester: MediaRequester<'_>,
    ) -> ServiceResult<MediaFile> {
        let server = self.context.server_name.clone();
        self.stored(&server, media_id, requester)
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
        requester: MediaRequester<'_>,
    ) -> ServiceResult<MediaFile> {
        // Another server may only ask for this server's own media.
        let original = if let MediaRequester::Server(_) = requester {
            self.download_local(media_id, requester).await?
        } else {
            self.download(server, media_id, requester).await?
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
        let max_pixels = self.context.config.media.max_image_pixels;
        let image = decode_image(&original.bytes, max_pixels).map_err(|e| match e {
            ImageError::NotAnImage => {
                ServiceError::NotFound(format!("mxc://{server}/{media_id} is not an image"))
            }
            ImageError::TooManyPixels(width, height) => ServiceError::TooLarge(format!(
                "mxc://{server}/{media_id} has {width}×{height} pixels; thumbnails are made of \
                 images of at most {max_pixels} pixels"
            )),
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
        requester: MediaRequester<'_>,
    ) -> ServiceResult<Option<MediaFile>> {
        if !is_media_id(media_id) {
            return Err(not_found(server, media_id));
        }
        let storage = &self.context.storage;
        let Some(record) = storage.media.get(server, media_id).await? else {
            return Ok(None);
        };
        match record.pending_until {
            Some(until) if until > self.context.now() => {
                return Err(ServiceError::NotYetUploaded(format!(
                    "mxc://{server}/{media_id} is not uploaded yet"
                )));
            }
            Some(_) => return Err(not_found(server, media_id)),
            None => {}
        }
        let bytes = match &record.content_hash {
            Some(hash) => storage.media_files.read_content(hash).await?,
            // Stored before contents were shared.
            None => storage.media_files.read(server, media_id, ORIGINAL).await?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        // Scanned again when the signatures changed since (the verdict is kept by hash); media
        // stored before hashes were recorded is hashed only when there is a scanner to ask.
        if self.antivirus.enabled() {
            let hash = record.content_hash.unwrap_or_else(|| content_hash(&bytes));
            let (name, source) = (requester.name(), requester.source());
            self.ensure_clean((server, media_id), &hash, &bytes, (name, source))
                .await?;
        }
        self.record_access(server, media_id, record.last_access_ts)
            .await?;
        Ok(Some(MediaFile {
            bytes,
            content_type: record.content_type,
            filename: record.filename,
        }))
    }

    /// Passes `bytes` of `mxc://{server}/{media_id}` through the antivirus, for `requester`
    /// (a user or a server) and the way the file came (`source`, as detections record it).
    pub(super) async fn ensure_clean(
        &self,
        (server, media_id): (&ServerName, &str),
        content_hash: &str,
        bytes: &[u8],
        (requester, source): (&str, &'static str),
    ) -> ServiceResult<()> {
        let uri = format!("mxc://{server}/{media_id}");
        let subject = ScanSubject {
            media: &uri,
            requester,
            source,
        };
        self.antivirus
            .ensure_clean(content_hash, bytes, subject)
            .await
    }

    /// Keeps `bytes` of `mxc://{server}/{media_id}` once the antivirus passed them (an
    /// infected file never reaches the disk); their content hash.
    pub(super) async fn keep_clean(
        &self,
        media: (&ServerName, &str),
        bytes: &[u8],
        who: (&str, &'static str),
    ) -> ServiceResult<String> {
        let hash = content_hash(bytes);
        self.ensure_clean(media, &hash, bytes, who).await?;
        let files = &self.context.storage.media_files;
        files.write_content(&hash, bytes).await?;
        Ok(hash)
    }

    async fn fetch_remote(
        &self,
        server: &ServerName,
        media_id: &str,
        requester: MediaRequester<'_>,
    ) -> ServiceResult<MediaFile> {
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
        let who = (requester.name(), "remote_fetch");
        let hash = self
            .keep_clean((server, media_id), &file.bytes, who)
            .await?;
        let record = MediaRecord {
            content_type: file.content_type.clone(),
            filename: file.filename.clone(),
            size: file.bytes.len() as u64,
            uploader: None,
            created_ts: self.context.now(),
            content_hash: Some(hash),
            pending_until: None,
            last_access_ts: self.context.now(),
        };
        self.context
            .storage
            .media
            .put(server, media_id, &record)
            .await?;
        Ok(file)
    }
}

enum ImageError {
    NotAnImage,
    TooManyPixels(u32, u32),
}

/// Decodes an image whose header declares at most `max_pixels`, so that a small file
/// declaring a huge image (a decompression bomb) is refused before memory is given to it.
fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<image::DynamicImage, ImageError> {
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|_| ImageError::NotAnImage)
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|_| ImageError::NotAnImage)?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooManyPixels(width, height));
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    // Eight bytes a pixel covers 16-bit RGBA, the widest format decoded here.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    reader.decode().map_err(|_| ImageError::NotAnImage)
}

fn png(bytes: Vec<u8>) -> MediaFile {
    MediaFile {
        bytes,
        content_type: Some("image/png".to_owned()),
        filename: None,
    }
}

/// Media IDs are opaque, but only plain characters are ever valid here.
pub(super) fn is_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= 255
        && media_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

pub(super) fn not_found(server: &ServerName, media_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("mxc://{server}/{media_id} not found"))
}
