//! The content repository: uploads, downloads, thumbnails, and other servers' media fetched
//! over federation. Calls the context and the federation client.

mod repository;

pub use repository::{MediaFile, MediaService, ThumbnailMethod};
