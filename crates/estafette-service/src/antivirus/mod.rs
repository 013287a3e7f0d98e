//! The antivirus: every file scanned by ClamAV's daemon before it is accepted, kept or served;
//! verdicts by content hash and the record of detections.

mod clamd;
mod scanning;

pub use scanning::{AntivirusService, ScanSubject, Verdict, content_hash};

/// A poisoned lock only means another task panicked while holding it; the map stays usable.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
