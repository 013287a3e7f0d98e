//! Account validity: expiration dates and renewal links.

mod renewal_tokens;
mod validity;

fn owned_user(value: String) -> crate::StorageResult<ruma::OwnedUserId> {
    ruma::OwnedUserId::try_from(value).map_err(|e| super::corrupt("account_validity.user_id", e))
}
