//! The antivirus: verdicts by content hash, and the record of every detection.

mod detections;
mod verdicts;

pub use detections::{Detection, DetectionRepository};
pub use verdicts::{StoredVerdict, VerdictRepository};
