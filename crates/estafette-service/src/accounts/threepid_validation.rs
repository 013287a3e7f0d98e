//! Proving control of an email address (the spec's `requestToken` and `submitToken`): a token
//! emailed to the address, as a link to follow, submitted back before it expires. Registration,
//! password reset and adding an address open sessions of their own; only a token's hash is kept.

use std::sync::Arc;

use estafette_storage::{Threepid, ThreepidValidation};
use ruma::{OwnedUserId, UserId};
use sha2::{Digest, Sha256};

use super::is_active_local_user;
use crate::email::{Email, EmailService};
use crate::policy::{EmailAddress, PolicyService};
use crate::{Context, ServiceError, ServiceResult};

/// How long an emailed token may be submitted.
const TOKEN_LIFETIME_MS: u64 = 60 * 60 * 1000;
/// Where links in emails lead, on the client listener.
pub const SUBMIT_TOKEN_PATH: &str = "/_matrix/client/unstable/estafette/email/submit_token";

/// What a validation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationPurpose {
    Registration,
    PasswordReset,
    AddThreepid,
    /// Binding for discovery, through the identity service (`/_matrix/identity/v2`).
    Bind,
}

impl ValidationPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::PasswordReset => "password_reset",
            Self::AddThreepid => "add_threepid",
            Self::Bind => "bind",
        }
    }
}

/// A session opened by `requestToken`.
#[derive(Debug, Clone)]
pub struct RequestedToken {
    pub sid: String,
    /// Where the token may be submitted (the link in the email leads there too).
    pub submit_url: String,
}

#[derive(Clone)]
pub struct ThreepidValidationService {
    context: Arc<Context>,
    email: EmailService,
    policy: PolicyService,
}

impl ThreepidValidationService {
    pub(crate) fn new(context: Arc<Context>, email: EmailService, policy: PolicyService) -> Self {
        Self {
            context,
            email,
            policy,
        }
    }

    /// `POST …/requestToken`: emails a token to `address`, once per `send_attempt` (a repeated
    /// attempt gets the same session and no second email). `requester`: who asks, when known
    /// (binding an address one has already is no clash).
    pub async fn request_token(
        &self,
        purpose: ValidationPurpose,
        requester: Option<&UserId>,
        client_secret: &str,
        address: &str,
        send_attempt: u64,
    ) -> ServiceResult<RequestedToken> {
        if !self.email.enabled() {
            return Err(ServiceError::Forbidden(
                "This server sends no email, so it cannot validate addresses".to_owned(),
            ));
        }
        let address = EmailAddress::parse(address)?;
        let storage = &self.context.storage;
        self.check_request(purpose, requester, &address).await?;
        let existing = storage
            .threepid_validations
            .find(client_secret, address.as_str(), purpose.as_str())
            .await?;
        let submit_url = format!("{}{SUBMIT_TOKEN_PATH}", self.context.config.base_url());
        if let Some(existing) = &existing
            && send_attempt <= existing.send_attempt
        {
            return Ok(RequestedToken {
                sid: existing.sid.clone(),
                submit_url,
            });
        }
        let random = &self.context.random;
        let sid = existing
            .as_ref()
            .map_or_else(|| random.alphanumeric(24), |e| e.sid.clone());
        let token = random.alphanumeric(32);
        storage
            .threepid_validations
            .put(&ThreepidValidation {
                sid: sid.clone(),
                client_secret: client_secret.to_owned(),
                medium: "email".to_owned(),
                address: address.to_string(),
                purpose: purpose.as_str().to_owned(),
                token_hash: token_hash(&token),
                send_attempt,
                expires_ts: self.context.now() + TOKEN_LIFETIME_MS,
                validated_ts: None,
            })
            .await?;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sid", &sid)
            .append_pair("client_secret", client_secret)
            .append_pair("token", &token)
            .finish();
        let server = &self.context.server_name;
        let (subject, asked) = match purpose {
            ValidationPurpose::Registration => ("Validate your email address", "to register"),
            ValidationPurpose::PasswordReset => ("Reset your password", "to reset the password"),
            ValidationPurpose::AddThreepid => ("Validate your email address", "to add it"),
            ValidationPurpose::Bind => (
                "Validate your email address",
                "to let your colleagues find you by it",
            ),
        };
        let text = format!(
            "Someone, hopefully you, asked {asked} on {server} with this address.\n\n\
             To continue, open this link:\n{submit_url}?{query}\n\n\
             or enter this code: {token}\n\n\
             If you did not ask for it, ignore this email.\n"
        );
        self.email
            .send(Email {
                to: &address,
                subject,
                text: &text,
            })
            .await?;
        Ok(RequestedToken { sid, submit_url })
    }

    /// `submitToken`: the token emailed for session `sid`, submitted back by whoever holds the
    /// session's secret. A wrong, expired or foreign token changes nothing.
    pub async fn submit_token(
        &self,
        sid: &str,
        client_secret: &str,
        token: &str,
    ) -> ServiceResult<()> {
        let refused = || {
            ServiceError::InvalidParam(
                "This validation link or code is wrong or has expired".to_owned(),
            )
        };
        let validations = &self.context.storage.threepid_validations;
        let session = validations.get(sid).await?.ok_or_else(refused)?;
        if session.client_secret != client_secret {
            return Err(refused());
        }
        if validations
            .validate(sid, &token_hash(token), self.context.now())
            .await?
        {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Refuses a token for an address that cannot serve `purpose`, before any email is sent.
    async fn check_request(
        &self,
        purpose: ValidationPurpose,
        requester: Option<&UserId>,
        address: &EmailAddress,
    ) -> ServiceResult<()> {
        match purpose {
            ValidationPurpose::Registration => {
                self.registration_owner(address).await?;
            }
            ValidationPurpose::AddThreepid => self.check_bindable(address, None).await?,
            ValidationPurpose::Bind => self.check_bindable(address, requester).await?,
            ValidationPurpose::PasswordReset => {
                self.account_of(address).await?;
            }
        }
        Ok(())
    }

    /// The address session `sid` validated for registration, still allowed to register here
    /// (the rules may have changed since the email went out), and the deactivated account it
    /// belongs to, which registering reactivates.
    pub async fn registration_address(
        &self,
        sid: &str,
        client_secret: &str,
    ) -> ServiceResult<(EmailAddress, Option<OwnedUserId>)> {
        let address = self
            .validated_address(sid, client_secret, ValidationPurpose::Registration)
            .await?;
        let deactivated_owner = self.registration_owner(&address).await?;
        Ok((address, deactivated_owner))
    }

    /// Whether `address` may register here; its owner when that is a deactivated account.
    async fn registration_owner(
        &self,
        address: &EmailAddress,
    ) -> ServiceResult<Option<OwnedUserId>> {
        let owner = self.owner(address).await?;
        if let Some((_, true)) = owner {
            return Err(in_use(address));
        }
        if !self.policy.may_register_here(address).await? {
            return Err(ServiceError::ThreepidDenied(
                "Your email is not authorized to register on this server".to_owned(),
            ));
        }
        Ok(owner.map(|(user_id, _)| user_id))
    }

    /// Refuses an address a user of this server may not add to their account (`by`: the user,
    /// who may bind again an address that is theirs already).
    pub async fn check_bindable(
        &self,
        address: &EmailAddress,
        by: Option<&UserId>,
    ) -> ServiceResult<()> {
        self.check_email_changes()?;
        match self.owner(address).await? {
            Some((owner, _)) if Some(owner.as_ref()) == by => return Ok(()),
            Some(_) => return Err(in_use(address)),
            None => {}
        }
        if !self.policy.may_bind_here(address) {
            return Err(ServiceError::ThreepidDenied(
                "This email address belongs to another server of the federation".to_owned(),
            ));
        }
        Ok(())
    }

    /// Refuses any change to users' addresses when they are locked (`policy.lock_email`).
    pub fn check_email_changes(&self) -> ServiceResult<()> {
        if self.context.config.policy.lock_email {
            return Err(ServiceError::Forbidden(
                "Email addresses cannot be changed on this server".to_owned(),
            ));
        }
        Ok(())
    }

    /// The active account of this server `address` is bound to.
    pub async fn account_of(&self, address: &EmailAddress) -> ServiceResult<OwnedUserId> {
        match self.owner(address).await? {
            Some((user_id, true)) => Ok(user_id),
            _ => Err(ServiceError::ThreepidNotFound(format!(
                "{address} is bound to no account of this server"
            ))),
        }
    }

    /// The account `address` is bound to, and whether it is active.
    async fn owner(&self, address: &EmailAddress) -> ServiceResult<Option<(OwnedUserId, bool)>> {
        let threepids = &self.context.storage.threepids;
        let Some(owner) = threepids.owner("email", address.as_str()).await? else {
            return Ok(None);
        };
        let active = is_active_local_user(&self.context, &owner).await?;
        Ok(Some((owner, active)))
    }

    /// Ends session `sid` once what it validated is used, so that it serves once (another
    /// request may have used it first).
    pub async fn consume(&self, sid: &str) -> ServiceResult<()> {
        if self
            .context
            .storage
            .threepid_validations
            .consume(sid)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::Unauthorized(
                "This email validation has been used already".to_owned(),
            ))
        }
    }

    /// Binds a validated address to the account of `user_id`.
    pub async fn bind(&self, user_id: &UserId, address: &EmailAddress) -> ServiceResult<()> {
        let now = self.context.now();
        let threepid = Threepid {
            medium: "email".to_owned(),
            address: address.to_string(),
            validated_ts: now,
            added_ts: now,
        };
        if self
            .context
            .storage
            .threepids
            .bind(user_id, &threepid)
            .await?
        {
            Ok(())
        } else {
            Err(in_use(address))
        }
    }

    /// The address session `sid` proved control of, for `purpose`.
    pub async fn validated_address(
        &self,
        sid: &str,
        client_secret: &str,
        purpose: ValidationPurpose,
    ) -> ServiceResult<EmailAddress> {
        Ok(self.validated_session(sid, client_secret, purpose).await?.0)
    }

    /// The address session `sid` proved control of, for `purpose`, and when.
    pub async fn validated_session(
        &self,
        sid: &str,
        client_secret: &str,
        purpose: ValidationPurpose,
    ) -> ServiceResult<(EmailAddress, u64)> {
        let session = self.context.storage.threepid_validations.get(sid).await?;
        match session {
            Some(ThreepidValidation {
                client_secret: secret,
                purpose: for_purpose,
                validated_ts: Some(validated_ts),
                address,
                ..
            }) if secret == client_secret && for_purpose == purpose.as_str() => {
                Ok((EmailAddress::parse(&address)?, validated_ts))
            }
            _ => Err(ServiceError::Unauthorized(
                "This email address has not been validated".to_owned(),
            )),
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The error for an address some account already has.
pub(super) fn in_use(address: &EmailAddress) -> ServiceError {
    ServiceError::ThreepidInUse(format!("{address} is already bound to an account"))
}
