//! Verdicts on files, by content hash: asked of clamd once per file and signature database
//! (concurrent requests for the same bytes wait for one scan), kept in the database for every
//! process, and dropped when clamd's `VERSION` changes. While clamd cannot answer, files are
//! refused unless the operator chose to let them through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_storage::{Detection, StoredVerdict};
use sha2::{Digest, Sha256};

use super::clamd::Clamd;
use crate::lock;
use crate::{Context, ServiceError, ServiceResult};

/// Verdicts kept in memory before the oldest are forgotten (the database keeps them all).
const MEMORY_VERDICTS: usize = 10_000;

/// The hex SHA-256 by which verdicts are kept.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Infected { signature: String },
}

/// What a file is, for the detection record and the log.
#[derive(Debug, Clone, Copy)]
pub struct ScanSubject<'a> {
    /// The `mxc://` URI of the media.
    pub media: &'a str,
    /// Who uploaded or asked for it: a local user, or another server.
    pub requester: &'a str,
    /// `upload`, `remote_fetch`, `download`, `federation_download` or
    /// `encrypted_attachment` (a plaintext the content scanner decrypted).
    pub source: &'static str,
}

#[derive(Clone)]
pub struct AntivirusService {
    inner: Arc<Inner>,
}

struct Inner {
    context: Arc<Context>,
    clamd: Option<Clamd>,
    /// clamd's last `VERSION` and when it was asked.
    version: Mutex<Option<(String, u64)>>,
    /// Recent verdicts by content hash, with the version they hold for.
    recent: Mutex<HashMap<String, (String, Verdict)>>,
    /// Per content hash, the lock held while it is scanned.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    scans: AtomicU64,
}

impl AntivirusService {
    pub(crate) fn new(context: Arc<Context>) -> ServiceResult<Self> {
        let config = &context.config.antivirus;
        let address = config
            .address()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let clamd =
            address.map(|address| Clamd::new(address, Duration::from_secs(config.timeout_secs)));
        Ok(Self {
            inner: Arc::new(Inner {
                context,
                clamd,
                version: Mutex::new(None),
                recent: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
                scans: AtomicU64::new(0),
            }),
        })
    }

    /// Whether files are scanned at all.
    pub fn enabled(&self) -> bool {
        self.inner.clamd.is_some()
    }

    /// How many files this process sent to clamd.
    pub fn scans_performed(&self) -> u64 {
        self.inner.scans.load(Ordering::Relaxed)
    }

    /// Says in the log whether clamd answers; the server starts either way, refusing files
    /// until it does when `fail_closed`.
    pub async fn report_at_startup(&self) {
        let Some(clamd) = &self.inner.clamd else {
            tracing::info!("antivirus: off (antivirus.clamd is not set); files are not scanned");
            return;
        };
        match self.current_version(clamd).await {
            Ok(version) => tracing::info!(%version, "antivirus: clamd answers"),
            Err(reason) => tracing::warn!(%reason, "antivirus: clamd does not answer yet"),
        }
    }

    /// Passes when `bytes` may be accepted or served: clean, or not scanned by configuration.
    /// An infected file is recorded for the operator and refused; while clamd cannot answer,
    /// the file is refused with a retryable error unless `fail_closed` is off.
    pub async fn ensure_clean(
        &self,
        content_hash: &str,
        bytes: &[u8],
        subject: ScanSubject<'_>,
    ) -> ServiceResult<()> {
        let context = &self.inner.context;
        match self.verdict(content_hash, bytes).await {
            Ok(None | Some(Verdict::Clean)) => Ok(()),
            Ok(Some(Verdict::Infected { signature })) => {
                tracing::warn!(
                    signature = %signature,
                    media = subject.media,
                    requester = subject.requester,
                    source = subject.source,
                    content_hash,
                    "antivirus: infected file refused"
                );
                let detection = Detection {
                    content_hash: content_hash.to_owned(),
                    signature: signature.clone(),
                    media: Some(subject.media.to_owned()),
                    requester: Some(subject.requester.to_owned()),
                    source: subject.source.to_owned(),
                    detected_ts: context.now(),
                };
                context
                    .storage
                    .antivirus_detections
                    .record(&detection)
                    .await?;
                Err(ServiceError::MediaNotClean(format!(
                    "The file is infected ({signature}) and is refused"
                )))
            }
            Err(reason) if context.config.antivirus.fail_closed => {
                tracing::error!(%reason, source = subject.source, "antivirus: file refused unscanned");
                Err(ServiceError::ScannerUnavailable {
                    message: "The antivirus is unavailable; try again later".to_owned(),
                    retry_after_secs: context.config.antivirus.retry_after_secs,
                })
            }
            Err(reason) => {
                tracing::warn!(
                    %reason,
                    source = subject.source,
                    media = subject.media,
                    "antivirus: file let through unscanned (fail_closed is off)"
                );
                Ok(())
            }
        }
    }

    /// The verdict on `bytes` under clamd's current signatures; `None` when scanning is off.
    /// An error says why there is no verdict (clamd unreachable, slow or refusing).
    async fn verdict(&self, content_hash: &str, bytes: &[u8]) -> Result<Option<Verdict>, String> {
        let Some(clamd) = &self.inner.clamd else {
            return Ok(None);
        };
        let version = self.current_version(clamd).await?;
        if let Some(verdict) = self.remembered(content_hash, &version) {
            return Ok(Some(verdict));
        }
        let lock = self.scan_lock(content_hash);
        let result = async {
            let _scanning = lock.lock().await;
            // Whoever held the lock before may have reached the verdict.
            if let Some(verdict) = self.reached(content_hash, &version).await? {
                return Ok(verdict);
            }
            let verdict = clamd.scan(bytes).await?;
            self.inner.scans.fetch_add(1, Ordering::Relaxed);
            let infected_by = match &verdict {
                Verdict::Clean => None,
                Verdict::Infected { signature } => Some(signature.clone()),
            };
            let stored = StoredVerdict {
                engine_version: version.clone(),
                infected_by,
                scanned_ts: self.inner.context.now(),
            };
            self.inner
                .context
                .storage
                .antivirus_verdicts
                .put(content_hash, &stored)
                .await
                .map_err(|e| format!("cannot keep a verdict: {e}"))?;
            self.remember(content_hash, &version, &verdict);
            Ok(verdict)
        }
        .await;
        self.release_scan_lock(content_hash, &lock);
        result.map(Some)
    }

    /// The verdict already reached on these bytes under the current signatures, without
    /// scanning; `None` when there is none (or clamd cannot say which signatures are current).
    pub async fn known_verdict(&self, content_hash: &str) -> Option<Verdict> {
        let clamd = self.inner.clamd.as_ref()?;
        let version = self.current_version(clamd).await.ok()?;
        self.reached(content_hash, &version).await.ok()?
    }

    /// The verdict reached under `version`, in this process or another (then remembered here).
    async fn reached(&self, content_hash: &str, version: &str) -> Result<Option<Verdict>, String> {
        if let Some(verdict) = self.remembered(content_hash, version) {
            return Ok(Some(verdict));
        }
        let stored = self
            .inner
            .context
            .storage
            .antivirus_verdicts
            .get(content_hash)
            .await
            .map_err(|e| format!("cannot read verdicts: {e}"))?;
        let Some(stored) = stored.filter(|s| s.engine_version == version) else {
            return Ok(None);
        };
        let verdict = match stored.infected_by {
            Some(signature) => Verdict::Infected { signature },
            None => Verdict::Clean,
        };
        self.remember(content_hash, version, &verdict);
        Ok(Some(verdict))
    }

    /// clamd's signature database version, asked again once `version_check_secs` have passed.
    /// While clamd cannot answer, the last version known stands, so that files already found
    /// clean are still served.
    async fn current_version(&self, clamd: &Clamd) -> Result<String, String> {
        let now = self.inner.context.now();
        let interval = self.inner.context.config.antivirus.version_check_secs * 1000;
        let known = lock(&self.inner.version).clone();
        if let Some((version, asked)) = &known
            && now.saturating_sub(*asked) < interval
        {
            return Ok(version.clone());
        }
        match clamd.version().await {
            Ok(version) => {
                if known.as_ref().is_some_and(|(old, _)| *old != version) {
                    tracing::info!(%version, "antivirus: clamd's signatures changed");
                    lock(&self.inner.recent).clear();
                }
                *lock(&self.inner.version) = Some((version.clone(), now));
                Ok(version)
            }
            Err(reason) => known.map(|(version, _)| version).ok_or(reason),
        }
    }

    fn remembered(&self, content_hash: &str, version: &str) -> Option<Verdict> {
        lock(&self.inner.recent)
            .get(content_hash)
            .filter(|(v, _)| v == version)
            .map(|(_, verdict)| verdict.clone())
    }

    fn remember(&self, content_hash: &str, version: &str, verdict: &Verdict) {
        let mut recent = lock(&self.inner.recent);
        if recent.len() >= MEMORY_VERDICTS {
            recent.clear();
        }
        recent.insert(
            content_hash.to_owned(),
            (version.to_owned(), verdict.clone()),
        );
    }

    fn scan_lock(&self, content_hash: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.in_flight)
            .entry(content_hash.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets the lock once nobody else waits on it.
    fn release_scan_lock(&self, content_hash: &str, held: &Arc<tokio::sync::Mutex<()>>) {
        let mut in_flight = lock(&self.inner.in_flight);
        if in_flight
            .get(content_hash)
            .is_some_and(|l| Arc::ptr_eq(l, held) && Arc::strong_count(l) <= 2)
        {
            in_flight.remove(content_hash);
        }
    }
}
