use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountValidity {
    pub user_id: OwnedUserId,
    pub expiration_ts: u64,
    /// Renewal emails of the current period already sent (or being sent).
    pub emails_sent: u64,
    /// Whether the account gets renewal emails at all.
    pub renewal_emails: bool,
}

#[async_trait]
pub trait AccountValidityRepository: Send + Sync {
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<AccountValidity>>;
    /// Starts a period: the account expires at `expiration_ts`, no renewal email of it sent.
    async fn set(
        &self,
        user_id: &UserId,
        expiration_ts: u64,
        renewal_emails: bool,
    ) -> StorageResult<()>;
    /// Gives the active accounts that have none a period ending at `expiration_ts`; how many.
    async fn start_missing(&self, expiration_ts: u64) -> StorageResult<u64>;
    /// Accounts that get renewal emails, expire after `now` and by `until`, and have been sent
    /// fewer than `max_emails` of them: those a renewal email may be due to.
    async fn due_for_email(
        &self,
        now: u64,
        until: u64,
        max_emails: u64,
        limit: u64,
    ) -> StorageResult<Vec<AccountValidity>>;
    /// Records that email number `sent + 1` goes out, if nobody recorded it first: whether this
    /// caller is the one to send it.
    async fn claim_email(&self, user_id: &UserId, sent: u64) -> StorageResult<bool>;
    /// Takes back a claimed email that could not be sent.
    async fn release_email(&self, user_id: &UserId, sent: u64) -> StorageResult<()>;
    /// Accounts that expired by `before`.
    async fn expired_by(&self, before: u64, limit: u64) -> StorageResult<Vec<OwnedUserId>>;
    async fn delete(&self, user_id: &UserId) -> StorageResult<()>;
}
