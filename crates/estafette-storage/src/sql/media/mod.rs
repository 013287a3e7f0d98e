//! Media: the content repository's records.

mod media_records;
