//! Synapse-compatible shared-secret registration (`/_synapse/admin/v1/register`), so that
//! provisioning scripts written for Synapse (`register_new_matrix_user`) work unchanged.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::{
    AccountService, Context, LoginOutcome, NewAccount, ServiceError, ServiceResult, SessionService,
};

const NONCE_LIFETIME_MS: u64 = 60_000;
const NONCE_LENGTH: usize = 32;

/// The fields of a shared-secret registration request.
#[derive(Debug, Clone)]
pub struct SharedSecretRequest {
    pub nonce: String,
    pub username: String,
    pub password: String,
    pub displayname: Option<String>,
    pub admin: bool,
    /// Hex HMAC-SHA1 over `nonce\0username\0password\0admin|notadmin`.
    pub mac: String,
}

#[derive(Clone)]
pub struct SharedSecretRegistration {
    context: Arc<Context>,
    accounts: AccountService,
    sessions: SessionService,
}

impl SharedSecretRegistration {
    pub(crate) fn new(
        context: Arc<Context>,
        accounts: AccountService,
        sessions: SessionService,
    ) -> Self {
        Self {
            context,
            accounts,
            sessions,
        }
    }

    fn secret(&self) -> ServiceResult<&str> {
        let secret = self.context.config.registration.shared_secret.as_str();
        if secret.is_empty() {
            return Err(ServiceError::BadJson(
                "Shared secret registration is not enabled".into(),
            ));
        }
        Ok(secret)
    }

    pub async fn issue_nonce(&self) -> ServiceResult<String> {
        self.secret()?;
        let now = self.context.now();
        let nonces = &self.context.storage.registration_nonces;
        nonces
            .delete_created_before(now.saturating_sub(NONCE_LIFETIME_MS))
            .await?;
        let nonce = self.context.random.alphanumeric(NONCE_LENGTH);
        nonces.insert(&nonce, now).await?;
        Ok(nonce)
    }

    pub async fn register(&self, request: SharedSecretRequest) -> ServiceResult<LoginOutcome> {
        let secret = self.secret()?;
        let created = self
            .context
            .storage
            .registration_nonces
            .take(&request.nonce)
            .await?;
        if created.is_none_or(|ts| ts.saturating_add(NONCE_LIFETIME_MS) <= self.context.now()) {
            return Err(ServiceError::Unknown(
                "Unrecognised or expired nonce".into(),
            ));
        }
        let mac = hex::decode(request.mac.trim())
            .map_err(|_| ServiceError::Forbidden("HMAC incorrect".into()))?;
        let expected = mac_input(&request);
        let mut hmac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        hmac.update(&expected);
        hmac.verify_slice(&mac)
            .map_err(|_| ServiceError::Forbidden("HMAC incorrect".into()))?;

        let user_id = self
            .accounts
            .create(NewAccount {
                localpart: Some(request.username.to_lowercase()),
                password: Some(request.password),
                is_admin: request.admin,
                display_name: request.displayname,
                trusted_localpart: false,
            })
            .await?;
        self.sessions
            .open_session(&user_id, None, None, false)
            .await
    }
}

/// The bytes the MAC covers, exactly as Synapse computes them.
pub fn mac_input(request: &SharedSecretRequest) -> Vec<u8> {
    let admin: &[u8] = if request.admin { b"admin" } else { b"notadmin" };
    [
        request.nonce.as_bytes(),
        request.username.as_bytes(),
        request.password.as_bytes(),
        admin,
    ]
    .join(&b'\0')
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hmac::{Hmac, Mac};
    use sha1::Sha1;

    use super::*;
    use crate::testing::services;

    #[tokio::test]
    async fn nonce_flow_with_a_correct_mac_creates_an_admin() {
        let (_dir, services, _clock) = services().await;
        let mut config = (*services.context.config).clone();
        config.registration.shared_secret = "s3cret".into();
        let context = Context {
            storage: services.context.storage.clone(),
            config: Arc::new(config),
            server_name: services.context.server_name.clone(),
            clock: services.context.clock.clone(),
            random: services.context.random.clone(),
            server_key: services.context.server_key.clone(),
            notifier: services.context.notifier.clone(),
            appservices: services.context.appservices.clone(),
            appservice_wake: services.context.appservice_wake.clone(),
        };
        let services = crate::Services::new(context).unwrap();
        let nonce = services.shared_secret.issue_nonce().await.unwrap();
        let mut request = SharedSecretRequest {
            nonce: nonce.clone(),
            username: "root".into(),
            password: "a long password".into(),
            displayname: None,
            admin: true,
            mac: "00".into(),
        };
        let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret").unwrap();
        mac.update(&mac_input(&request));
        let good = hex::encode(mac.finalize().into_bytes());
        let wrong = services
            .shared_secret
            .register(request.clone())
            .await
            .unwrap_err();
        assert!(matches!(wrong, ServiceError::Forbidden(_)));
        // The nonce was spent by the failed attempt.
        request.mac = good.clone();
        assert!(matches!(
            services
                .shared_secret
                .register(request.clone())
                .await
                .unwrap_err(),
            ServiceError::Unknown(_)
        ));
        request.nonce = services.shared_secret.issue_nonce().await.unwrap();
        let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret").unwrap();
        mac.update(&mac_input(&request));
        request.mac = hex::encode(mac.finalize().into_bytes());
        let outcome = services.shared_secret.register(request).await.unwrap();
        let user = services
            .context
            .storage
            .users
            .get(&outcome.user_id)
            .await
            .unwrap()
            .unwrap();
        assert!(user.is_admin);
    }
}
