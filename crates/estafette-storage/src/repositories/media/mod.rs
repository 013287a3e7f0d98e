//! Media: the content repository's records.

mod media_records;

pub use media_records::{MediaFileRepository, MediaRecord, MediaRepository, StaleMedia};
