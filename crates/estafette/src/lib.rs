//! Estafette as a library: build a homeserver from a configuration and run it. A server is a
//! value, so a test process can start several side by side.

use std::net::SocketAddr;
use std::sync::Arc;

use estafette_api::AppState;
use estafette_core::{Clock, Config, OsRandom, Random, SystemClock};
use estafette_service::cluster::ClusterNotifier;
use estafette_service::{Context, LocalNotifier, Notifier, ServerKey, ServiceError, Services};
use estafette_storage::DatabaseTarget;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod federation_listener;

pub use estafette_api as api;
pub use estafette_core as core;
pub use estafette_service as service;
pub use estafette_storage as storage;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] estafette_core::ConfigError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Storage(#[from] estafette_storage::StorageError),
    #[error("there is no database at {0}")]
    NoDatabase(String),
    /// The services could not start: the signing key, or a configured file or client.
    #[error("{0}")]
    Services(#[from] ServiceError),
    #[error("federation TLS: {0}")]
    Tls(#[from] federation_listener::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The clock and random source a server runs with; tests inject deterministic ones.
#[derive(Clone)]
pub struct Runtime {
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
        }
    }
}

/// The database a configuration names: `database.url`, or SQLite in the data directory.
pub fn database_target(config: &Config) -> Result<DatabaseTarget, StartError> {
    Ok(match &config.database.url {
        Some(url) => DatabaseTarget::from_url(url)?,
        None => DatabaseTarget::Sqlite(config.database_path()),
    })
}

/// `estafette db copy`: the configured database into the empty one at `to`, verified.
pub async fn copy_database(
    config: &Config,
    to: &str,
) -> Result<estafette_storage::sql::CopyReport, StartError> {
    config.validate()?;
    let source = database_target(config)?;
    if let DatabaseTarget::Sqlite(path) = &source
        && !path.exists()
    {
        return Err(StartError::NoDatabase(path.display().to_string()));
    }
    let destination = DatabaseTarget::from_url(to)?;
    Ok(estafette_storage::sql::copy_database(&source, &destination).await?)
}

/// Opens the data directory and database and assembles the services.
pub async fn open_services(config: Config, runtime: Runtime) -> Result<Services, StartError> {
    config.validate()?;
    let appservices = config.appservices.load(&config.parsed_server_name()?)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let target = database_target(&config)?;
    let storage = estafette_storage::open(
        &target,
        config.database.max_connections,
        &config.media_path(),
    )
    .await?;
    let server_name = config.parsed_server_name()?;
    let key_file = config.data_dir.join("signing.key");
    let server_key = ServerKey::shared(&storage, &key_file, &*runtime.random).await?;
    // On PostgreSQL, other processes may serve the same server: they hear of each other's
    // changes through the cluster feed.
    let cluster = matches!(target, DatabaseTarget::Postgres(_)).then(|| {
        let instance = runtime.random.alphanumeric(12);
        Arc::new(ClusterNotifier::new(storage.cluster.clone(), instance))
    });
    let notifier: Arc<dyn Notifier> = match &cluster {
        Some(cluster) => cluster.clone(),
        None => Arc::new(LocalNotifier::default()),
    };
    let services = Services::new(Context {
        storage,
        server_name,
        config: Arc::new(config),
        clock: runtime.clock,
        random: runtime.random,
        server_key: Arc::new(server_key),
        notifier,
        appservices: Arc::new(estafette_service::AppserviceRegistry::new(appservices)),
        appservice_wake: Arc::default(),
    })?;
    match cluster {
        Some(cluster) => estafette_service::cluster::join(&services, cluster).await?,
        None => services.appservice_delivery.forget_claims().await?,
    }
    services.appservices.ensure_senders().await?;
    services.antivirus.report_at_startup().await;
    Ok(services)
}

/// A server accepting connections until [`RunningServer::shutdown`] or its shutdown signal.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the federation listener accepts TLS connections, when federation is on.
    pub federation_addr: Option<SocketAddr>,
    /// Shared with the request handlers.
    pub services: Arc<Services>,
    federation_shutdown: Option<tokio::sync::watch::Sender<bool>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// Periodic work (the retention of cached media, account validity), stopped with the
    /// server.
    housekeeping: Vec<JoinHandle<()>>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        for task in self.housekeeping.drain(..) {
            task.abort();
        }
    }
}

/// Runs `work` every `interval` until the server stops; a failed pass is logged and retried
/// at the next.
fn every<F, Fut>(interval: std::time::Duration, what: &'static str, work: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), estafette_service::ServiceError>> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = work().await {
                tracing::warn!("{what} failed: {e}");
            }
        }
    })
}

impl RunningServer {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: Config, runtime: Runtime) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        Self::start_on(listener, config, runtime).await
    }

    /// Serves on an already bound listener (tests bind port 0 first to learn the port).
    pub async fn start_on(
        listener: TcpListener,
        mut config: Config,
        runtime: Runtime,
    ) -> Result<Self, StartError> {
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        config.listen = addr;
        let federation = match config.federation.listen {
            Some(federation_addr) => {
                let acceptor = federation_listener::acceptor(&config)?;
                let listener = TcpListener::bind(federation_addr).await.map_err(|source| {
                    StartError::Listen {
                        addr: federation_addr,
                        source,
                    }
                })?;
                Some((listener, acceptor))
            }
            None => None,
        };
        if config.federation.insecure_tls {
            tracing::warn!(
                "federation.insecure_tls is on: other servers' certificates are not verified"
            );
        }
        // Boxed: opening the services is a large future, kept off the caller's stack.
        let services = Arc::new(Box::pin(open_services(config, runtime)).await?);
        let state = AppState::new(services.clone());
        let (federation_addr, federation_shutdown) = match federation {
            Some((listener, acceptor)) => {
                let federation_addr = listener
                    .local_addr()
                    .map_err(|source| StartError::Listen { addr, source })?;
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let app = estafette_api::federation_app(state.clone());
                tokio::spawn(federation_listener::serve(listener, acceptor, app, stopped));
                tracing::info!(%federation_addr, "federation listening (TLS)");
                (Some(federation_addr), Some(stop))
            }
            None => (None, None),
        };
        let app = estafette_api::app(state);
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = shutdown_signal.await;
            })
            .await
        });
        tracing::info!(%addr, server_name = %services.context.server_name, "Estafette is listening");
        // Whatever an earlier run could not deliver goes out now.
        services.federation_sender.resume().await?;
        let mut housekeeping = Vec::new();
        // Delayed events go out when due, those a stopped run left waiting first.
        housekeeping.push(tokio::spawn(services.delayed_events.clone().run()));
        // Notifications go to the users' push gateways, those a stopped run left first.
        housekeeping.push(tokio::spawn(services.push_delivery.clone().run()));
        // Application services get their transactions, those a stopped run left first.
        housekeeping.push(tokio::spawn(services.appservice_delivery.clone().run()));
        if let Some(interval) = services.media.purge_interval() {
            // Cached media (other servers', link previews' images) nobody asked for lately.
            let media = services.media.clone();
            housekeeping.push(every(
                interval,
                "the retention of cached media",
                move || {
                    let media = media.clone();
                    async move { media.purge_caches().await.map(drop) }
                },
            ));
        }
        if let Some(interval) = services.account_validity.check_interval() {
            let validity = services.account_validity.clone();
            housekeeping.push(every(interval, "account validity", move || {
                let validity = validity.clone();
                async move { validity.run_once().await }
            }));
        }
        Ok(Self {
            addr,
            federation_addr,
            services,
            federation_shutdown,
            shutdown: Some(shutdown),
            task,
            housekeeping,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(federation) = self.federation_shutdown.take() {
            let _ = federation.send(true);
        }
        for task in self.housekeeping.drain(..) {
            task.abort();
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|err| Err(std::io::Error::other(err)))
    }

    /// Serves until the process receives SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
