//! What a server administrator does to an account (the admin API, through the `admin`
//! service): a new password without the policy (as Synapse lets them), one device signed out.

use ruma::{DeviceId, UserId};

use super::{AccountService, passwords};
use crate::{ServiceError, ServiceResult};

/// The longest password an administrator may set, as Synapse.
const MAX_PASSWORD_CHARS: usize = 512;

impl AccountService {
    /// Sets the account's password; `logout_devices` signs every device out.
    pub(crate) async fn set_password_by_admin(
        &self,
        user_id: &UserId,
        password: String,
        logout_devices: bool,
    ) -> ServiceResult<()> {
        if password.is_empty() || password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(ServiceError::Unknown("Invalid password".into()));
        }
        let mut salt = [0u8; 16];
        self.context.random.fill_bytes(&mut salt);
        let hash = passwords::hash(&self.sessions.hashing, password, salt).await?;
        self.context
            .storage
            .users
            .set_password_hash(user_id, Some(&hash))
            .await?;
        if logout_devices {
            self.sessions.remove_devices(user_id, None).await?;
        }
        tracing::info!(%user_id, logout_devices, "password set by an administrator");
        Ok(())
    }

    /// Signs one device out; whether it existed.
    pub(crate) async fn remove_device_by_admin(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> ServiceResult<bool> {
        let removed = self.sessions.remove_device(user_id, device_id).await?;
        tracing::info!(%user_id, %device_id, removed, "device signed out by an administrator");
        Ok(removed)
    }
}
