//! A private ClamAV daemon for the antivirus tests: Debian's `clamd` started on a unix socket in
//! a temporary directory, with a signature database written here (the public one cannot be
//! downloaded): the EICAR test file as a SHA-256 hash signature, plus whatever a test adds. The
//! database is an unsigned `.cud` container, so that clamd's `VERSION` names its version and a
//! test can change the signatures under a running server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The EICAR test file: harmless, and detected by every antivirus by convention.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The signature clamd reports for [`EICAR`] (unofficial databases get a suffix).
pub const EICAR_SIGNATURE: &str = "Eicar-Test-Signature.UNOFFICIAL";

/// Names the clamd binary; unset, `clamd` is looked up in `/usr/sbin` and the `PATH`.
pub const CLAMD_VARIABLE: &str = "ESTAFETTE_CLAMD";

pub struct Clamd {
    dir: TempDir,
    child: Option<Child>,
    version: u32,
    /// (SHA-256 hex, size, name) of every signature.
    signatures: Vec<(String, usize, String)>,
}

impl Clamd {
    /// Starts clamd knowing only EICAR, and waits until it answers.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(dir.path().join("db")).expect("database directory");
        let mut clamd = Self {
            dir,
            child: None,
            version: 1,
            signatures: Vec::new(),
        };
        clamd
            .signatures
            .push(signature(EICAR, "Eicar-Test-Signature"));
        clamd.write_config();
        clamd.write_database();
        clamd.start_again().await;
        clamd
    }

    /// The address for Estafette's `antivirus.clamd`.
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("clamd.sock")
    }

    /// Stops clamd, as when it crashes or is restarted.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts clamd (again) and waits until it answers.
    pub async fn start_again(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.path().join("clamd.out")).expect("log file");
        let child = Command::new(binary())
            .arg(format!(
                "--config-file={}",
                self.dir.path().join("clamd.conf").display()
            ))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start clamd ({e}): install Debian's clamav-daemon (scripts/test \
                     does) or set {CLAMD_VARIABLE}"
                )
            });
        self.child = Some(child);
        self.wait_for_version(self.version).await;
    }

    /// Adds a signature for `bytes` named `name`, and waits until clamd has reloaded its
    /// database, whose version is then one higher.
    pub async fn add_signature(&mut self, bytes: &[u8], name: &str) {
        self.signatures.push(signature(bytes, name));
        self.version += 1;
        self.write_database();
        let reply = self
            .command(b"zRELOAD\0")
            .await
            .expect("clamd answers RELOAD");
        assert!(reply.starts_with("RELOADING"), "{reply}");
        self.wait_for_version(self.version).await;
    }

    /// clamd's answer to `VERSION`.
    pub async fn version(&self) -> String {
        self.command(b"zVERSION\0").await.expect("clamd answers")
    }

    async fn wait_for_version(&self, version: u32) {
        let wanted = format!("/{version}/");
        for _ in 0..300 {
            if let Ok(reply) = self.command(b"zVERSION\0").await
                && reply.contains(&wanted)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("clamd.out")).unwrap_or_default();
        panic!("clamd did not come up with database version {version}; its output:\n{log}");
    }

    async fn command(&self, command: &[u8]) -> std::io::Result<String> {
        let mut socket = tokio::net::UnixStream::connect(self.socket()).await?;
        socket.write_all(command).await?;
        let mut reply = Vec::new();
        socket.read_to_end(&mut reply).await?;
        Ok(String::from_utf8_lossy(&reply)
            .trim_end_matches('\0')
            .to_owned())
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        let config = format!(
            "DatabaseDirectory {db}\nLocalSocket {socket}\nTemporaryDirectory {tmp}\n\
             Foreground yes\nLogFile {log}\nStreamMaxLength 100M\nSelfCheck 3600\n",
            db = dir.join("db").display(),
            socket = self.socket().display(),
            tmp = dir.display(),
            log = dir.join("clamd.log").display(),
        );
        std::fs::write(dir.join("clamd.conf"), config).expect("clamd.conf");
    }

    /// `daily.cud`: a 512-byte header naming the version, then a tar of `daily.info` (the
    /// same header and each file's size and SHA-256) and `daily.hdb` (the hash signatures).
    fn write_database(&self) {
        let hdb: String = self
            .signatures
            .iter()
            .map(|(hash, size, name)| format!("{hash}:{size}:{name}\n"))
            .collect();
        let stime = 1_764_547_200 + u64::from(self.version);
        let header = format!(
            "ClamAV-VDB:01 Dec 2025 00-00 +0000:{}:{}:90:x:x:estafette-tests:{stime}",
            self.version,
            self.signatures.len()
        );
        let info = format!(
            "{header}\ndaily.hdb:{}:{}\n",
            hdb.len(),
            hex::encode(Sha256::digest(hdb.as_bytes()))
        );
        let mut file = header.into_bytes();
        file.resize(512, b' ');
        tar_entry(&mut file, "daily.info", info.as_bytes());
        tar_entry(&mut file, "daily.hdb", hdb.as_bytes());
        file.extend_from_slice(&[0; 1024]);
        let path = self.dir.path().join("db");
        write_atomically(&path, "daily.cud", &file);
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signature(bytes: &[u8], name: &str) -> (String, usize, String) {
    (
        hex::encode(Sha256::digest(bytes)),
        bytes.len(),
        name.to_owned(),
    )
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var(CLAMD_VARIABLE) {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/sbin/clamd");
    if debian.exists() {
        debian.to_owned()
    } else {
        PathBuf::from("clamd")
    }
}

/// A file in a ustar archive: its header block, then its bytes padded to whole blocks.
fn tar_entry(archive: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut header = [0u8; 512];
    let mut field = |offset: usize, value: &[u8]| {
        header[offset..offset + value.len()].copy_from_slice(value);
    };
    field(0, name.as_bytes());
    field(100, b"0000644\0");
    field(108, b"0000000\0");
    field(116, b"0000000\0");
    field(124, format!("{:011o}\0", data.len()).as_bytes());
    field(136, b"00000000000\0");
    field(148, b"        ");
    field(156, b"0");
    field(257, b"ustar\0");
    field(263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    archive.extend_from_slice(&header);
    archive.extend_from_slice(data);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
}

/// Written aside then renamed, so that clamd never loads half a database.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) {
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes).expect("database file");
    std::fs::rename(&partial, dir.join(name)).expect("database file");
}
