//! The content repository: uploads, downloads, thumbnails, and other servers' media fetched
//! over federation, every file passed by the antivirus; and the Matrix Content Scanner API,
//! which also scans the plaintext of encrypted attachments; link previews; retention of other
//! servers' media. Calls the context, the federation
//! client and the antivirus.

mod attachments;
mod content_scanner;
mod file_types;
mod guarded_fetch;
mod open_graph;
mod repository;
mod retention;
mod uploads;
mod url_preview;

pub use content_scanner::{CLEAN_INFO, ContentScannerService, INFECTED_INFO, ScanReport};
pub use repository::{MediaFile, MediaRequester, MediaService, ThumbnailMethod};
pub use uploads::{CreatedMedia, Upload};
pub use url_preview::{Preview, UrlPreviewService};
