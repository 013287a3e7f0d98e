//! Calls: the TURN servers clients relay media through, and the MatrixRTC (LiveKit) service
//! group calls use.

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// The LiveKit service (its JWT service, `lk-jwt-service`) that MatrixRTC calls use,
    /// offered at `/rtc/transports` and in `/.well-known/matrix/client`; none when unset.
    pub livekit_service_url: Option<String>,
    /// TURN (and STUN) URIs given to clients (`turn:host:3478?transport=udp`, `turns:…`);
    /// empty: `/voip/turnServer` offers none.
    pub turn_uris: Vec<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`): each user gets
    /// credentials that expire after `turn_user_lifetime_secs`.
    pub turn_shared_secret: Option<String>,
    /// Fixed credentials instead of a shared secret.
    pub turn_username: Option<String>,
    pub turn_password: Option<String>,
    pub turn_user_lifetime_secs: u64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            livekit_service_url: None,
            turn_uris: Vec::new(),
            turn_shared_secret: None,
            turn_username: None,
            turn_password: None,
            turn_user_lifetime_secs: 86_400,
        }
    }
}

impl CallsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.livekit_service_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(
                    "calls.livekit_service_url",
                    format!("'{url}' is not an http(s) URL"),
                ));
            }
        }
        for uri in &self.turn_uris {
            if !["turn:", "turns:", "stun:", "stuns:"]
                .iter()
                .any(|scheme| uri.starts_with(scheme))
            {
                return Err(invalid(
                    "calls.turn_uris",
                    format!("'{uri}' is not a turn:, turns:, stun: or stuns: URI"),
                ));
            }
        }
        let fixed = self.turn_username.is_some() || self.turn_password.is_some();
        if self.turn_shared_secret.is_some() && fixed {
            return Err(invalid(
                "calls.turn_shared_secret",
                "set a shared secret or a fixed username and password, not both",
            ));
        }
        if self.turn_username.is_some() != self.turn_password.is_some() {
            return Err(invalid(
                "calls.turn_username",
                "set both calls.turn_username and calls.turn_password, or neither",
            ));
        }
        if self.turn_user_lifetime_secs == 0 {
            return Err(invalid(
                "calls.turn_user_lifetime_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn turn_and_livekit_settings_are_checked() {
        let refused = |text: &str| {
            Config::from_toml(&format!("[calls]\n{text}"))
                .unwrap_err()
                .to_string()
        };
        assert!(refused("turn_uris = [\"http://turn\"]").contains("turn_uris"));
        assert!(refused("livekit_service_url = \"livekit.example\"").contains("livekit"));
        assert!(
            refused("turn_shared_secret = \"s\"\nturn_username = \"u\"\nturn_password = \"p\"")
                .contains("not both")
        );
        assert!(refused("turn_username = \"u\"").contains("turn_password"));
        let config = Config::from_toml(
            "[calls]\nturn_uris = [\"turn:turn.example:3478?transport=udp\"]\n\
             turn_shared_secret = \"s3cret\"\nlivekit_service_url = \"https://rtc.example\"",
        )
        .unwrap();
        assert_eq!(config.calls.turn_user_lifetime_secs, 86_400);
    }
}
