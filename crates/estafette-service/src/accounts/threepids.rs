//! The email addresses of accounts: listing, adding and removing them (`/account/3pid/*`), and
//! resetting a forgotten password through the address (`/account/password` with the
//! `m.login.email.identity` stage).

use std::sync::Arc;

use estafette_storage::Threepid;
use ruma::UserId;
use ruma::api::client::uiaa::{AuthData, AuthType};

use super::{ThreepidValidationService, ValidationPurpose, passwords};
use crate::policy::EmailAddress;
use crate::{
    Context, Requester, ServiceError, ServiceResult, SessionService, UiaAction, UiaService,
};

#[derive(Clone)]
pub struct ThreepidService {
    context: Arc<Context>,
    sessions: SessionService,
    uia: UiaService,
    validations: ThreepidValidationService,
}

impl ThreepidService {
    pub(crate) fn new(
        context: Arc<Context>,
        sessions: SessionService,
        uia: UiaService,
        validations: ThreepidValidationService,
    ) -> Self {
        Self {
            context,
            sessions,
            uia,
            validations,
        }
    }

    /// Whether users may add and remove addresses (`m.3pid_changes`).
    pub fn changes_allowed(&self) -> bool {
        !self.context.config.policy.lock_email
    }

    /// The addresses bound to the account.
    pub async fn of_user(&self, user_id: &UserId) -> ServiceResult<Vec<Threepid>> {
        Ok(self.context.storage.threepids.of_user(user_id).await?)
    }

    /// `/account/3pid/add`: binds the address session `sid` validated, after the user
    /// re-authenticates.
    pub async fn add(
        &self,
        requester: &Requester,
        client_secret: &str,
        sid: &str,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        self.validations.check_email_changes()?;
        self.uia
            .reauthenticate(UiaAction::AddThreepid, &requester.user_id, auth)
            .await?;
        let address = self
            .validations
            .validated_address(sid, client_secret, ValidationPurpose::AddThreepid)
            .await?;
        // The rules, and who holds the address, may have changed since the email went out.
        self.validations.check_bindable(&address, None).await?;
        self.validations.consume(sid).await?;
        self.validations.bind(&requester.user_id, &address).await?;
        tracing::info!(user_id = %requester.user_id, "email address added");
        Ok(())
    }

    /// Binds the address session `sid` validated for discovery (`/account/3pid/bind`, or the
    /// identity service's `/3pid/bind`): this server is its users' identity server, so the
    /// address becomes the account's, found by lookups. Binding one's own address again is no
    /// clash. The address bound.
    pub async fn bind(
        &self,
        user_id: &UserId,
        client_secret: &str,
        sid: &str,
    ) -> ServiceResult<EmailAddress> {
        let address = self
            .validations
            .validated_address(sid, client_secret, ValidationPurpose::Bind)
            .await?;
        self.validations
            .check_bindable(&address, Some(user_id))
            .await?;
        self.validations.consume(sid).await?;
        let owned = self.of_user(user_id).await?;
        if !owned.iter().any(|t| t.address == address.as_str()) {
            self.validations.bind(user_id, &address).await?;
            tracing::info!(%user_id, "email address bound for discovery");
        }
        Ok(address)
    }

    /// `/account/3pid/delete`, `/account/3pid/unbind` and the identity service's
    /// `/3pid/unbind`: this server is its users' identity server, so the binding it removes
    /// is the one lookups find.
    pub async fn delete(&self, user_id: &UserId, medium: &str, address: &str) -> ServiceResult<()> {
        self.validations.check_email_changes()?;
        let address = address.trim().to_lowercase();
        let threepids = &self.context.storage.threepids;
        if !threepids.unbind(user_id, medium, &address).await? {
            return Err(ServiceError::NotFound(format!(
                "{address} is not an address of your account"
            )));
        }
        tracing::info!(%user_id, "email address removed");
        Ok(())
    }

    /// `/account/password` without an access token: a forgotten password replaced by whoever
    /// proves control of the account's address. `logout_devices` signs every device out.
    pub async fn reset_password(
        &self,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        passwords::check_policy(&self.context.config.auth, &new_password)?;
        self.uia
            .authorize(
                UiaAction::ResetPassword,
                None,
                &[vec![AuthType::EmailIdentity]],
                auth,
            )
            .await?;
        // The request completing the stage carries the session it validated.
        let Some(AuthData::EmailIdentity(email)) = auth else {
            return Err(ServiceError::Unauthorized(
                "Resetting a password needs a validated email address".into(),
            ));
        };
        let credentials = &email.thirdparty_id_creds;
        let sid = credentials.sid.as_str();
        let address = self
            .validations
            .validated_address(
                sid,
                credentials.client_secret.as_str(),
                ValidationPurpose::PasswordReset,
            )
            .await?;
        let user_id = self.validations.account_of(&address).await?;
        self.validations.consume(sid).await?;
        let hash = passwords::hash_new(&self.context, &self.sessions.hashing, new_password).await?;
        let storage = &self.context.storage;
        storage
            .users
            .set_password_hash(&user_id, Some(&hash))
            .await?;
        if logout_devices {
            self.sessions.remove_devices(&user_id, None).await?;
        }
        tracing::info!(%user_id, "password reset by email");
        Ok(())
    }
}
