//! Link previews (`/_matrix/client/v1/media/preview_url`): the page a user links to, fetched
//! by the server within its address policy and read for its OpenGraph tags; its image kept as
//! media of this server (scanned like any file), so clients show it without contacting the
//! site (deleted once not asked for in `url_preview.image_retention_secs`). A preview is
//! reused for `url_preview.cache_secs`; failures are not kept.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use ruma::UserId;
use serde_json::{Map, Value};
use url::Url;

use super::guarded_fetch::{Fetched, GuardedFetcher};
use super::open_graph::{declared_charset, decode, open_graph};
use super::repository::MediaService;
use crate::lock;
use crate::{Context, ServiceError, ServiceResult};

/// Previews kept at most; expired ones go first when it is reached.
const MAX_CACHED: usize = 1000;

/// A preview as clients receive it: `og:` properties, the image as an `mxc://` URI.
pub type Preview = Arc<Map<String, Value>>;

#[derive(Clone)]
pub struct UrlPreviewService {
    context: Arc<Context>,
    media: MediaService,
    /// Absent while previews are disabled.
    fetcher: Option<GuardedFetcher>,
    cache: Arc<Mutex<HashMap<String, (u64, Preview)>>>,
}

impl UrlPreviewService {
    pub(crate) fn new(context: Arc<Context>, media: MediaService) -> ServiceResult<Self> {
        let config = &context.config.url_preview;
        let fetcher = if config.enabled {
            Some(GuardedFetcher::new(config)?)
        } else {
            None
        };
        Ok(Self {
            context,
            media,
            fetcher,
            cache: Arc::default(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.fetcher.is_some()
    }

    /// The preview of `url` for `requester`.
    pub async fn preview(&self, requester: &UserId, url: &str) -> ServiceResult<Preview> {
        let Some(fetcher) = &self.fetcher else {
            return Err(ServiceError::Forbidden(
                "URL previews are disabled on this server".to_owned(),
            ));
        };
        let mut url = Url::parse(url)
            .map_err(|e| ServiceError::InvalidParam(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ServiceError::InvalidParam(format!(
                "{url}: only http and https links are previewed"
            )));
        }
        url.set_fragment(None);
        let now = self.context.now();
        let key = url.to_string();
        if let Some((expires, preview)) = lock(&self.cache).get(&key)
            && *expires > now
        {
            return Ok(preview.clone());
        }
        let page = fetcher.get(&url).await?;
        let preview = Arc::new(self.read(requester, fetcher, page).await?);
        // A preview is not reused longer than its image may be kept unseen.
        let config = &self.context.config.url_preview;
        let kept_secs = config.cache_secs.min(config.image_retention_secs / 2);
        let expires = now + kept_secs * 1000;
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (expires, _)| *expires > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (expires, preview.clone()));
        Ok(preview)
    }

    /// What a fetched page or file shows: an image is itself the preview; a page gives its tags
    /// and, when it names one its image; anything else, nothing.
    async fn read(
        &self,
        requester: &UserId,
        fetcher: &GuardedFetcher,
        page: Fetched,
    ) -> ServiceResult<Map<String, Value>> {
        let (media_type, charset) = parse_content_type(page.content_type.as_deref());
        if media_type.starts_with("image/") {
            return self.image(requester, &media_type, &page.bytes).await;
        }
        if media_type != "text/html" && media_type != "application/xhtml+xml" {
            return Ok(Map::new());
        }
        let charset = charset.or_else(|| declared_charset(&page.bytes));
        let tags = open_graph(&decode(&page.bytes, charset.as_deref()));
        let image = tags.get("og:image").cloned();
        let mut preview: Map<String, Value> = tags
            .into_iter()
            .filter(|(key, _)| !key.starts_with("og:image"))
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        let Some(image) = image else {
            return Ok(preview);
        };
        // The site's image is shown only once it is this server's (scanned) media.
        let kept = self.page_image(requester, fetcher, &page.url, &image).await;
        match kept {
            Ok(image) => preview.extend(image),
            // Another try may find clamd back: nothing is kept of this one.
            Err(e @ ServiceError::ScannerUnavailable { .. }) => return Err(e),
            Err(e) => tracing::debug!("link preview of {} without its image: {e}", page.url),
        }
        Ok(preview)
    }

    /// The image a page names (`og:image`, relative to the page), fetched and kept; nothing
    /// when it is not an image.
    async fn page_image(
        &self,
        requester: &UserId,
        fetcher: &GuardedFetcher,
        page: &Url,
        image: &str,
    ) -> ServiceResult<Map<String, Value>> {
        let image_url = page
            .join(image)
            .map_err(|e| ServiceError::InvalidParam(format!("og:image {image:?}: {e}")))?;
        let fetched = fetcher.get(&image_url).await?;
        let (media_type, _) = parse_content_type(fetched.content_type.as_deref());
        if !media_type.starts_with("image/") {
            return Ok(Map::new());
        }
        self.image(requester, &media_type, &fetched.bytes).await
    }

    /// An image kept as media of this server, described as OpenGraph does.
    async fn image(
        &self,
        requester: &UserId,
        media_type: &str,
        bytes: &[u8],
    ) -> ServiceResult<Map<String, Value>> {
        let uri = self
            .media
            .keep_fetched(requester, media_type, bytes, "url_preview")
            .await?;
        let mut image = Map::new();
        image.insert("og:image".to_owned(), uri.to_string().into());
        image.insert("og:image:type".to_owned(), media_type.into());
        image.insert("matrix:image:size".to_owned(), bytes.len().into());
        let dimensions = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .ok()
            .and_then(|reader| reader.into_dimensions().ok());
        if let Some((width, height)) = dimensions {
            image.insert("og:image:width".to_owned(), width.into());
            image.insert("og:image:height".to_owned(), height.into());
        }
        Ok(image)
    }
}

/// The media type of a `Content-Type` header, lowercase, and its charset if it names one.
fn parse_content_type(content_type: Option<&str>) -> (String, Option<String>) {
    let Some(content_type) = content_type else {
        return (String::new(), None);
    };
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    (essence, charset)
}
