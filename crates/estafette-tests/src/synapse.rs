//! A real Synapse, from PyPI, for interoperability tests: `scripts/synapse-venv` installs it
//! and `ESTAFETTE_SYNAPSE_PYTHON` (set by `scripts/test`) names its Python. Each instance gets a
//! generated config: plain HTTP for clients, TLS with a self-signed certificate for federation,
//! certificates of peers not verified, loopback peers allowed, open registration.

use crate::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::RawClient;

/// Synapse's `registration_shared_secret`, for creating its administrators.
pub const SHARED_SECRET: &str = "estafette-tests-shared-secret";

pub struct SynapseServer {
    child: Child,
    client_port: u16,
    federation_port: u16,
    _dir: TempDir,
    python: String,
}

/// Runs Synapse with the configuration in `dir`.
fn spawn(python: &str, dir: &std::path::Path) -> Child {
    Command::new(python)
        .args([
            "-m",
            "synapse.app.homeserver",
            "-c",
            &dir.join("homeserver.yaml").display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("synapse.stderr"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("start Synapse")
}

impl SynapseServer {
    pub async fn start() -> Self {
        let python = std::env::var("ESTAFETTE_SYNAPSE_PYTHON")
            .expect("ESTAFETTE_SYNAPSE_PYTHON must name a Python with Synapse: run ./scripts/test, or scripts/synapse-venv");
        let dir = tempfile::tempdir().expect("a directory for Synapse");
        let (client_port, federation_port) = (free_port(), free_port());
        let server_name = format!("localhost:{federation_port}");
        let certificate = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("tls.crt"), certificate.cert.pem()).unwrap();
        std::fs::write(path("tls.key"), certificate.signing_key.serialize_pem()).unwrap();
        let limits = "{per_second: 100000, burst_count: 100000}";
        let config = format!(
            r#"server_name: "{server_name}"
pid_file: "{pid}"
listeners:
  - port: {client_port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources: [{{names: [client], compress: false}}]
  - port: {federation_port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: true
    resources: [{{names: [federation], compress: false}}]
tls_certificate_path: "{cert}"
tls_private_key_path: "{key}"
database: {{name: sqlite3, args: {{database: "{db}"}}}}
media_store_path: "{media}"
signing_key_path: "{signing}"
log_config: "{log}"
report_stats: false
enable_registration: true
enable_registration_without_verification: true
federation_verify_certificates: false
ip_range_blacklist: []
ip_range_blocklist: []
trusted_key_servers: []
suppress_key_server_warning: true
registration_shared_secret: "{shared_secret}"
allow_public_rooms_over_federation: true
room_list_publication_rules: [{{action: allow}}]
federation:
  client_timeout: 10s
  max_short_retry_delay: 1s
  max_long_retry_delay: 2s
  destination_min_retry_interval: 100
  destination_max_retry_interval: 1s
rc_message: {limits}
rc_registration: {limits}
rc_login: {{address: {limits}, account: {limits}, failed_attempts: {limits}}}
rc_joins: {{local: {limits}, remote: {limits}}}
rc_joins_per_room: {limits}
rc_invites: {{per_room: {limits}, per_user: {limits}, per_issuer: {limits}}}
rc_room_creation: {limits}
rc_presence: {{per_user: {limits}}}
rc_federation: {{window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100}}
# Tests poll /sync and must see each change at once, not a cached answer.
caches: {{sync_response_cache_duration: 0}}
"#,
            shared_secret = SHARED_SECRET,
            pid = path("synapse.pid"),
            cert = path("tls.crt"),
            key = path("tls.key"),
            db = path("homeserver.db"),
            media = path("media"),
            signing = path("signing.key"),
            log = path("log.yaml"),
        );
        std::fs::write(path("homeserver.yaml"), config).unwrap();
        let log_config = format!(
            "version: 1\nformatters: {{plain: {{format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}}}\nhandlers: {{file: {{class: logging.FileHandler, filename: '{}', formatter: plain}}}}\nroot: {{level: WARNING, handlers: [file]}}\n",
            path("synapse.log")
        );
        std::fs::write(path("log.yaml"), log_config).unwrap();
        let generate = Command::new(&python)
            .args([
                "-m",
                "synapse.app.homeserver",
                "-c",
                &path("homeserver.yaml"),
                "--generate-keys",
            ])
            .output()
            .expect("run Synapse");
        assert!(
            generate.status.success(),
            "Synapse could not generate keys: {generate:?}"
        );
        let child = spawn(&python, dir.path());
        let server = Self {
            child,
            client_port,
            federation_port,
            _dir: dir,
            python,
        };
        server.wait_until_up().await;
        server
    }

    /// Stops Synapse (its data is kept) until [`SynapseServer::resume`].
    pub fn pause(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts Synapse again on the same ports and data.
    pub async fn resume(&mut self) {
        self.child = spawn(&self.python, self._dir.path());
        self.wait_until_up().await;
    }

    async fn wait_until_up(&self) {
        let server = self;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/_matrix/client/versions", server.base_url()))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Synapse did not start within 60 s:\n{}", server.log());
    }

    /// What Synapse logged (warnings and errors) and printed, for a failing test to show.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
        format!("{}\n{}", read("synapse.log"), read("synapse.stderr"))
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn server_name(&self) -> String {
        format!("localhost:{}", self.federation_port)
    }

    pub fn raw(&self) -> RawClient {
        RawClient::new(self.base_url())
    }
}

impl Drop for SynapseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
