//! Incoming webhooks (BRIDGES.md §4.3).

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Room members may create hooks (`/_estafette/hooks/v1`).
    pub enabled: bool,
    /// The power level a member needs to create a hook; the room's `state_default` when unset.
    pub power_level: Option<i64>,
    /// Posts per second a hook may sustain, and its burst.
    pub per_second: f64,
    pub burst: u32,
    /// Posts per second one address may sustain to any hooks, known or not (guessing a
    /// hook's URL is limited too), and its burst.
    pub per_ip_per_second: f64,
    pub per_ip_burst: u32,
    /// Largest body a hook accepts.
    pub max_body_bytes: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            power_level: None,
            per_second: 1.0,
            burst: 20,
            per_ip_per_second: 10.0,
            per_ip_burst: 100,
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl WebhooksConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        super::check_rate(
            ("webhooks.per_second", "webhooks.burst"),
            self.per_second,
            self.burst,
        )?;
        super::check_rate(
            ("webhooks.per_ip_per_second", "webhooks.per_ip_burst"),
            self.per_ip_per_second,
            self.per_ip_burst,
        )?;
        if self.max_body_bytes < 1024 {
            return Err(invalid("webhooks.max_body_bytes", "must be at least 1024"));
        }
        Ok(())
    }
}
