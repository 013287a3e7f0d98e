//! The `estafette` command: `serve` runs a homeserver, `admin` does operators' chores.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use estafette::{RunningServer, Runtime};
use estafette_core::{Config, LogFormat, OsRandom, Random};
use estafette_service::NewAccount;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "estafette", version, about = "A Matrix homeserver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the homeserver.
    Serve {
        #[command(flatten)]
        common: CommonArgs,
        /// Address and port of the client API.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
        /// Let anyone register an account.
        #[arg(long)]
        open_registration: bool,
        /// Turn off rate limiting (for load tests).
        #[arg(long)]
        no_rate_limit: bool,
        /// Serve the federation and key APIs over TLS on this address.
        #[arg(long, value_name = "ADDR:PORT")]
        federation_listen: Option<SocketAddr>,
        /// Do not verify other servers' TLS certificates (tests only).
        #[arg(long)]
        federation_insecure_tls: bool,
    },
    /// Administration commands that work on the data directory directly.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy the server's whole database (the configured one, SQLite by default) into an empty
    /// PostgreSQL database, then verify it. Stop the server first; media files stay where
    /// `media.path` says.
    Copy {
        /// The destination: postgres://user:password@host:port/database
        #[arg(long, value_name = "URL")]
        to: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account; prints a generated password when none is given.
    CreateUser {
        /// The localpart of the new user (`alice` for `@alice:server`).
        name: String,
        /// Make the user a server administrator.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
struct CommonArgs {
    /// A TOML configuration file (see estafette.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server name at the end of user IDs.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Where the SQLite database, the signing key and (by default) media files live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database (postgres://user:password@host:port/database) instead of SQLite.
    #[arg(
        long,
        value_name = "URL",
        env = "ESTAFETTE_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

impl CommonArgs {
    fn load(&self) -> Result<Config, estafette_core::ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(name) = &self.server_name {
            config.server_name = name.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database.url = Some(url.clone());
        }
        Ok(config)
    }
}

/// State resolution's library logs every event it authorises at `info`: two lines per
/// message, noise to an operator and a cost per event. Shown when a filter names it.
const QUIET_BY_DEFAULT: &str = "ruma_state_res=warn";

fn init_logging(config: &Config) {
    let configured = std::env::var("RUST_LOG").unwrap_or_else(|_| config.logging.level.clone());
    let mut filter = EnvFilter::try_new(&configured).unwrap_or_else(|_| EnvFilter::new("info"));
    if !configured.contains("ruma_state_res") {
        if let Ok(directive) = QUIET_BY_DEFAULT.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.logging.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("estafette: {message}");
    ExitCode::from(2)
}

/// Password hashing allocates 19 MiB per hash. glibc would keep such blocks in per-thread
/// arenas after use (its mmap threshold grows dynamically), so a burst of logins would leave
/// the process holding hundreds of megabytes; a fixed threshold returns them to the system.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called once before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => fail(format!("cannot start the runtime: {err}")),
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            common,
            listen,
            open_registration,
            no_rate_limit,
            federation_listen,
            federation_insecure_tls,
        } => {
            let mut config = match common.load() {
                Ok(config) => config,
                Err(err) => return fail(err),
            };
            if let Some(listen) = listen {
                config.listen = listen;
            }
            config.registration.open |= open_registration;
            if no_rate_limit {
                config.rate_limit.enabled = false;
            }
            if federation_listen.is_some() {
                config.federation.listen = federation_listen;
            }
            config.federation.insecure_tls |= federation_insecure_tls;
            if let Err(err) = config.validate() {
                return fail(err);
            }
            init_logging(&config);
            let server = match RunningServer::start(config, Runtime::default()).await {
                Ok(server) => server,
                Err(err) => return fail(err),
            };
            match server.run_until_signal().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(err),
            }
        }
        Command::Db {
            command: DbCommand::Copy { to, common },
        } => {
            let config = match common.load() {
                Ok(config) => config,
                Err(err) => return fail(err),
            };
            match estafette::copy_database(&config, &to).await {
                Ok(report) => {
                    for (table, rows) in &report.tables {
                        println!("{table}: {rows} rows");
                    }
                    println!(
                        "copied {} tables into {}; {} events verified, {} re-hashed to their IDs",
                        report.tables.len(),
                        estafette_storage::sql::redacted(&to),
                        report.events_verified,
                        report.events_rehashed
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => fail(err),
            }
        }
        Command::Admin {
            command:
                AdminCommand::CreateUser {
                    name,
                    admin,
                    password,
                    common,
                },
        } => {
            let config = match common.load() {
                Ok(config) => config,
                Err(err) => return fail(err),
            };
            let services = match estafette::open_services(config, Runtime::default()).await {
                Ok(services) => services,
                Err(err) => return fail(err),
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| OsRandom.alphanumeric(20));
            let account = NewAccount {
                localpart: Some(name),
                password: Some(password.clone()),
                is_admin: admin,
                display_name: None,
                trusted_localpart: false,
            };
            match services.accounts.create(account).await {
                Ok(user_id) => {
                    println!("created {user_id}{}", if admin { " (admin)" } else { "" });
                    if generated {
                        println!("password: {password}");
                    }
                    ExitCode::SUCCESS
                }
                Err(err) => fail(format!("cannot create the user: {err}")),
            }
        }
    }
}
