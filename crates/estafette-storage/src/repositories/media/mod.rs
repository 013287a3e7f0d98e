//! Media: the content repository's records.

mod media_records;

pub use media_records::{
    CachedMedia, MediaFileRepository, MediaRecord, MediaRepository, StaleMedia,
};
