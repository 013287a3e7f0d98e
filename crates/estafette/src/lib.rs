//! Estafette as a library: build a homeserver from a configuration and run it. A server is a
//! value, so a test process can start several side by side.

use std::net::SocketAddr;
use std::sync::Arc;

use estafette_api::AppState;
use estafette_core::{Clock, Config, OsRandom, Random, SystemClock};
use estafette_service::{Context, LocalNotifier, ServerKey, ServiceError, Services};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use estafette_core as core;
pub use estafette_service as service;

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
    #[error("signing key: {0}")]
    Key(#[from] ServiceError),
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

/// Opens the data directory and database and assembles the services.
pub async fn open_services(config: Config, runtime: Runtime) -> Result<Services, StartError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let storage =
        estafette_storage::sqlite::open(&config.database_path(), config.database.max_connections)
            .await?;
    let server_name = config.parsed_server_name()?;
    let server_key =
        ServerKey::load_or_generate(&config.data_dir.join("signing.key"), &*runtime.random)?;
    Ok(Services::new(Context {
        storage,
        server_name,
        config: Arc::new(config),
        clock: runtime.clock,
        random: runtime.random,
        server_key: Arc::new(server_key),
        notifier: Arc::new(LocalNotifier::default()),
    }))
}

/// A server accepting connections until [`RunningServer::shutdown`] or its shutdown signal.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub services: Services,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
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
        let services = open_services(config, runtime).await?;
        let app = estafette_api::app(AppState::new(services.clone()));
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
        Ok(Self {
            addr,
            services,
            shutdown: Some(shutdown),
            task,
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
