//! What operators read across accounts (the Synapse-compatible admin API): the accounts list,
//! filtered, ordered and paged in the database.

use async_trait::async_trait;
use ruma::OwnedUserId;

use crate::StorageResult;

/// How the accounts list is ordered (ties by user ID).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserOrder {
    #[default]
    Name,
    DisplayName,
    AvatarUrl,
    Admin,
    Deactivated,
    CreationTs,
    LastSeenTs,
}

/// An operator's query of the accounts list (Synapse's `GET /_synapse/admin/v2/users`).
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub from: u64,
    pub limit: u64,
    /// Substring of the localpart or of the display name, any case.
    pub name: Option<String>,
    /// Substring of the whole user ID, any case (unused with `name`).
    pub user_id: Option<String>,
    /// Only deactivated accounts (`Some(true)`), only active ones, or both.
    pub deactivated: Option<bool>,
    /// Only administrators, none, or both.
    pub admins: Option<bool>,
    pub order: UserOrder,
    pub descending: bool,
}

/// One account as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUser {
    pub user_id: OwnedUserId,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub is_admin: bool,
    pub deactivated: bool,
    pub created_ts: u64,
    /// The latest activity of any of its devices.
    pub last_seen_ts: Option<u64>,
}

#[async_trait]
pub trait AdminRepository: Send + Sync {
    /// One page of the accounts the query selects, and how many it selects in all.
    async fn users(&self, query: &UserListQuery) -> StorageResult<(Vec<ListedUser>, u64)>;
}
