//! The account management page (spec v1.18 "Account management", MSC4191): clients that sign
//! in with OAuth 2.0 send users there, in a browser, for what user-interactive
//! authentication would otherwise guard — signing devices out, resetting the cross-signing
//! identity (the `m.oauth` stage). The user signs in there with a password or the upstream
//! provider (an account made by ProConnect has no password), and the browser keeps a short
//! session: a cookie whose hash is stored, with a token every form carries back.

use ruma::{DeviceId, OwnedUserId, UserId};
use sha2::{Digest, Sha256};

use super::OAuthService;
use crate::{DeviceRecord, Requester, ServiceResult};

/// The page, under the server's base URL.
pub const ACCOUNT_PATH: &str = "/account";
/// The actions the page takes, in the spec's names and in MSC4191's first ones.
pub const ACCOUNT_ACTIONS: &[&str] = &[
    "org.matrix.devices_list",
    "org.matrix.device_view",
    "org.matrix.device_delete",
    "org.matrix.cross_signing_reset",
    "org.matrix.sessions_list",
    "org.matrix.session_view",
    "org.matrix.session_end",
];
const SESSION_LIFETIME_MS: u64 = 15 * 60_000;
/// How long an approved cross-signing reset waits for the client's upload.
const RESET_APPROVAL_LIFETIME_MS: u64 = 10 * 60_000;
/// Marks an upstream sign-in that returns to the page (not to a client).
pub(super) const ACCOUNT_RETURN_PREFIX: &str = "account:";

/// A browser signed in on the page.
#[derive(Debug, Clone)]
pub struct AccountSession {
    pub user_id: OwnedUserId,
    /// The token every form of the page must carry back.
    pub csrf: String,
}

fn cookie_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl OAuthService {
    pub fn account_management_uri(&self) -> String {
        format!("{}{ACCOUNT_PATH}", self.context.config.base_url())
    }

    /// Signs the browser in as `user_id`: the cookie's value.
    pub async fn open_account_session(&self, user_id: &UserId) -> ServiceResult<String> {
        let token = self.context.random.alphanumeric(32);
        let now = self.context.now();
        let record = estafette_storage::AccountSessionRecord {
            user_id: user_id.to_owned(),
            csrf: self.context.random.alphanumeric(24),
            expires_ts: now + SESSION_LIFETIME_MS,
        };
        self.context
            .storage
            .oauth_account
            .open(&cookie_hash(&token), &record, now)
            .await?;
        Ok(token)
    }

    /// Who the browser's cookie signs in, while it is valid.
    pub async fn account_session(&self, cookie: &str) -> ServiceResult<Option<AccountSession>> {
        let record = self
            .context
            .storage
            .oauth_account
            .session(&cookie_hash(cookie), self.context.now())
            .await?;
        Ok(record.map(|r| AccountSession {
            user_id: r.user_id,
            csrf: r.csrf,
        }))
    }

    pub async fn close_account_session(&self, cookie: &str) -> ServiceResult<()> {
        Ok(self
            .context
            .storage
            .oauth_account
            .close(&cookie_hash(cookie))
            .await?)
    }

    /// The page's password form: the account, or what to tell the user.
    pub async fn account_password_sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> ServiceResult<Result<OwnedUserId, String>> {
        let refused = || Ok(Err("Wrong username or password.".to_owned()));
        let Ok(user_id) = self.sessions.local_user_id(username.trim()) else {
            return refused();
        };
        match self.sessions.check_password(&user_id, password).await {
            Ok(()) => Ok(Ok(user_id)),
            Err(crate::ServiceError::Storage(err)) => Err(err.into()),
            Err(_) => refused(),
        }
    }

    /// The page's "Sign in with …" link: to the provider, back to `return_to` (a path of the
    /// page, checked by the caller).
    pub async fn start_account_upstream(&self, return_to: &str) -> ServiceResult<String> {
        self.to_provider("", Some(format!("{ACCOUNT_RETURN_PREFIX}{return_to}")))
            .await
    }

    pub async fn account_devices(&self, user_id: &UserId) -> ServiceResult<Vec<DeviceRecord>> {
        Ok(self.context.storage.devices.list(user_id).await?)
    }

    /// Signs one of the user's devices out; `false` when it was not theirs or is gone.
    pub async fn sign_device_out(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> ServiceResult<bool> {
        let known = self
            .context
            .storage
            .devices
            .get(user_id, device_id)
            .await?
            .is_some();
        if known {
            self.sessions
                .logout(&Requester::new(user_id.to_owned(), device_id.to_owned()))
                .await?;
            tracing::info!(%user_id, %device_id, "device signed out from the account page");
        }
        Ok(known)
    }

    /// The user allows their next cross-signing key upload without further authentication.
    pub async fn approve_cross_signing_reset(&self, user_id: &UserId) -> ServiceResult<()> {
        let expires = self.context.now() + RESET_APPROVAL_LIFETIME_MS;
        self.context
            .storage
            .oauth_account
            .approve_reset(user_id, expires)
            .await?;
        tracing::info!(%user_id, "cross-signing reset approved on the account page");
        Ok(())
    }
}
