use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// An authorization request as the client made it.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Names the request in the sign-in page's form.
    pub id: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: Option<&'a str>,
    pub code_challenge: &'a str,
    pub response_mode: &'a str,
    pub prompt: Option<&'a str>,
    pub now: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrantRecord {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub response_mode: String,
    pub prompt: Option<String>,
    pub created_ts: u64,
    /// Who signed in, once someone did.
    pub user_id: Option<OwnedUserId>,
    pub completed_ts: Option<u64>,
    /// When its code was exchanged for tokens (once only).
    pub exchanged_ts: Option<u64>,
}

/// Authorization code grants: created when a client sends the user to the sign-in page,
/// completed with a code once the user signs in, exchanged for tokens once.
#[async_trait]
pub trait OAuthGrantRepository: Send + Sync {
    /// Records a request; grants created before `forget_before` are dropped.
    async fn create(&self, grant: &NewGrant<'_>, forget_before: u64) -> StorageResult<()>;
    async fn get(&self, id: &str) -> StorageResult<Option<OAuthGrantRecord>>;
    /// The user signed in: the grant gets its code. `false` if it was completed already.
    async fn complete(
        &self,
        id: &str,
        user_id: &UserId,
        code_hash: &str,
        now: u64,
    ) -> StorageResult<bool>;
    /// The grant of a code, marked exchanged by this call if it was not yet: `(grant, first)`
    /// where `first` says whether this call exchanged it.
    async fn exchange(
        &self,
        code_hash: &str,
        now: u64,
    ) -> StorageResult<Option<(OAuthGrantRecord, bool)>>;
}
