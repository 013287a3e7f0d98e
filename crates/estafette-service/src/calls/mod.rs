//! Calls: credentials for the TURN servers one-to-one calls relay through, and the MatrixRTC
//! transports (a LiveKit service) group calls use.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};

use crate::{Context, Requester, ServiceError, ServiceResult};

/// What a client needs to use the TURN servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    pub username: String,
    pub password: String,
    pub uris: Vec<String>,
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct CallService {
    context: Arc<Context>,
}

impl CallService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// The TURN servers and the requester's credentials for them; `None` when no TURN server
    /// is configured. With a shared secret, the credentials are coturn's REST API ones: the
    /// username names the expiry and the user, the password is its HMAC-SHA1 under the secret.
    pub fn turn_server(&self, requester: &Requester) -> ServiceResult<Option<TurnCredentials>> {
        let calls = &self.context.config.calls;
        if calls.turn_uris.is_empty() {
            return Ok(None);
        }
        let lifetime = calls.turn_user_lifetime_secs;
        let (username, password) = match (&calls.turn_shared_secret, &calls.turn_username) {
            (Some(secret), _) => {
                let expiry = self.context.now() / 1000 + lifetime;
                let username = format!("{expiry}:{}", requester.user_id);
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
                    .map_err(|e| ServiceError::Internal(format!("TURN secret: {e}")))?;
                mac.update(username.as_bytes());
                let password =
                    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                (username, password)
            }
            (None, Some(username)) => (
                username.clone(),
                calls.turn_password.clone().unwrap_or_default(),
            ),
            (None, None) => return Ok(None),
        };
        Ok(Some(TurnCredentials {
            username,
            password,
            uris: calls.turn_uris.clone(),
            ttl: Duration::from_secs(lifetime),
        }))
    }

    /// The LiveKit services MatrixRTC calls may use (their URLs), most preferred first.
    pub fn livekit_services(&self) -> Vec<String> {
        self.context
            .config
            .calls
            .livekit_service_url
            .iter()
            .cloned()
            .collect()
    }
}
