use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// A sign-in sent to the upstream OpenID Connect provider, waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSession {
    /// The `state` sent to the provider, which its callback brings back.
    pub state: String,
    /// The authorization request of this server's own that the sign-in completes (empty for a
    /// single sign-on, `sso_redirect`).
    pub grant_id: String,
    /// For single sign-on (`m.login.sso`): where the client waits for its login token.
    pub sso_redirect: Option<String>,
    pub nonce: String,
    pub code_verifier: String,
    pub created_ts: u64,
}

/// Upstream sign-ins in progress, and accounts linked to the provider's subjects.
#[async_trait]
pub trait OAuthUpstreamRepository: Send + Sync {
    /// Records a sign-in; those started before `forget_before` are dropped.
    async fn start(&self, session: &UpstreamSession, forget_before: u64) -> StorageResult<()>;
    /// The sign-in of a callback's `state`, forgotten by this call: a state is used once.
    async fn take(&self, state: &str) -> StorageResult<Option<UpstreamSession>>;
    /// The account linked to the provider's subject.
    async fn linked(&self, issuer: &str, subject: &str) -> StorageResult<Option<OwnedUserId>>;
    /// Links an account to the provider's subject; `false` when the subject is linked already.
    async fn link(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &UserId,
        now: u64,
    ) -> StorageResult<bool>;
}
