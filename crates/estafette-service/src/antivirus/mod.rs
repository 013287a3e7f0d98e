//! The antivirus: every file scanned by ClamAV's daemon before it is accepted, kept or served;
//! verdicts by content hash and the record of detections.

mod clamd;
mod scanning;

pub use scanning::{AntivirusService, ScanSubject, Verdict, content_hash};
