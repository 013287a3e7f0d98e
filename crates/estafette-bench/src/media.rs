//! The media measurements: upload latency by file size (every file distinct, so that an
//! antivirus scans each), and the throughput of a Matrix Content Scanner (Estafette's own, or
//! another at its own URL) scanning files of the homeserver, first and cached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{BenchResult, Session};
use crate::scenarios::Users;
use crate::stats::Summary;

/// What to measure.
pub struct MediaSetup {
    /// File sizes in bytes, each uploaded `uploads` times.
    pub sizes: Vec<usize>,
    pub uploads: usize,
    /// The content scanner's URL (none: no scanner measurement).
    pub scanner: Option<String>,
    /// Files the scanner scans, each once first and once again cached.
    pub scanned_files: usize,
    pub scanned_file_size: usize,
    pub concurrency: usize,
    /// Another server whose user uploads the scanned files (so that the scanner's server
    /// fetches each over federation and scans it then); none: the scanner's own server.
    pub upload_server: Option<String>,
}

/// Bytes no other run or file shares: the scanner cannot have seen them.
fn distinct_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..size)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

pub async fn media(users: &Users, setup: &MediaSetup) -> BenchResult<Value> {
    let uploader = users.register("media", 1).await?.remove(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut uploads = Vec::new();
    for (s, size) in setup.sizes.iter().enumerate() {
        let mut samples = Vec::new();
        for i in 0..setup.uploads {
            let bytes = distinct_bytes(*size, seed ^ (((s as u64) << 32) | i as u64));
            let start = Instant::now();
            uploader.upload(bytes).await?;
            samples.push(start.elapsed());
        }
        let summary = Summary::of(samples);
        println!("upload {size:>9} bytes: {}", summary.line());
        uploads.push(json!({"bytes": size, "latency": summary.to_json()}));
    }
    let file_owner = match &setup.upload_server {
        Some(base) => {
            let owners = Users {
                http: users.http.clone(),
                bases: vec![base.clone()],
                prefix: users.prefix.clone(),
            };
            owners.register("owner", 1).await?.remove(0)
        }
        None => uploader.clone(),
    };
    let scanner = match &setup.scanner {
        Some(url) => scanner_throughput(&uploader, &file_owner, url, setup, seed).await?,
        None => Value::Null,
    };
    Ok(json!({"uploads": uploads, "scanner": scanner}))
}

async fn scanner_throughput(
    session: &Session,
    file_owner: &Session,
    scanner: &str,
    setup: &MediaSetup,
    seed: u64,
) -> BenchResult<Value> {
    let mut files = Vec::new();
    for i in 0..setup.scanned_files {
        let bytes = distinct_bytes(setup.scanned_file_size, !seed ^ i as u64);
        files.push(file_owner.upload(bytes).await?);
    }
    let files = Arc::new(files);
    let mut rounds = Vec::new();
    for round in ["first", "cached"] {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let workers: Vec<_> = (0..setup.concurrency.max(1))
            .map(|_| {
                let (session, files, next) = (session.clone(), files.clone(), next.clone());
                let scanner = scanner.to_owned();
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else {
                            return Ok::<_, String>(samples);
                        };
                        let asked = Instant::now();
                        if !session.scan(&scanner, file).await? {
                            return Err(format!("{file} was not found clean"));
                        }
                        samples.push(asked.elapsed());
                    }
                })
            })
            .collect();
        let mut samples: Vec<Duration> = Vec::new();
        for worker in workers {
            samples.extend(worker.await.map_err(|e| e.to_string())??);
        }
        let elapsed = start.elapsed();
        let per_second = samples.len() as f64 / elapsed.as_secs_f64();
        let summary = Summary::of(samples);
        println!(
            "scanner {round:>6}: {per_second:>8.1} scans/s  {}",
            summary.line()
        );
        rounds.push(json!({"round": round, "scans_per_second": per_second,
            "latency": summary.to_json()}));
    }
    Ok(json!({"url": scanner, "files": setup.scanned_files,
        "uploaded_to": file_owner.server_name(),
        "file_bytes": setup.scanned_file_size, "concurrency": setup.concurrency,
        "rounds": rounds}))
}
