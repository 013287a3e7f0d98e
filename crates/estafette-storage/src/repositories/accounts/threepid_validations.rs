use async_trait::async_trait;

use crate::StorageResult;

/// A request to prove control of an address: a token emailed to it, to be submitted back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreepidValidation {
    pub sid: String,
    pub client_secret: String,
    pub medium: String,
    pub address: String,
    /// What the validation is for: `registration`, `password_reset`, `add_threepid`.
    pub purpose: String,
    /// The emailed token's hash; the token itself is never stored.
    pub token_hash: String,
    pub send_attempt: u64,
    pub expires_ts: u64,
    pub validated_ts: Option<u64>,
}

#[async_trait]
pub trait ThreepidValidationRepository: Send + Sync {
    /// The session a client opened for this address and purpose with this secret.
    async fn find(
        &self,
        client_secret: &str,
        address: &str,
        purpose: &str,
    ) -> StorageResult<Option<ThreepidValidation>>;
    /// Records a new session, or a new attempt (new token and expiry) of the same one.
    async fn put(&self, validation: &ThreepidValidation) -> StorageResult<()>;
    async fn get(&self, sid: &str) -> StorageResult<Option<ThreepidValidation>>;
    /// Marks the session validated at `now` if `token_hash` is its token and it has not
    /// expired; whether it was.
    async fn validate(&self, sid: &str, token_hash: &str, now: u64) -> StorageResult<bool>;
    /// Ends the session once what it validated is used; whether it was still there (so two
    /// uses at once make one).
    async fn consume(&self, sid: &str) -> StorageResult<bool>;
}
