//! Accounts: registration, password changes and deactivation.

use std::sync::Arc;

use estafette_storage::NewUser;

use super::ThreepidValidationService;
use super::threepid_validation::in_use;
use crate::policy::{EmailAddress, display_name_for, localpart_for};
use ruma::api::client::uiaa::{AuthData, AuthType};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::Value as JsonValue;

use crate::{
    Context, LoginOutcome, Requester, ServiceError, ServiceResult, SessionService, UiaAction,
    UiaService, accounts::passwords,
};

const GENERATED_LOCALPART_LENGTH: usize = 12;
const MAX_USER_ID_BYTES: usize = 255;

/// An account to create, from registration, the admin command or shared-secret registration.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Generated when absent.
    pub localpart: Option<String>,
    pub password: Option<String>,
    pub is_admin: bool,
    /// Defaults to the localpart.
    pub display_name: Option<String>,
    /// An application service's user: the localpart need only be a user ID's (reserved
    /// prefixes and exclusive namespaces are the service's to use).
    pub trusted_localpart: bool,
}

/// A `/register` request, already parsed.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub username: Option<String>,
    pub password: Option<String>,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub refresh_token: bool,
    pub guest: bool,
    pub auth: Option<AuthData>,
}

#[derive(Clone)]
pub struct AccountService {
    pub(super) context: Arc<Context>,
    pub(super) sessions: SessionService,
    uia: UiaService,
    validations: ThreepidValidationService,
}

impl AccountService {
    pub(crate) fn new(
        context: Arc<Context>,
        sessions: SessionService,
        uia: UiaService,
        validations: ThreepidValidationService,
    ) -> Self {
        Self {
            validations,
            context,
            sessions,
            uia,
        }
    }

    pub fn registration_open(&self) -> bool {
        self.context.config.registration.open
    }

    /// Validates a requested localpart and checks that nobody holds it.
    pub async fn check_username(&self, localpart: &str) -> ServiceResult<OwnedUserId> {
        let user_id = self.user_id_for(localpart)?;
        if self.context.storage.users.get(&user_id).await?.is_some() {
            return Err(ServiceError::UserInUse);
        }
        Ok(user_id)
    }

    fn user_id_for(&self, localpart: &str) -> ServiceResult<OwnedUserId> {
        if localpart.is_empty() {
            return Err(ServiceError::InvalidUsername(
                "The username must not be empty".into(),
            ));
        }
        if !localpart.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'),
        ) {
            return Err(ServiceError::InvalidUsername(
                "The username may only contain a-z, 0-9, and . _ = - / +".into(),
            ));
        }
        if localpart.starts_with('_') {
            return Err(ServiceError::InvalidUsername(
                "Usernames starting with _ are reserved".into(),
            ));
        }
        let user_id = self.any_user_id_for(localpart)?;
        if let Some(service) = self.context.appservices.exclusive_owner_of_user(&user_id) {
            return Err(ServiceError::Exclusive(format!(
                "{user_id} is reserved by application service {}",
                service.id
            )));
        }
        Ok(user_id)
    }

    /// The user ID of a localpart in the spec's grammar, historical characters included.
    fn any_user_id_for(&self, localpart: &str) -> ServiceResult<OwnedUserId> {
        let user_id = UserId::parse_with_server_name(localpart, &self.context.server_name)
            .map_err(|e| ServiceError::InvalidUsername(format!("Invalid username: {e}")))?;
        if user_id.as_str().len() > MAX_USER_ID_BYTES {
            return Err(ServiceError::InvalidUsername(
                "The user ID would be longer than 255 bytes".into(),
            ));
        }
        Ok(user_id)
    }

    /// Creates an account without any authentication: for operators and trusted callers.
    pub async fn create(&self, account: NewAccount) -> ServiceResult<OwnedUserId> {
        let user_id = match &account.localpart {
            Some(localpart) if account.trusted_localpart => self.any_user_id_for(localpart)?,
            Some(localpart) => self.user_id_for(localpart)?,
            None => self.user_id_for(&format!(
                "u{}",
                self.context.random.string_from(
                    b"abcdefghijklmnopqrstuvwxyz0123456789",
                    GENERATED_LOCALPART_LENGTH
                )
            ))?,
        };
        let password_hash = match account.password {
            Some(password) => {
                Some(passwords::hash_new(&self.context, &self.sessions.hashing, password).await?)
            }
            None => None,
        };
        let created = self
            .context
            .storage
            .users
            .create(&NewUser {
                user_id: user_id.clone(),
                password_hash,
                is_admin: account.is_admin,
                created_ts: self.context.now(),
            })
            .await?;
        if !created {
            return Err(ServiceError::UserInUse);
        }
        let display_name = account
            .display_name
            .unwrap_or_else(|| user_id.localpart().to_owned());
        self.context
            .storage
            .profiles
            .set_field(
                &user_id,
                "displayname",
                Some(&JsonValue::String(display_name)),
            )
            .await?;
        tracing::info!(%user_id, admin = account.is_admin, "account created");
        Ok(user_id)
    }

    /// `/register`: open registration with the `m.login.dummy` stage.
    pub async fn register(
        &self,
        request: Registration,
    ) -> ServiceResult<(OwnedUserId, Option<LoginOutcome>)> {
        if request.guest {
            return Err(ServiceError::GuestAccessForbidden(
                "Guest access is disabled on this server".into(),
            ));
        }
        if !self.registration_open() {
            return Err(ServiceError::Forbidden(
                "Registration is disabled on this server".into(),
            ));
        }
        let by_email = self.context.config.policy.email_registration;
        // Refuse a taken or invalid name before the client goes through authentication (an
        // address names its owner when registering by email).
        if let Some(username) = request.username.as_ref().filter(|_| !by_email) {
            self.check_username(username).await?;
        }
        if let Some(password) = &request.password {
            passwords::check_policy(&self.context.config.auth, password)?;
        }
        let stage = if by_email {
            AuthType::EmailIdentity
        } else {
            AuthType::Dummy
        };
        self.uia
            .authorize(
                UiaAction::Register,
                None,
                &[vec![stage]],
                request.auth.as_ref(),
            )
            .await?;
        let user_id = if by_email {
            self.create_for_email(request.auth.as_ref(), request.password)
                .await?
        } else {
            self.create(NewAccount {
                localpart: request.username,
                password: request.password,
                ..Default::default()
            })
            .await?
        };
        let session = self
            .sessions
            .session_after_registration(
                &user_id,
                request.inhibit_login,
                request.device_id,
                request.initial_device_display_name.as_deref(),
                request.refresh_token,
            )
            .await?;
        Ok((user_id, session))
    }

    /// The account of a validated address (TCHAP.md §2): named after the address (an integer
    /// appended on a clash), shown with the name the address gives, the address bound to it.
    async fn create_for_email(
        &self,
        auth: Option<&AuthData>,
        password: Option<String>,
    ) -> ServiceResult<OwnedUserId> {
        let Some(AuthData::EmailIdentity(email)) = auth else {
            return Err(ServiceError::Forbidden(
                "Registration needs a validated email address".into(),
            ));
        };
        let credentials = &email.thirdparty_id_creds;
        let sid = credentials.sid.as_str();
        let (address, deactivated_owner) = self
            .validations
            .registration_address(sid, credentials.client_secret.as_str())
            .await?;
        if let Some(user_id) = deactivated_owner {
            return self.reactivate(&user_id, &address, password, sid).await;
        }
        let base = localpart_for(&address);
        let mut localpart = base.clone();
        let mut clash = 0;
        while self
            .context
            .storage
            .users
            .get(&self.user_id_for(&localpart)?)
            .await?
            .is_some()
        {
            clash += 1;
            localpart = format!("{base}{clash}");
        }
        let user_id = self
            .create(NewAccount {
                localpart: Some(localpart),
                password,
                display_name: Some(display_name_for(&address)),
                ..Default::default()
            })
            .await?;
        self.validations.bind(&user_id, &address).await?;
        self.validations.consume(sid).await?;
        Ok(user_id)
    }

    /// Registering again with the address of a deactivated account brings that account back
    /// (TCHAP.md §2): its rooms and its name are its owner's, never a new account's.
    async fn reactivate(
        &self,
        user_id: &UserId,
        address: &EmailAddress,
        password: Option<String>,
        sid: &str,
    ) -> ServiceResult<OwnedUserId> {
        self.validations.consume(sid).await?;
        let password_hash = match password {
            Some(password) => {
                Some(passwords::hash_new(&self.context, &self.sessions.hashing, password).await?)
            }
            None => None,
        };
        let storage = &self.context.storage;
        if !storage
            .users
            .reactivate(user_id, password_hash.as_deref())
            .await?
        {
            return Err(in_use(address));
        }
        storage
            .profiles
            .set_field(
                user_id,
                "displayname",
                Some(&JsonValue::String(display_name_for(address))),
            )
            .await?;
        tracing::info!(%user_id, "account reactivated");
        Ok(user_id.to_owned())
    }

    /// `/account/password`, after re-authentication.
    pub async fn change_password(
        &self,
        requester: &Requester,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        self.uia
            .reauthenticate(UiaAction::ChangePassword, &requester.user_id, auth)
            .await?;
        let hash = passwords::hash_new(&self.context, &self.sessions.hashing, new_password).await?;
        self.context
            .storage
            .users
            .set_password_hash(&requester.user_id, Some(&hash))
            .await?;
        if logout_devices {
            self.sessions
                .remove_devices(&requester.user_id, Some(&requester.device_id))
                .await?;
        }
        Ok(())
    }

    /// `/account/deactivate`, after re-authentication: the account cannot be used again (but
    /// for registering anew with its address, when accounts are registered by email). Whether
    /// its addresses were unbound.
    pub async fn deactivate(
        &self,
        requester: &Requester,
        auth: Option<&AuthData>,
    ) -> ServiceResult<bool> {
        self.uia
            .reauthenticate(UiaAction::Deactivate, &requester.user_id, auth)
            .await?;
        self.deactivate_account(&requester.user_id).await
    }

    /// Deactivates an account (its owner asked, or it expired long ago): signed out, profile
    /// and account data gone. Whether its addresses were unbound.
    pub async fn deactivate_account(&self, user_id: &UserId) -> ServiceResult<bool> {
        let storage = &self.context.storage;
        storage.users.deactivate(user_id).await?;
        self.sessions.remove_devices(user_id, None).await?;
        storage.profiles.clear(user_id).await?;
        storage.account_data.delete_all(user_id).await?;
        // Coming back (re-registering by email) starts a new validity period.
        storage.account_validity.delete(user_id).await?;
        storage.renewal_tokens.delete_all(user_id).await?;
        let unbound = self.release_threepids(user_id).await?;
        tracing::info!(%user_id, "account deactivated");
        Ok(unbound)
    }

    /// Frees the addresses of an account that goes away, unless registering again with one
    /// must bring the account back; whether any was bound.
    async fn release_threepids(&self, user_id: &UserId) -> ServiceResult<bool> {
        if self.context.config.policy.email_registration {
            return Ok(false);
        }
        let threepids = &self.context.storage.threepids;
        let mut released = false;
        for threepid in threepids.of_user(user_id).await? {
            released |= threepids
                .unbind(user_id, &threepid.medium, &threepid.address)
                .await?;
        }
        Ok(released)
    }

    /// Whether a user exists on this server (deactivated users still exist).
    pub async fn exists(&self, user_id: &UserId) -> ServiceResult<bool> {
        Ok(self.context.storage.users.get(user_id).await?.is_some())
    }
}

/// Whether `user_id` is an active (not deactivated) account of this server.
pub(crate) async fn is_active_local_user(
    context: &Context,
    user_id: &UserId,
) -> ServiceResult<bool> {
    Ok(user_id.server_name() == context.server_name
        && context
            .storage
            .users
            .get(user_id)
            .await?
            .is_some_and(|u| !u.deactivated))
}

#[cfg(test)]
mod tests {
    use crate::testing::services;
    use crate::{NewAccount, ServiceError};

    #[tokio::test]
    async fn usernames_follow_the_spec_grammar() {
        let (_dir, services, _clock) = services().await;
        for bad in ["Alice", "al ice", "_bridge", "", "é"] {
            let err = services.accounts.check_username(bad).await.unwrap_err();
            assert!(
                matches!(err, ServiceError::InvalidUsername(_)),
                "{bad}: {err:?}"
            );
        }
        services
            .accounts
            .check_username("a.l-i_c=e/+1")
            .await
            .unwrap();
        services
            .accounts
            .create(NewAccount {
                localpart: Some("taken".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(matches!(
            services.accounts.check_username("taken").await.unwrap_err(),
            ServiceError::UserInUse
        ));
        let generated = services
            .accounts
            .create(NewAccount::default())
            .await
            .unwrap();
        assert_eq!(generated.server_name(), "example.org");
    }

    #[tokio::test]
    async fn passwords_lacking_a_required_class_are_weak() {
        let (_dir, services, _clock) = crate::testing::services_configured(|config| {
            config.auth.password_min_length = 12;
            config.auth.password_require_all_classes = true;
        })
        .await;
        let auth = &services.context.config.auth;
        let policy = |password: &str| crate::accounts::passwords::check_policy(auth, password);
        for (weak, lacking) in [
            ("Sh0rt!", "12 characters"),
            ("alllowercase1!", "an uppercase letter"),
            ("ALLUPPERCASE1!", "a lowercase letter"),
            ("NoDigitsHere!!", "a digit"),
            ("NoSymbols12345", "a symbol"),
        ] {
            match policy(weak) {
                Err(ServiceError::WeakPassword(message)) => {
                    assert!(message.contains(lacking), "{weak}: {message}")
                }
                other => panic!("{weak} accepted: {other:?}"),
            }
        }
        policy("Correct-Horse-9").expect("all four classes and 12 characters");
        policy("Élysée-Palais 2026").expect("letters beyond ASCII count");
    }

    #[tokio::test]
    async fn short_passwords_are_weak() {
        let (_dir, services, _clock) = services().await;
        let account = NewAccount {
            localpart: Some("x".into()),
            password: Some("short".into()),
            ..Default::default()
        };
        assert!(matches!(
            services.accounts.create(account).await.unwrap_err(),
            ServiceError::WeakPassword(_)
        ));
    }
}
