//! The test harness every integration test uses: start one or several Estafette servers in
//! this process (each with its own data directory, server name and loopback port), then drive
//! them with matrix-sdk as a real client, or with raw HTTP to check error cases.

mod bridge_process;
mod clamd;
mod dns;
mod fake_appservice;
mod federation_client;
mod js_sdk;
mod proxy;
mod push_gateway;
mod raw;
mod scenario;
mod smtp;
mod synapse;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use estafette::{RunningServer, Runtime};
use estafette_core::{Clock, Config, ManualClock, SeededRandom, SystemClock};
use tempfile::TempDir;

pub use bridge_process::{BridgeKind, BridgeProcess};
pub use clamd::{CLAMD_VARIABLE, Clamd, EICAR, EICAR_SIGNATURE};
pub use dns::{AddressRecord, SrvRecord, TestDns};
pub use estafette::storage::sql::testing::free_port as unused_port;
pub use fake_appservice::{AppserviceAnswer, FakeAppservice, ReceivedTransaction};
pub use js_sdk::{JsProcess, run_js_sdk, start_js};
pub use proxy::RoundRobinProxy;
pub use push_gateway::{GatewayAnswer, PushGateway};
pub use raw::{RawClient, RawResponse, password_login};
pub use scenario::{User, login_at, register_user_at};
pub use smtp::{ReceivedEmail, SmtpSink};
pub use synapse::{SHARED_SECRET, SynapseServer};

/// A server starting. Boxed where it is made, so that a test holding several start-ups (each
/// a large future in unoptimised builds) keeps only pointers on its stack.
pub type Starting = Pin<Box<dyn Future<Output = TestServer>>>;

static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

pub(crate) use estafette::storage::sql::testing::free_port;

/// An Estafette server running inside the test process.
pub struct TestServer {
    server: RunningServer,
    /// Signed requests to other servers' federation listeners (self-signed certificates).
    federation_http: reqwest::Client,
    clock: Arc<ManualClock>,
    _data_dir: TempDir,
    config: Config,
}

/// A server that was stopped with its data kept, to be started again on the same ports.
pub struct StoppedServer {
    clock: Arc<ManualClock>,
    data_dir: TempDir,
    config: Config,
}

impl StoppedServer {
    /// Changes the configuration the server starts with again.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    pub fn start(self) -> Starting {
        // A process started anew draws new randomness (tokens must not repeat the first run's).
        let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed);
        TestServer::launch(None, self.config, self.data_dir, self.clock, seed)
    }
}

/// Adjusts a test server's configuration before it starts.
pub struct TestServerBuilder {
    configure: Vec<Box<dyn FnOnce(&mut Config)>>,
    /// Servers that federate keep real time: other servers order their events by it.
    real_time: bool,
}

impl TestServerBuilder {
    pub fn configure(mut self, change: impl FnOnce(&mut Config) + 'static) -> Self {
        self.configure.push(Box::new(change));
        self
    }

    /// Keeps the server's clock on real time, for clients that wait in real time between the
    /// polls the server counts (the device authorization grant's).
    pub fn real_time(mut self) -> Self {
        self.real_time = true;
        self
    }

    /// Also serve the federation and key APIs over TLS on a free loopback port, which the
    /// server name then points at (`localhost:<port>`), as other servers will resolve it.
    pub fn federation(mut self) -> Self {
        self.real_time = true;
        let port = free_port();
        self.configure(move |config| {
            config.server_name = format!("localhost:{port}");
            config.federation.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            config.federation.insecure_tls = true;
            // A peer that comes back is retried within a second.
            config.federation.retry_initial_ms = 100;
            config.federation.retry_max_ms = 1_000;
        })
    }

    pub fn start(self) -> Starting {
        Box::pin(self.start_now())
    }

    async fn start_now(self) -> TestServer {
        init_tracing();
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let mut config = Config::default();
        config.server_name = format!("localhost:{port}");
        config.data_dir = data_dir.path().to_owned();
        // On PostgreSQL when the test command provides one: the same suite runs on both.
        if let estafette::storage::DatabaseTarget::Postgres(url) =
            estafette::storage::sql::testing::test_database(data_dir.path())
                .await
                .expect("a test database")
        {
            config.database.url = Some(url);
        }
        config.registration.open = true;
        config.rate_limit.enabled = false;
        for change in self.configure {
            change(&mut config);
        }
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let clock = Arc::new(if self.real_time {
            ManualClock::following_system()
        } else {
            ManualClock::new(SystemClock.now_millis())
        });
        let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed);
        TestServer::launch(Some(listener), config, data_dir, clock, seed).await
    }
}

impl TestServer {
    /// A server with open registration and no rate limits.
    pub fn start() -> Starting {
        Self::builder().start()
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            configure: Vec::new(),
            real_time: false,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The federation listener's URL (TLS), when the server was started with one.
    pub fn federation_url(&self) -> Option<String> {
        self.server
            .federation_addr
            .map(|addr| format!("https://{addr}"))
    }

    pub fn server_name(&self) -> String {
        self.server.services.context.server_name.to_string()
    }

    /// The server's clock moves only when a test says so.
    pub fn advance_clock(&self, millis: u64) {
        self.clock.advance(millis);
    }

    /// Raw HTTP access, for checking exact status codes and error bodies.
    pub fn raw(&self) -> RawClient {
        RawClient::new(self.base_url())
    }

    /// The services behind the server, for checks a client cannot make.
    pub fn services(&self) -> &estafette::service::Services {
        &self.server.services
    }

    /// Another process of the same server: same server name, database, signing key and media
    /// directory, its own listeners and memory. Needs PostgreSQL (`ESTAFETTE_TEST_POSTGRES`).
    pub fn another_process(&self) -> Starting {
        Box::pin(Self::another_process_of(
            self.config.clone(),
            self.clock.clone(),
        ))
    }

    async fn another_process_of(first: Config, clock: Arc<ManualClock>) -> TestServer {
        assert!(
            first.database.url.is_some(),
            "several processes of one server need PostgreSQL: set ESTAFETTE_TEST_POSTGRES"
        );
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let mut config = first.clone();
        config.data_dir = data_dir.path().to_owned();
        config.media.path = Some(first.media_path());
        config.listen = listener.local_addr().expect("local address");
        if config.federation.listen.is_some() {
            let address = ([127, 0, 0, 1], free_port());
            config.federation.listen = Some(std::net::SocketAddr::from(address));
        }
        let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed);
        TestServer::launch(Some(listener), config, data_dir, clock, seed).await
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }

    /// Stops the server (its listeners and open connections) and keeps its data.
    pub async fn go_offline(self) -> StoppedServer {
        self.server.shutdown().await.expect("clean shutdown");
        StoppedServer {
            clock: self.clock,
            data_dir: self._data_dir,
            config: self.config,
        }
    }

    /// Starts on `listener`, or on the configured address again after a restart.
    fn launch(
        listener: Option<tokio::net::TcpListener>,
        config: Config,
        data_dir: TempDir,
        clock: Arc<ManualClock>,
        seed: u64,
    ) -> Starting {
        Box::pin(Self::launch_now(listener, config, data_dir, clock, seed))
    }

    async fn launch_now(
        listener: Option<tokio::net::TcpListener>,
        config: Config,
        data_dir: TempDir,
        clock: Arc<ManualClock>,
        seed: u64,
    ) -> Self {
        let runtime = Runtime {
            clock: clock.clone(),
            random: Arc::new(SeededRandom::new(seed)),
        };
        let server = match listener {
            // Boxed: a start-up is a large future, kept off the test's stack.
            Some(listener) => {
                Box::pin(RunningServer::start_on(listener, config.clone(), runtime)).await
            }
            None => Box::pin(RunningServer::start(config.clone(), runtime)).await,
        }
        .expect("start the server");
        let federation_http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("an HTTP client");
        TestServer {
            server,
            federation_http,
            clock,
            _data_dir: data_dir,
            config,
        }
    }
}

/// Several servers in one process.
pub struct Cluster {
    pub servers: Vec<TestServer>,
}

impl Cluster {
    pub async fn start(count: usize) -> Self {
        let mut servers = Vec::with_capacity(count);
        for _ in 0..count {
            servers.push(TestServer::start().await);
        }
        Self { servers }
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
