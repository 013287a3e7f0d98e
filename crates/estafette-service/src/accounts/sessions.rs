//! Logging in and out, access and refresh tokens, and turning a presented token into the
//! user and device it stands for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use estafette_storage::NewTokens;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::accounts::tokens::{ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, digest, generate};
use crate::{Context, ServiceError, ServiceResult, accounts::passwords};

/// Device last-seen times are written at most this often per device.
const LAST_SEEN_WRITE_INTERVAL_MS: u64 = 60_000;
const DEVICE_ID_LENGTH: usize = 10;

/// The authenticated user and device behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user_id: OwnedUserId,
    /// [`NO_DEVICE`] for an application service acting without a device.
    pub device_id: OwnedDeviceId,
    /// The application service whose token the request carries.
    pub appservice: Option<String>,
}

/// The device of an application service's request that names none: no device has it, since
/// devices' IDs never hold a space.
pub const NO_DEVICE: &str = "appservice without device";

impl Requester {
    pub fn new(user_id: OwnedUserId, device_id: OwnedDeviceId) -> Self {
        Self {
            user_id,
            device_id,
            appservice: None,
        }
    }

    /// Whether the request acts through a device (every request but an application
    /// service's that names none).
    pub fn has_device(&self) -> bool {
        self.device_id.as_str() != NO_DEVICE
    }
}

/// Tokens handed to a client.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_ms: Option<u64>,
}

/// Whom a password login names.
#[derive(Debug, Clone, Copy)]
pub enum LoginIdentifier<'a> {
    /// A localpart or a full user ID.
    User(&'a str),
    /// An email address bound to the account.
    Email(&'a str),
}

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub grant: TokenGrant,
}

#[derive(Clone)]
pub struct SessionService {
    pub(super) context: Arc<Context>,
    /// Logging out deletes the device, which the users tracking it are told.
    pub(crate) device_lists: crate::DeviceListPublisher,
    last_seen_written: Arc<Mutex<HashMap<(OwnedUserId, OwnedDeviceId), u64>>>,
    /// Password hashes running at once (see `passwords`).
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
}

impl SessionService {
    pub(crate) fn new(context: Arc<Context>, device_lists: crate::DeviceListPublisher) -> Self {
        Self {
            context,
            device_lists,
            last_seen_written: Arc::default(),
            hashing: passwords::hashing_slots(),
        }
    }

    /// Resolves an access token; expired tokens are a soft logout, unknown ones a hard one.
    pub async fn authenticate(
        &self,
        access_token: &str,
        ip: Option<&str>,
    ) -> ServiceResult<Requester> {
        let record = self
            .context
            .storage
            .tokens
            .find_access(&digest(access_token))
            .await?
            .ok_or_else(|| unknown_token(false, "Unknown access token"))?;
        let now = self.context.now();
        if record.expires_ts.is_some_and(|expires| expires <= now) {
            return Err(unknown_token(true, "Access token has expired"));
        }
        if record.has_predecessor
            && let Some(refresh_id) = record.refresh_token_id
        {
            self.context
                .storage
                .tokens
                .retire_predecessor(refresh_id)
                .await?;
        }
        self.note_last_seen(&record.user_id, &record.device_id, now, ip)
            .await?;
        Ok(Requester::new(record.user_id, record.device_id))
    }

    async fn note_last_seen(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        now: u64,
        ip: Option<&str>,
    ) -> ServiceResult<()> {
        let key = (user_id.to_owned(), device_id.to_owned());
        {
            let mut written = self
                .last_seen_written
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if written
                .get(&key)
                .is_some_and(|last| now.saturating_sub(*last) < LAST_SEEN_WRITE_INTERVAL_MS)
            {
                return Ok(());
            }
            written.insert(key, now);
        }
        self.context
            .storage
            .devices
            .record_last_seen(user_id, device_id, now, ip)
            .await?;
        Ok(())
    }

    /// Resolves what a client typed at login (`alice`, `@alice:server`) to a local user ID.
    pub fn local_user_id(&self, user: &str) -> ServiceResult<OwnedUserId> {
        let invalid = || ServiceError::Forbidden("Invalid username or password".into());
        let user_id = if user.starts_with('@') {
            UserId::parse(user.to_lowercase()).map_err(|_| invalid())?
        } else {
            UserId::parse_with_server_name(user.to_lowercase(), &self.context.server_name)
                .map_err(|_| invalid())?
        };
        if user_id.server_name() != self.context.server_name {
            return Err(invalid());
        }
        Ok(user_id)
    }

    /// Checks a user's password; used by login and by the `m.login.password` UIA stage.
    pub(crate) async fn check_password(
        &self,
        user_id: &UserId,
        password: &str,
    ) -> ServiceResult<()> {
        let user = self.context.storage.users.get(user_id).await?;
        let Some(user) = user else {
            return Err(ServiceError::Forbidden(
                "Invalid username or password".into(),
            ));
        };
        if user.deactivated {
            return Err(ServiceError::UserDeactivated);
        }
        let Some(hash) = user.password_hash else {
            return Err(ServiceError::Forbidden(
                "Invalid username or password".into(),
            ));
        };
        if passwords::verify(&self.hashing, password.to_owned(), hash).await {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "Invalid username or password".into(),
            ))
        }
    }

    pub async fn login_with_password(
        &self,
        user: &str,
        password: &str,
        device_id: Option<OwnedDeviceId>,
        initial_display_name: Option<&str>,
        with_refresh_token: bool,
    ) -> ServiceResult<LoginOutcome> {
        let who = LoginIdentifier::User(user);
        self.login(
            who,
            password,
            device_id,
            initial_display_name,
            with_refresh_token,
        )
        .await
    }

    /// `m.login.password`, naming the user by their ID or by an email address bound to them
    /// (`m.id.thirdparty`). An address bound to nobody, or not an address at all, fails as a
    /// wrong password does, so that logins cannot tell which addresses have accounts.
    pub async fn login(
        &self,
        who: LoginIdentifier<'_>,
        password: &str,
        device_id: Option<OwnedDeviceId>,
        initial_display_name: Option<&str>,
        with_refresh_token: bool,
    ) -> ServiceResult<LoginOutcome> {
        let user_id = match who {
            LoginIdentifier::User(user) => self.local_user_id(user)?,
            LoginIdentifier::Email(address) => {
                let owner = match crate::policy::EmailAddress::parse(address) {
                    Ok(address) => {
                        let threepids = &self.context.storage.threepids;
                        threepids.owner("email", address.as_str()).await?
                    }
                    Err(_) => None,
                };
                owner
                    .ok_or_else(|| ServiceError::Forbidden("Invalid username or password".into()))?
            }
        };
        self.check_password(&user_id, password).await?;
        self.open_session(
            &user_id,
            device_id,
            initial_display_name,
            with_refresh_token,
        )
        .await
    }

    /// Creates (or takes over) a device and issues its first tokens. A client that names an
    /// existing device of its user logs that device's previous tokens out.
    /// The session a registration opens, unless the client asked for none
    /// (`inhibit_login`).
    pub(crate) async fn session_after_registration(
        &self,
        user_id: &UserId,
        inhibit_login: bool,
        device_id: Option<OwnedDeviceId>,
        initial_display_name: Option<&str>,
        with_refresh_token: bool,
    ) -> ServiceResult<Option<LoginOutcome>> {
        if inhibit_login {
            return Ok(None);
        }
        self.open_session(user_id, device_id, initial_display_name, with_refresh_token)
            .await
            .map(Some)
    }

    pub async fn open_session(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        initial_display_name: Option<&str>,
        with_refresh_token: bool,
    ) -> ServiceResult<LoginOutcome> {
        let storage = &self.context.storage;
        let now = self.context.now();
        let device_id = match device_id {
            Some(device_id) => {
                if storage.devices.get(user_id, &device_id).await?.is_some() {
                    storage
                        .tokens
                        .revoke_device_tokens(user_id, &device_id)
                        .await?;
                } else {
                    storage
                        .devices
                        .upsert(user_id, &device_id, initial_display_name, now)
                        .await?;
                }
                device_id
            }
            None => {
                let device_id =
                    OwnedDeviceId::from(self.context.random.uppercase(DEVICE_ID_LENGTH));
                storage
                    .devices
                    .upsert(user_id, &device_id, initial_display_name, now)
                    .await?;
                device_id
            }
        };
        let grant = self
            .issue(user_id, &device_id, with_refresh_token, None)
            .await?;
        Ok(LoginOutcome {
            user_id: user_id.to_owned(),
            device_id,
            grant,
        })
    }

    async fn issue(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        with_refresh_token: bool,
        predecessor: Option<i64>,
    ) -> ServiceResult<TokenGrant> {
        let now = self.context.now();
        let access_token = generate(&self.context, ACCESS_TOKEN_PREFIX);
        let refresh_token =
            with_refresh_token.then(|| generate(&self.context, REFRESH_TOKEN_PREFIX));
        let lifetime_ms = with_refresh_token.then(|| {
            self.context
                .config
                .auth
                .refreshable_access_token_lifetime_secs
                .saturating_mul(1000)
        });
        let access_hash = digest(&access_token);
        let refresh_hash = refresh_token.as_deref().map(digest);
        self.context
            .storage
            .tokens
            .issue(&NewTokens {
                user_id,
                device_id,
                access_token_hash: &access_hash,
                access_expires_ts: lifetime_ms.map(|ms| now.saturating_add(ms)),
                refresh_token_hash: refresh_hash.as_deref(),
                predecessor,
                now,
            })
            .await?;
        Ok(TokenGrant {
            access_token,
            refresh_token,
            expires_in_ms: lifetime_ms,
        })
    }

    /// Exchanges a refresh token for new tokens. The old refresh token stays usable until the
    /// new tokens are first used, so a client that lost the response can try again.
    pub async fn refresh(&self, refresh_token: &str) -> ServiceResult<TokenGrant> {
        let record = self
            .context
            .storage
            .tokens
            .find_refresh(&digest(refresh_token))
            .await?
            .ok_or_else(|| unknown_token(false, "Unknown refresh token"))?;
        if record.has_predecessor {
            self.context
                .storage
                .tokens
                .retire_predecessor(record.id)
                .await?;
        }
        self.issue(&record.user_id, &record.device_id, true, Some(record.id))
            .await
    }

    /// Ends the requester's session: the device and all its tokens are deleted.
    pub async fn logout(&self, requester: &Requester) -> ServiceResult<()> {
        let removed = self
            .context
            .storage
            .devices
            .delete(
                &requester.user_id,
                std::slice::from_ref(&requester.device_id),
            )
            .await?;
        self.device_lists
            .devices_removed(&requester.user_id, &removed)
            .await
    }

    pub async fn logout_all(&self, requester: &Requester) -> ServiceResult<()> {
        self.remove_devices(&requester.user_id, None).await
    }

    /// Signs one device out, telling those who track its devices; whether it existed.
    pub(crate) async fn remove_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> ServiceResult<bool> {
        let removed = self
            .context
            .storage
            .devices
            .delete(user_id, &[device_id.to_owned()])
            .await?;
        let existed = !removed.is_empty();
        self.device_lists.devices_removed(user_id, &removed).await?;
        Ok(existed)
    }

    /// Signs out every device of the user but `keep`, telling those who track its devices.
    pub(crate) async fn remove_devices(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> ServiceResult<()> {
        let storage = &self.context.storage;
        let removed = storage.devices.delete_all_except(user_id, keep).await?;
        self.device_lists.devices_removed(user_id, &removed).await
    }
}

fn unknown_token(soft_logout: bool, message: &str) -> ServiceError {
    ServiceError::UnknownToken {
        soft_logout,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::services;
    use crate::{NewAccount, ServiceError};

    #[tokio::test]
    async fn refreshable_tokens_expire_into_soft_logout_and_refresh_rotates() {
        let (_dir, services, clock) = services().await;
        let account = NewAccount {
            localpart: Some("alice".into()),
            password: Some("secret-pass".into()),
            ..Default::default()
        };
        services.accounts.create(account).await.unwrap();
        let login = services
            .sessions
            .login_with_password("alice", "secret-pass", None, None, true)
            .await
            .unwrap();
        let refresh = login.grant.refresh_token.clone().unwrap();
        assert_eq!(login.grant.expires_in_ms, Some(300_000));
        services
            .sessions
            .authenticate(&login.grant.access_token, None)
            .await
            .unwrap();

        clock.advance(300_001);
        let expired = services
            .sessions
            .authenticate(&login.grant.access_token, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                expired,
                ServiceError::UnknownToken {
                    soft_logout: true,
                    ..
                }
            ),
            "{expired:?}"
        );

        let renewed = services.sessions.refresh(&refresh).await.unwrap();
        let requester = services
            .sessions
            .authenticate(&renewed.access_token, None)
            .await
            .unwrap();
        assert_eq!(requester.device_id, login.device_id);
        // The new tokens were used, so the old refresh token is gone.
        let reused = services.sessions.refresh(&refresh).await.unwrap_err();
        assert!(
            matches!(
                reused,
                ServiceError::UnknownToken {
                    soft_logout: false,
                    ..
                }
            ),
            "{reused:?}"
        );
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_look_the_same() {
        let (_dir, services, _clock) = services().await;
        let account = NewAccount {
            localpart: Some("bob".into()),
            password: Some("secret-pass".into()),
            ..Default::default()
        };
        services.accounts.create(account).await.unwrap();
        let wrong = services
            .sessions
            .login_with_password("bob", "nope", None, None, false)
            .await
            .unwrap_err();
        let unknown = services
            .sessions
            .login_with_password("carol", "nope", None, None, false)
            .await
            .unwrap_err();
        assert_eq!(wrong.to_string(), unknown.to_string());
        let other_server = services.sessions.login_with_password(
            "@bob:elsewhere.org",
            "secret-pass",
            None,
            None,
            false,
        );
        assert!(matches!(
            other_server.await.unwrap_err(),
            ServiceError::Forbidden(_)
        ));
        let ok = services
            .sessions
            .login_with_password("@BOB:example.org", "secret-pass", None, None, false)
            .await;
        assert_eq!(ok.unwrap().user_id.as_str(), "@bob:example.org");
    }
}
