//! This server as its own OAuth 2.0 authorization server (spec v1.15, the "OAuth 2.0 API"):
//! clients register dynamically, send the user to the server's sign-in page, and exchange the
//! code they get back (with PKCE) for a device's access and refresh tokens.

mod account;
mod authorization;
mod clients;
mod device;
mod tokens;
mod upstream;

use std::sync::Arc;

use crate::{AccountService, Context, SessionService};
pub use account::{ACCOUNT_ACTIONS, ACCOUNT_PATH, AccountSession};
pub use authorization::{AuthorizationError, AuthorizationPage, AuthorizationRequest, SignIn};
pub use clients::RegisteredClient;
pub use device::{
    DEVICE_AUTHORIZATION_PATH, DEVICE_GRANT_TYPE, DEVICE_PAGE_PATH, DeviceAuthorization,
    normalize_user_code,
};
pub use tokens::{OAuthTokens, TokenRequest};
pub use upstream::{UPSTREAM_CALLBACK_PATH, UPSTREAM_START_PATH, UpstreamCallback};

/// The scope token granting the whole Client-Server API.
pub const SCOPE_API: &str = "urn:matrix:client:api:*";
/// The scope token naming the device the tokens are for.
pub const SCOPE_DEVICE_PREFIX: &str = "urn:matrix:client:device:";
/// The same two as MSC2967 named them, which matrix-rust-sdk (Element X) still sends.
const UNSTABLE_SCOPE_API: &str = "urn:matrix:org.matrix.msc2967.client:api:*";
const UNSTABLE_SCOPE_DEVICE_PREFIX: &str = "urn:matrix:org.matrix.msc2967.client:device:";

/// Whether a scope grants the whole Client-Server API.
pub(crate) fn grants_api(scope: &str) -> bool {
    scope
        .split(' ')
        .any(|token| token == SCOPE_API || token == UNSTABLE_SCOPE_API)
}

/// Where the OAuth endpoints are served, under the server's base URL.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const REGISTRATION_PATH: &str = "/oauth2/registration";
pub const REVOCATION_PATH: &str = "/oauth2/revoke";

/// How long a sign-in may take, and a code wait for its exchange (RFC 6749 advises minutes).
const GRANT_LIFETIME_MS: u64 = 10 * 60 * 1000;

/// An error of the OAuth endpoints, in their own format (RFC 6749 §5.2, RFC 7591 §3.2.2):
/// `error` is one of the codes those RFCs define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// Whether the client failed to authenticate (401 rather than 400).
    pub fn is_client_error(&self) -> bool {
        self.error == "invalid_client"
    }
}

/// The authorization server's metadata, as `auth_metadata` serves it.
#[derive(Debug, Clone)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub revocation_endpoint: String,
    pub device_authorization_endpoint: String,
    /// `prompt=create` is offered when anyone may register.
    pub registration_open: bool,
    pub account_management_uri: String,
}

#[derive(Clone)]
pub struct OAuthService {
    context: Arc<Context>,
    sessions: SessionService,
    accounts: AccountService,
    /// For the upstream provider's metadata, keys and token endpoint.
    http: reqwest::Client,
    provider: Arc<std::sync::Mutex<Option<upstream::ProviderState>>>,
}

impl OAuthService {
    pub(crate) fn new(
        context: Arc<Context>,
        sessions: SessionService,
        accounts: AccountService,
    ) -> Self {
        Self {
            context,
            sessions,
            accounts,
            http: reqwest::Client::new(),
            provider: Arc::default(),
        }
    }

    pub fn metadata(&self) -> ServerMetadata {
        let base = self.context.config.base_url();
        ServerMetadata {
            issuer: format!("{base}/"),
            authorization_endpoint: format!("{base}{AUTHORIZE_PATH}"),
            token_endpoint: format!("{base}{TOKEN_PATH}"),
            registration_endpoint: format!("{base}{REGISTRATION_PATH}"),
            revocation_endpoint: format!("{base}{REVOCATION_PATH}"),
            device_authorization_endpoint: format!("{base}{DEVICE_AUTHORIZATION_PATH}"),
            registration_open: self.accounts.registration_open(),
            account_management_uri: self.account_management_uri(),
        }
    }
}

/// The device a scope names: exactly one `urn:matrix:client:device:` token, with a device ID
/// of the characters RFC 3986 leaves unreserved, or of base64's (a device signed in by QR code
/// names itself by its Curve25519 key, MSC4108).
pub(crate) fn scoped_device(scope: &str) -> Result<ruma::OwnedDeviceId, OAuthError> {
    let devices: Vec<&str> = scope
        .split(' ')
        .filter_map(|token| {
            token
                .strip_prefix(SCOPE_DEVICE_PREFIX)
                .or_else(|| token.strip_prefix(UNSTABLE_SCOPE_DEVICE_PREFIX))
        })
        .collect();
    let [device] = devices.as_slice() else {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("The scope must name exactly one device ({SCOPE_DEVICE_PREFIX}<device_id>)"),
        ));
    };
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=');
    if device.is_empty() || device.len() > 255 || !device.chars().all(allowed) {
        return Err(OAuthError::new(
            "invalid_scope",
            "The device ID must be 1 to 255 characters among A-Z a-z 0-9 - . _ ~ + / =",
        ));
    }
    Ok(ruma::OwnedDeviceId::from(*device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_names_exactly_one_well_formed_device() {
        let device = scoped_device(&format!("{SCOPE_API} {SCOPE_DEVICE_PREFIX}ABCdef-1.2_3~"));
        assert_eq!(device.unwrap().as_str(), "ABCdef-1.2_3~");
        let unstable = format!("{UNSTABLE_SCOPE_API} {UNSTABLE_SCOPE_DEVICE_PREFIX}XYZ");
        assert_eq!(scoped_device(&unstable).unwrap().as_str(), "XYZ");
        let key = format!("{SCOPE_DEVICE_PREFIX}u+4kZ/Qz9wQ=");
        assert_eq!(scoped_device(&key).unwrap().as_str(), "u+4kZ/Qz9wQ=");
        assert!(grants_api(&unstable) && grants_api(SCOPE_API) && !grants_api("openid"));
        for bad in [
            SCOPE_API.to_owned(),
            format!("{SCOPE_DEVICE_PREFIX}A {SCOPE_DEVICE_PREFIX}B"),
            format!("{SCOPE_DEVICE_PREFIX}"),
            format!("{SCOPE_DEVICE_PREFIX}bad:device"),
            format!("{SCOPE_DEVICE_PREFIX}bad%device"),
        ] {
            assert_eq!(
                scoped_device(&bad).unwrap_err().error,
                "invalid_scope",
                "{bad}"
            );
        }
    }
}
