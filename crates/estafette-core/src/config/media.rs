//! Media, its antivirus and link previews.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The largest file a user may upload.
    pub max_upload_bytes: usize,
    /// Where media files live; every process of one server must see the same directory.
    /// Absent: `media/` in the data directory.
    pub path: Option<PathBuf>,
    /// Images declaring more pixels than this are not thumbnailed (decompression bombs).
    pub max_image_pixels: u64,
    /// The bytes each user may have uploaded in all; absent, no quota.
    pub user_quota_bytes: Option<u64>,
    /// How long a media ID created before its upload waits for its content.
    pub unused_expiry_secs: u64,
    /// How many created media IDs a user may have waiting for their content at once.
    pub max_pending_uploads: u64,
    /// Whether the deprecated `/_matrix/media/v3/download` and `/thumbnail` serve media to
    /// clients without an access token; off, they answer 404 for all media, as Synapse does
    /// for media uploaded since authenticated media.
    pub unauthenticated_downloads: bool,
    /// Other servers' media not asked for in this long is deleted (fetched again when next
    /// asked); absent, it is kept.
    pub remote_retention_secs: Option<u64>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            path: None,
            max_image_pixels: 32_000_000,
            user_quota_bytes: None,
            unused_expiry_secs: 24 * 60 * 60,
            max_pending_uploads: 10,
            unauthenticated_downloads: false,
            remote_retention_secs: None,
        }
    }
}

/// Every file scanned by ClamAV's daemon before it is accepted, kept or served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AntivirusConfig {
    /// clamd's socket, `unix:/path` or `tcp:host:port`; absent, nothing is scanned.
    pub clamd: Option<String>,
    /// Whether files are refused (a retryable error) while clamd cannot answer; otherwise they
    /// pass unscanned, with a warning in the log.
    pub fail_closed: bool,
    /// How long one scan may take, connecting included.
    pub timeout_secs: u64,
    /// How often clamd's signature database version is asked for; verdicts of another version
    /// are scanned again.
    pub version_check_secs: u64,
    /// What a refused request tells the client to wait before retrying.
    pub retry_after_secs: u64,
    /// The content scanner calls only these types clean (`type/*` for a whole family);
    /// empty, any type. Types are detected from the bytes (plaintext for attachments).
    pub allowed_mime_types: Vec<String>,
    /// Types the content scanner never calls clean.
    pub blocked_mime_types: Vec<String>,
}

impl Default for AntivirusConfig {
    fn default() -> Self {
        Self {
            clamd: None,
            fail_closed: true,
            timeout_secs: 60,
            version_check_secs: 10,
            retry_after_secs: 5,
            allowed_mime_types: Vec::new(),
            blocked_mime_types: Vec::new(),
        }
    }
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl AntivirusConfig {
    /// The configured socket; `None` when scanning is off.
    pub fn address(&self) -> Result<Option<ClamdAddress>, ConfigError> {
        let Some(clamd) = &self.clamd else {
            return Ok(None);
        };
        if let Some(path) = clamd.strip_prefix("unix:").filter(|p| !p.is_empty()) {
            Ok(Some(ClamdAddress::Unix(PathBuf::from(path))))
        } else if let Some(address) = clamd.strip_prefix("tcp:").filter(|a| a.contains(':')) {
            Ok(Some(ClamdAddress::Tcp(address.to_owned())))
        } else {
            Err(invalid(
                "antivirus.clamd",
                format!("'{clamd}' is neither unix:/path/to/socket nor tcp:host:port"),
            ))
        }
    }
}

/// Link previews (`/_matrix/client/v1/media/preview_url`): the server fetches pages for its
/// users, so it must never be led into its own network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UrlPreviewConfig {
    pub enabled: bool,
    /// Ranges never fetched, besides loopback, private, link-local, multicast and other
    /// reserved ranges, which always are.
    pub denied_ip_ranges: Vec<String>,
    /// Ranges fetched even though denied (an intranet whose pages may be previewed).
    pub allowed_ip_ranges: Vec<String>,
    /// The most bytes read of a page or of its image.
    pub max_bytes: usize,
    /// How long fetching one page may take, redirects and body included.
    pub timeout_secs: u64,
    pub max_redirects: usize,
    /// How long a preview is kept and served again.
    pub cache_secs: u64,
    /// Previews' images (media of this server) not asked for in this long are deleted.
    pub image_retention_secs: u64,
}

impl Default for UrlPreviewConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            denied_ip_ranges: Vec::new(),
            allowed_ip_ranges: Vec::new(),
            max_bytes: 10 * 1024 * 1024,
            timeout_secs: 10,
            max_redirects: 5,
            cache_secs: 60 * 60,
            image_retention_secs: 2 * 24 * 60 * 60,
        }
    }
}
