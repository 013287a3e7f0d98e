//! OpenID tokens: a user proves who they are to a third party (a widget, a call service), which
//! checks the token with this server (`/_matrix/federation/v1/openid/userinfo`).

use std::sync::Arc;

use ruma::{OwnedUserId, UserId};

use crate::accounts::tokens::{digest, generate};
use crate::{Context, Requester, ServiceError, ServiceResult};

const OPENID_TOKEN_PREFIX: &str = "eot_";
/// As Synapse: an hour is long enough to hand the token over, short enough if it leaks.
const LIFETIME_MS: u64 = 3_600_000;

/// An issued token and how many seconds it lives.
#[derive(Debug)]
pub struct OpenIdToken {
    pub access_token: String,
    pub expires_in_secs: u64,
}

#[derive(Clone)]
pub struct OpenIdService {
    context: Arc<Context>,
}

impl OpenIdService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// `POST /user/{userId}/openid/request_token`: only for oneself.
    pub async fn request_token(
        &self,
        requester: &Requester,
        user_id: &UserId,
    ) -> ServiceResult<OpenIdToken> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You may only request OpenID tokens for yourself".into(),
            ));
        }
        let now = self.context.now();
        let storage = &self.context.storage;
        storage.openid_tokens.delete_expired(now).await?;
        let token = generate(&self.context, OPENID_TOKEN_PREFIX);
        storage
            .openid_tokens
            .insert(&digest(&token), user_id, now + LIFETIME_MS)
            .await?;
        Ok(OpenIdToken {
            access_token: token,
            expires_in_secs: LIFETIME_MS / 1000,
        })
    }

    /// The user an unexpired token was issued to.
    pub async fn user_info(&self, token: &str) -> ServiceResult<OwnedUserId> {
        let now = self.context.now();
        self.context
            .storage
            .openid_tokens
            .find(&digest(token), now)
            .await?
            .ok_or_else(|| ServiceError::UnknownToken {
                soft_logout: false,
                message: "Unknown or expired OpenID token".into(),
            })
    }
}
