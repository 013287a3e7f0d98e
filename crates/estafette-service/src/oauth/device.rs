//! The device authorization grant (RFC 8628): a device without a browser gets a user code,
//! the user approves it on this server's page from another device, and the device, polling,
//! gets its tokens.

use estafette_storage::NewDeviceGrant;

use super::{OAuthError, OAuthService, OAuthTokens, grants_api, scoped_device};
use crate::accounts::digest;
use crate::{ServiceError, ServiceResult};

pub const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Where the device asks for a code, and where the user approves it.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth2/device_authorization";
pub const DEVICE_PAGE_PATH: &str = "/oauth2/device";

const DEVICE_CODE_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// Seconds between polls the device is told to keep.
const POLL_INTERVAL_SECS: u64 = 5;
/// Letters hard to mistake for one another (RFC 8628 §6.1), in two groups of four.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// What the device shows the user, and polls with.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in_secs: u64,
    pub interval_secs: u64,
}

/// Normalises what a user typed: upper case, the dash where it belongs.
pub fn normalize_user_code(typed: &str) -> String {
    let letters: String = typed
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match letters.len() {
        8 => format!("{}-{}", &letters[..4], &letters[4..]),
        _ => letters,
    }
}

impl OAuthService {
    pub async fn device_authorization(
        &self,
        client_id: Option<&str>,
        scope: Option<&str>,
    ) -> ServiceResult<Result<DeviceAuthorization, OAuthError>> {
        let Some(client_id) = client_id else {
            return Ok(Err(OAuthError::new(
                "invalid_client",
                "client_id is missing",
            )));
        };
        let Some(client) = self.client(client_id).await? else {
            return Ok(Err(OAuthError::new("invalid_client", "Unknown client")));
        };
        let registered = client["grant_types"]
            .as_array()
            .is_some_and(|grants| grants.iter().any(|g| g == DEVICE_GRANT_TYPE));
        if !registered {
            return Ok(Err(OAuthError::new(
                "unauthorized_client",
                "The client did not register the device code grant",
            )));
        }
        let scope = scope.unwrap_or_default();
        if !grants_api(scope) {
            return Ok(Err(OAuthError::new(
                "invalid_scope",
                "The scope must include urn:matrix:client:api:*",
            )));
        }
        if let Err(err) = scoped_device(scope) {
            return Ok(Err(err));
        }
        let now = self.context.now();
        let device_code = self.context.random.alphanumeric(40);
        for _ in 0..8 {
            let letters = self.context.random.string_from(USER_CODE_ALPHABET, 8);
            let user_code = normalize_user_code(&letters);
            let grant = NewDeviceGrant {
                device_code_hash: &digest(&device_code),
                user_code: &user_code,
                client_id,
                scope,
                now,
                expires_ts: now.saturating_add(DEVICE_CODE_LIFETIME_MS),
            };
            if self
                .context
                .storage
                .oauth_device_grants
                .create(&grant)
                .await?
            {
                let base = self.context.config.base_url();
                return Ok(Ok(DeviceAuthorization {
                    device_code,
                    verification_uri: format!("{base}{DEVICE_PAGE_PATH}"),
                    verification_uri_complete: format!(
                        "{base}{DEVICE_PAGE_PATH}?user_code={user_code}"
                    ),
                    user_code,
                    expires_in_secs: DEVICE_CODE_LIFETIME_MS / 1000,
                    interval_secs: POLL_INTERVAL_SECS,
                }));
            }
        }
        Err(ServiceError::Internal("no free user code".into()))
    }

    /// The approval page: the client asking, for a user code still waiting.
    pub async fn device_request(&self, user_code: &str) -> ServiceResult<Result<String, String>> {
        let code = normalize_user_code(user_code);
        let grant = self
            .context
            .storage
            .oauth_device_grants
            .by_user_code(&code)
            .await?;
        let Some(grant) =
            grant.filter(|g| g.expires_ts > self.context.now() && g.user_id.is_none() && !g.denied)
        else {
            return Ok(Err(
                "This code is unknown, expired or already used.".to_owned()
            ));
        };
        let client = self.client(&grant.client_id).await?.unwrap_or_default();
        Ok(Ok(client["client_name"]
            .as_str()
            .or(client["client_uri"].as_str())
            .unwrap_or("An application")
            .to_owned()))
    }

    /// The user approves the code with their password (`Ok(false)`: wrong password), or
    /// denies it.
    pub async fn decide_device(
        &self,
        user_code: &str,
        approval: Option<(&str, &str)>,
    ) -> ServiceResult<Result<bool, String>> {
        if let Err(message) = self.device_request(user_code).await? {
            return Ok(Err(message));
        }
        let code = normalize_user_code(user_code);
        let grants = &self.context.storage.oauth_device_grants;
        let Some((username, password)) = approval else {
            grants.decide(&code, None).await?;
            return Ok(Ok(true));
        };
        let Ok(user_id) = self.sessions.local_user_id(username.trim()) else {
            return Ok(Ok(false));
        };
        match self.sessions.check_password(&user_id, password).await {
            Ok(()) => {}
            Err(ServiceError::Forbidden(_) | ServiceError::UserDeactivated) => {
                return Ok(Ok(false));
            }
            Err(other) => return Err(other),
        }
        if !grants.decide(&code, Some(&user_id)).await? {
            return Ok(Err("This code was already used.".to_owned()));
        }
        Ok(Ok(true))
    }

    /// The token endpoint's device code grant (RFC 8628 §3.4–3.5).
    pub(super) async fn exchange_device_code(
        &self,
        client_id: &str,
        device_code: Option<&str>,
    ) -> ServiceResult<Result<OAuthTokens, OAuthError>> {
        let Some(device_code) = device_code else {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "device_code is required",
            )));
        };
        let now = self.context.now();
        let hash = digest(device_code);
        let grants = &self.context.storage.oauth_device_grants;
        let Some(grant) = grants.poll(&hash, now).await? else {
            return Ok(Err(OAuthError::new("invalid_grant", "Unknown device code")));
        };
        if grant.client_id != client_id {
            return Ok(Err(OAuthError::new(
                "invalid_grant",
                "This code was issued to another client",
            )));
        }
        if grant.exchanged_ts.is_some() {
            return Ok(Err(OAuthError::new(
                "invalid_grant",
                "This device code was already used",
            )));
        }
        if grant.expires_ts <= now {
            return Ok(Err(OAuthError::new(
                "expired_token",
                "The device code has expired",
            )));
        }
        if grant.denied {
            return Ok(Err(OAuthError::new("access_denied", "The user declined")));
        }
        let Some(user_id) = grant.user_id else {
            let too_soon = grant.last_poll_ts > 0
                && now.saturating_sub(grant.last_poll_ts) < POLL_INTERVAL_SECS * 1000;
            return Ok(Err(if too_soon {
                OAuthError::new("slow_down", "Poll less often")
            } else {
                OAuthError::new(
                    "authorization_pending",
                    "The user has not approved the code yet",
                )
            }));
        };
        if !grants.exchange(&hash, now).await? {
            return Ok(Err(OAuthError::new(
                "invalid_grant",
                "This device code was already used",
            )));
        }
        let device_id = match scoped_device(&grant.scope) {
            Ok(device_id) => device_id,
            Err(err) => return Ok(Err(err)),
        };
        let outcome = self
            .sessions
            .open_session(&user_id, Some(device_id), None, true)
            .await?;
        Ok(Ok(OAuthTokens {
            access_token: outcome.grant.access_token,
            refresh_token: outcome.grant.refresh_token,
            expires_in_secs: outcome.grant.expires_in_ms.map(|ms| ms / 1000),
            scope: Some(grant.scope),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_user_codes_are_normalised() {
        assert_eq!(normalize_user_code("bcdf-ghjk"), "BCDF-GHJK");
        assert_eq!(normalize_user_code(" BCDF GHJK "), "BCDF-GHJK");
        assert_eq!(normalize_user_code("BCD"), "BCD");
    }
}
