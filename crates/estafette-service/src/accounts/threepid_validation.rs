//! Proving control of an email address (the spec's `requestToken` and `submitToken`): a token
//! emailed to the address, as a link to follow, submitted back before it expires. Registration,
//! password reset and adding an address open sessions of their own; only a token's hash is kept.

use std::sync::Arc;

use estafette_storage::ThreepidValidation;
use sha2::{Digest, Sha256};

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
}

impl ValidationPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::PasswordReset => "password_reset",
            Self::AddThreepid => "add_threepid",
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
    /// attempt gets the same session and no second email).
    pub async fn request_token(
        &self,
        purpose: ValidationPurpose,
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
        let owner = storage.threepids.owner("email", address.as_str()).await?;
        match purpose {
            ValidationPurpose::Registration | ValidationPurpose::AddThreepid if owner.is_some() => {
                return Err(ServiceError::ThreepidInUse(format!(
                    "{address} is already bound to an account"
                )));
            }
            ValidationPurpose::PasswordReset if owner.is_none() => {
                return Err(ServiceError::ThreepidDenied(format!(
                    "{address} is bound to no account of this server"
                )));
            }
            _ => {}
        }
        if purpose == ValidationPurpose::Registration && !self.policy.may_register_here(&address) {
            return Err(ServiceError::ThreepidDenied(
                "Your email is not authorized to register on this server".to_owned(),
            ));
        }
        let existing = storage
            .threepid_validations
            .find(client_secret, address.as_str(), purpose.as_str())
            .await?;
        let submit_url = format!(
            "{}{SUBMIT_TOKEN_PATH}",
            self.context.config.client_base_url()
        );
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

    /// The address session `sid` validated for registration, still free and still allowed to
    /// register here (the rules may have changed since the email went out).
    pub async fn registration_address(
        &self,
        sid: &str,
        client_secret: &str,
    ) -> ServiceResult<EmailAddress> {
        let address = self
            .validated_address(sid, client_secret, ValidationPurpose::Registration)
            .await?;
        let threepids = &self.context.storage.threepids;
        if threepids.owner("email", address.as_str()).await?.is_some() {
            return Err(ServiceError::ThreepidInUse(format!(
                "{address} is already bound to an account"
            )));
        }
        if !self.policy.may_register_here(&address) {
            return Err(ServiceError::ThreepidDenied(
                "Your email is not authorized to register on this server".to_owned(),
            ));
        }
        Ok(address)
    }

    /// The address session `sid` proved control of, for `purpose`.
    pub async fn validated_address(
        &self,
        sid: &str,
        client_secret: &str,
        purpose: ValidationPurpose,
    ) -> ServiceResult<EmailAddress> {
        let session = self.context.storage.threepid_validations.get(sid).await?;
        match session {
            Some(session)
                if session.client_secret == client_secret
                    && session.purpose == purpose.as_str()
                    && session.validated_ts.is_some() =>
            {
                EmailAddress::parse(&session.address)
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
