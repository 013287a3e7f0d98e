//! The one place that declares Estafette's configuration. Every key has a default, so an empty
//! file (or none at all) gives a working server; `estafette.example.toml` documents each key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ruma::{OwnedServerName, ServerName};
use serde::Deserialize;

mod appservices;
mod calls;
mod federation;
mod identity;
mod media;
mod oauth;
mod webhooks;

pub use appservices::{AppservicesConfig, Namespace, Registration};
pub use calls::CallsConfig;
pub use federation::{AllowedServer, FederationConfig, PinnedServer};
pub use identity::{AccountValidityConfig, EmailConfig, PolicyConfig};
pub use media::{AntivirusConfig, ClamdAddress, MediaConfig, UrlPreviewConfig};
pub use oauth::{OAuthConfig, QrLogin, UpstreamProvider};
pub use webhooks::WebhooksConfig;

/// A configuration problem, named by the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name users' IDs end with (`@alice:<server_name>`).
    pub server_name: String,
    /// Where the client API listens.
    pub listen: SocketAddr,
    /// The URL clients reach the server at; derived from `listen` when empty.
    pub public_base_url: String,
    /// Where the SQLite database and the server's keys live.
    pub data_dir: PathBuf,
    pub registration: RegistrationConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub limits: LimitsConfig,
    pub database: DatabaseConfig,
    pub logging: LoggingConfig,
    pub federation: FederationConfig,
    pub media: MediaConfig,
    pub antivirus: AntivirusConfig,
    pub url_preview: UrlPreviewConfig,
    pub policy: PolicyConfig,
    pub email: EmailConfig,
    pub account_validity: AccountValidityConfig,
    pub support: SupportConfig,
    pub calls: CallsConfig,
    pub push: PushConfig,
    pub oauth: OAuthConfig,
    pub appservices: AppservicesConfig,
    pub webhooks: WebhooksConfig,
}

/// Push notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The push gateways' hosts users' HTTP pushers may name; any host (internal ones
    /// included: gateways often live on the operator's network) when empty.
    pub gateway_hosts: Vec<String>,
    /// Whether full-format pushes carry the event's content (Synapse's `include_content`);
    /// off keeps message text away from the push providers (Apple, Google).
    pub include_content: bool,
    /// How long after a notification an email pusher's digest goes out, with every
    /// notification still unread by then (Synapse's `notif_delay_before_mail`).
    pub email_delay_secs: u64,
    /// The web client the digests link rooms to (the room ID is appended).
    pub email_room_link: String,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            gateway_hosts: Vec::new(),
            include_content: true,
            email_delay_secs: 600,
            email_room_link: "https://matrix.to/#/".to_owned(),
        }
    }
}

/// Who users and other administrators contact about this server, served at
/// `/.well-known/matrix/support` (nothing is served when both are empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportConfig {
    pub contacts: Vec<SupportContact>,
    /// A web page about getting help with this server.
    pub page: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportContact {
    /// `m.role.admin`, `m.role.security` or a namespaced role of your own.
    pub role: String,
    pub matrix_id: Option<String>,
    pub email_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct RegistrationConfig {
    /// Anyone may register through `/register` with the `m.login.dummy` stage.
    pub open: bool,
    /// Enables Synapse-compatible shared-secret registration when non-empty.
    pub shared_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of access tokens issued to clients that asked for a refresh token.
    pub refreshable_access_token_lifetime_secs: u64,
    /// How long a user-interactive authentication session stays valid.
    pub uia_session_lifetime_secs: u64,
    /// Shortest password accepted at registration and password change.
    pub password_min_length: usize,
    /// Whether passwords need a lowercase and an uppercase letter, a digit and a symbol.
    pub password_require_all_classes: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Sustained requests per second per client on rate-limited endpoints.
    pub per_second: f64,
    /// Requests a client may send in a burst before being throttled.
    pub burst: u32,
    /// Sustained login and registration attempts per second per client address.
    pub login_per_second: f64,
    pub login_burst: u32,
    /// Sustained media uploads (and media IDs created) per second per user, and their burst.
    pub upload_per_second: f64,
    pub upload_burst: u32,
    /// Users and devices an application service may create per second, and their burst:
    /// a separate, high limit, which holds whatever its `rate_limited` says.
    pub appservice_per_second: f64,
    pub appservice_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted, in bytes.
    pub max_request_body_bytes: usize,
    /// To-device messages kept for a device that has not synced them yet; beyond this, sends
    /// to it are refused with 429 rather than accepted and dropped.
    pub to_device_queue_per_device: u64,
    /// Longest delay a client may ask an event to be sent after (MSC4140); 0 turns delayed
    /// events off.
    pub max_event_delay_ms: u64,
    /// Delayed events one user may have waiting at once.
    pub max_delayed_events_per_user: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Upper bound on open database connections.
    pub max_connections: u32,
    /// A `postgres://user:password@host:port/database` URL. Absent: SQLite in the data directory.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A tracing filter directive, such as `info` or `estafette=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "localhost:8008".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8008)),
            public_base_url: String::new(),
            data_dir: PathBuf::from("./estafette-data"),
            registration: RegistrationConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            limits: LimitsConfig::default(),
            database: DatabaseConfig::default(),
            logging: LoggingConfig::default(),
            federation: FederationConfig::default(),
            media: MediaConfig::default(),
            antivirus: AntivirusConfig::default(),
            url_preview: UrlPreviewConfig::default(),
            policy: PolicyConfig::default(),
            email: EmailConfig::default(),
            account_validity: AccountValidityConfig::default(),
            support: SupportConfig::default(),
            calls: CallsConfig::default(),
            push: PushConfig::default(),
            oauth: OAuthConfig::default(),
            appservices: AppservicesConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            refreshable_access_token_lifetime_secs: 300,
            uia_session_lifetime_secs: 600,
            password_min_length: 8,
            password_require_all_classes: false,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_second: 10.0,
            burst: 50,
            login_per_second: 0.2,
            login_burst: 10,
            upload_per_second: 1.0,
            upload_burst: 20,
            appservice_per_second: 50.0,
            appservice_burst: 1000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 10 * 1024 * 1024,
            to_device_queue_per_device: 10_000,
            max_event_delay_ms: 86_400_000,
            max_delayed_events_per_user: 100,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            url: None,
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|err| match err {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message: err.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone cannot; call again after applying overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.parsed_server_name()?;
        if !self.public_base_url.is_empty()
            && !(self.public_base_url.starts_with("http://")
                || self.public_base_url.starts_with("https://"))
        {
            return Err(invalid(
                "public_base_url",
                "must start with http:// or https://",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid("database.url", "must be a postgres:// URL"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.limits.max_request_body_bytes < 1024 {
            return Err(invalid(
                "limits.max_request_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.auth.refreshable_access_token_lifetime_secs == 0 {
            return Err(invalid(
                "auth.refreshable_access_token_lifetime_secs",
                "must be at least 1",
            ));
        }
        if self.auth.uia_session_lifetime_secs == 0 {
            return Err(invalid(
                "auth.uia_session_lifetime_secs",
                "must be at least 1",
            ));
        }
        self.federation.validate()?;
        self.validate_support()?;
        self.calls.validate()?;
        self.oauth.validate()?;
        self.webhooks.validate()?;
        let validity = &self.account_validity;
        if validity.enabled {
            if validity.period_days == 0 {
                return Err(invalid(
                    "account_validity.period_days",
                    "must be at least 1",
                ));
            }
            if validity.check_interval_secs == 0 {
                return Err(invalid(
                    "account_validity.check_interval_secs",
                    "must be at least 1",
                ));
            }
        }
        self.antivirus.address()?;
        if self.media.max_image_pixels == 0 {
            return Err(invalid("media.max_image_pixels", "must be at least 1"));
        }
        if self.antivirus.timeout_secs == 0 {
            return Err(invalid("antivirus.timeout_secs", "must be at least 1"));
        }
        let rl = &self.rate_limit;
        if rl.enabled {
            for (keys, per_second, burst) in [
                (
                    ("rate_limit.per_second", "rate_limit.burst"),
                    rl.per_second,
                    rl.burst,
                ),
                (
                    ("rate_limit.login_per_second", "rate_limit.login_burst"),
                    rl.login_per_second,
                    rl.login_burst,
                ),
                (
                    ("rate_limit.upload_per_second", "rate_limit.upload_burst"),
                    rl.upload_per_second,
                    rl.upload_burst,
                ),
                (
                    (
                        "rate_limit.appservice_per_second",
                        "rate_limit.appservice_burst",
                    ),
                    rl.appservice_per_second,
                    rl.appservice_burst,
                ),
            ] {
                check_rate(keys, per_second, burst)?;
            }
        }
        Ok(())
    }

    fn validate_support(&self) -> Result<(), ConfigError> {
        for contact in &self.support.contacts {
            if contact.role.is_empty() {
                return Err(invalid("support.contacts", "every contact needs a role"));
            }
            if contact.matrix_id.is_none() && contact.email_address.is_none() {
                return Err(invalid(
                    "support.contacts",
                    "every contact needs a matrix_id or an email_address",
                ));
            }
            if let Some(id) = &contact.matrix_id {
                ruma::UserId::parse(id).map_err(|e| {
                    invalid("support.contacts", format!("'{id}' is not a user ID: {e}"))
                })?;
            }
            if contact
                .email_address
                .as_ref()
                .is_some_and(|email| !email.contains('@'))
            {
                return Err(invalid("support.contacts", "an email_address needs an @"));
            }
        }
        if let Some(page) = &self.support.page
            && !(page.starts_with("https://") || page.starts_with("http://"))
        {
            return Err(invalid(
                "support.page",
                "must start with http:// or https://",
            ));
        }
        Ok(())
    }

    pub fn parsed_server_name(&self) -> Result<OwnedServerName, ConfigError> {
        ServerName::parse(&self.server_name).map_err(|err| {
            invalid(
                "server_name",
                format!("'{}' is not a valid server name: {err}", self.server_name),
            )
        })
    }

    /// The base URL clients are told to use and links in emails lead to: `public_base_url`,
    /// or derived from `listen`; without a trailing slash.
    pub fn base_url(&self) -> String {
        if self.public_base_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_base_url.trim_end_matches('/').to_owned()
        }
    }

    /// The SQLite file, when no `database.url` names PostgreSQL.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("estafette.db")
    }

    pub fn media_path(&self) -> PathBuf {
        self.media
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }
}

/// A token bucket's rate: a positive number per second, a burst of one at least.
fn check_rate(
    (per_second_key, burst_key): (&'static str, &'static str),
    per_second: f64,
    burst: u32,
) -> Result<(), ConfigError> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(invalid(per_second_key, "must be a positive number"));
    }
    if burst == 0 {
        return Err(invalid(burst_key, "must be at least 1"));
    }
    Ok(())
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.server_name, "localhost:8008");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8008");
        assert_eq!(config.data_dir, PathBuf::from("./estafette-data"));
        assert!(!config.registration.open);
        assert_eq!(config.base_url(), "http://127.0.0.1:8008");
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../../../estafette.example.toml");
        Config::from_toml(text).expect("the example configuration must be valid");
    }

    #[test]
    fn clamd_is_a_unix_or_tcp_socket() {
        let address = |value: &str| {
            Config::from_toml(&format!("[antivirus]\nclamd = \"{value}\""))
                .map(|c| c.antivirus.address().unwrap())
        };
        assert_eq!(
            address("unix:/run/clamav/clamd.ctl").unwrap(),
            Some(ClamdAddress::Unix(PathBuf::from("/run/clamav/clamd.ctl")))
        );
        assert_eq!(
            address("tcp:127.0.0.1:3310").unwrap(),
            Some(ClamdAddress::Tcp("127.0.0.1:3310".to_owned()))
        );
        for wrong in ["/run/clamd.ctl", "unix:", "tcp:localhost", "http://x"] {
            let err = address(wrong).unwrap_err().to_string();
            assert!(err.contains("antivirus.clamd"), "{wrong}: {err}");
        }
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.antivirus.address().unwrap(), None);
        assert!(config.antivirus.fail_closed, "closed unless told otherwise");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("sever_name = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sever_name"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::from_toml("[rate_limit]\nburst = \"many\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("burst"), "{err}");
    }

    #[test]
    fn bad_server_name_is_named() {
        let err = Config::from_toml("server_name = \"not a name\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`server_name`"), "{err}");
    }

    #[test]
    fn bad_listen_address_is_named() {
        let err = Config::from_toml("listen = \"nowhere\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn support_contacts_need_a_way_to_reach_them() {
        let err = Config::from_toml("[[support.contacts]]\nrole = \"m.role.admin\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("support.contacts"), "{err}");
        let err = Config::from_toml(
            "[[support.contacts]]\nrole = \"m.role.admin\"\nmatrix_id = \"admin\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a user ID"), "{err}");
    }

    #[test]
    fn zero_pool_is_refused() {
        let err = Config::from_toml("[database]\nmax_connections = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.max_connections"), "{err}");
    }
}
