//! Login tokens (`m.login.token`): short-lived and single-use, issued at the end of a single
//! sign-on for clients that do not speak OAuth 2.0, or by `/login/get_token` to sign in a new
//! device from one already signed in.

use ruma::{OwnedDeviceId, UserId};

use super::tokens::{digest, generate};
use crate::{LoginOutcome, ServiceError, ServiceResult, SessionService};

const LOGIN_TOKEN_PREFIX: &str = "elt_";
/// Long enough to follow a redirect or scan a code, short enough not to be worth stealing.
pub(crate) const LOGIN_TOKEN_LIFETIME_MS: u64 = 2 * 60 * 1000;

impl SessionService {
    /// A new login token for `user_id`, and how long it lasts.
    pub async fn create_login_token(&self, user_id: &UserId) -> ServiceResult<(String, u64)> {
        let token = generate(&self.context, LOGIN_TOKEN_PREFIX);
        let now = self.context.now();
        self.context
            .storage
            .login_tokens
            .create(
                &digest(&token),
                user_id,
                now.saturating_add(LOGIN_TOKEN_LIFETIME_MS),
                now,
            )
            .await?;
        Ok((token, LOGIN_TOKEN_LIFETIME_MS))
    }

    /// `m.login.token`: the token is used up, and a session opens for its user.
    pub async fn login_with_token(
        &self,
        token: &str,
        device_id: Option<OwnedDeviceId>,
        initial_display_name: Option<&str>,
        with_refresh_token: bool,
    ) -> ServiceResult<LoginOutcome> {
        let user_id = self
            .context
            .storage
            .login_tokens
            .take(&digest(token), self.context.now())
            .await?
            .ok_or_else(|| ServiceError::Forbidden("Invalid or expired login token".into()))?;
        if !crate::accounts::is_active_local_user(&self.context, &user_id).await? {
            return Err(ServiceError::UserDeactivated);
        }
        self.open_session(
            &user_id,
            device_id,
            initial_display_name,
            with_refresh_token,
        )
        .await
    }
}
