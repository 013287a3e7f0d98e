//! Types every Estafette layer shares: the configuration, and the injected clock and random
//! source that keep the server deterministic under test.

pub mod clock;
pub mod config;
pub mod random;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    AllowedServer, AntivirusConfig, AppservicesConfig, CallsConfig, ClamdAddress, Config,
    ConfigError, EmailConfig, FederationConfig, LogFormat, PinnedServer, PolicyConfig, PushConfig,
    QrLogin, Registration, SupportConfig, SupportContact, UrlPreviewConfig,
};
pub use random::{OsRandom, Random, SeededRandom};
