//! The antivirus: verdicts by content hash and the record of detections.

mod detections;
mod verdicts;
