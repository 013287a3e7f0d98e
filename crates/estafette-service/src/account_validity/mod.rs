//! Account validity (TCHAP.md §6): accounts expire unless their owner renews them through a
//! link emailed before expiry; expired long enough, they are deactivated. Expired users are
//! refused everything but logging out and renewing. Calls the accounts domain (deactivation)
//! and the email domain.

mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;
use ruma::{OwnedUserId, UserId};
use sha2::{Digest, Sha256};

use crate::email::{Email, EmailService};
use crate::policy::EmailAddress;
use crate::{AccountService, Context, ServiceError, ServiceResult, lock};
pub use schedule::RenewalSchedule;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// How long a valid account is believed valid without reading its expiry again (an operator
/// may shorten it from another process).
const CACHE_MS: u64 = 60 * 1000;
/// Where the links of renewal emails lead, on the client listener.
pub const RENEW_PATH: &str = "/_synapse/client/email_account_validity/renew";
/// Accounts handled per pass, per kind of work.
const BATCH: u64 = 200;

/// What following a renewal link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed {
        expiration_ts: u64,
    },
    /// The link's period was renewed already (by this link or another).
    AlreadyRenewed,
    Invalid,
}

#[derive(Clone)]
pub struct AccountValidityService {
    context: Arc<Context>,
    email: EmailService,
    accounts: AccountService,
    exempt: Arc<Vec<Regex>>,
    schedule: RenewalSchedule,
    /// Accounts known valid: their expiry, and when it was read.
    valid_until: Arc<Mutex<HashMap<OwnedUserId, (u64, u64)>>>,
}

impl AccountValidityService {
    pub(crate) fn new(
        context: Arc<Context>,
        email: EmailService,
        accounts: AccountService,
    ) -> ServiceResult<Self> {
        let config = &context.config.account_validity;
        let exempt = config
            .exempt_patterns
            .iter()
            .map(|pattern| {
                Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    ServiceError::Internal(format!(
                        "account_validity.exempt_patterns: '{pattern}': {e}"
                    ))
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        let schedule = RenewalSchedule::new(config.renewal_email_days_before);
        Ok(Self {
            context,
            email,
            accounts,
            exempt: Arc::new(exempt),
            schedule,
            valid_until: Arc::default(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.context.config.account_validity.enabled
    }

    /// How often [`Self::run_once`] should run; `None` when accounts do not expire.
    pub fn check_interval(&self) -> Option<std::time::Duration> {
        let config = &self.context.config.account_validity;
        config
            .enabled
            .then(|| std::time::Duration::from_secs(config.check_interval_secs))
    }

    fn period_ms(&self) -> u64 {
        self.context
            .config
            .account_validity
            .period_days
            .saturating_mul(DAY_MS)
    }

    /// Exempt by configuration, or an application service's or a webhook's user (TCHAP.md §6
    /// with BRIDGES.md §3.5: bridged users and hooks do not expire).
    fn exempt(&self, user_id: &UserId) -> bool {
        self.exempt.iter().any(|re| re.is_match(user_id.as_str()))
            || self.context.appservices.is_appservice_user(user_id)
            || crate::webhooks::is_hook_user(user_id)
    }

    /// Refuses a request of an expired account (403 `ORG_MATRIX_EXPIRED_ACCOUNT`). An account
    /// without an expiry gets one: a full period from now.
    pub async fn check(&self, user_id: &UserId) -> ServiceResult<()> {
        if !self.enabled() || user_id.server_name() != self.context.server_name {
            return Ok(());
        }
        let now = self.context.now();
        let cached = lock(&self.valid_until).get(user_id).copied();
        if let Some((expiration, read_at)) = cached
            && now < expiration
            && now < read_at.saturating_add(CACHE_MS)
        {
            return Ok(());
        }
        if self.exempt(user_id) {
            return Ok(());
        }
        let validity = self.context.storage.account_validity.get(user_id).await?;
        let expiration = match validity {
            Some(validity) => validity.expiration_ts,
            None => {
                let expiration = now.saturating_add(self.period_ms());
                let storage = &self.context.storage;
                storage
                    .account_validity
                    .set(user_id, expiration, true)
                    .await?;
                expiration
            }
        };
        if now >= expiration {
            lock(&self.valid_until).remove(user_id);
            return Err(ServiceError::AccountExpired(
                "Your account has expired: renew it through the link emailed to you".to_owned(),
            ));
        }
        lock(&self.valid_until).insert(user_id.to_owned(), (expiration, now));
        Ok(())
    }

    /// `POST /_synapse/client/email_account_validity/send_mail`: a renewal email now.
    pub async fn send_renewal_email(&self, user_id: &UserId) -> ServiceResult<()> {
        self.check_enabled()?;
        let expiration = self
            .context
            .storage
            .account_validity
            .get(user_id)
            .await?
            .map(|validity| validity.expiration_ts);
        self.email_renewal_link(user_id, expiration).await
    }

    /// A new renewal link, emailed to every address of the account.
    async fn email_renewal_link(
        &self,
        user_id: &UserId,
        expiration: Option<u64>,
    ) -> ServiceResult<()> {
        let storage = &self.context.storage;
        let addresses: Vec<EmailAddress> = storage
            .threepids
            .of_user(user_id)
            .await?
            .into_iter()
            .filter(|threepid| threepid.medium == "email")
            .filter_map(|threepid| EmailAddress::parse(&threepid.address).ok())
            .collect();
        if addresses.is_empty() {
            return Err(ServiceError::ThreepidNotFound(format!(
                "{user_id} has no email address to send a renewal link to"
            )));
        }
        let now = self.context.now();
        let token = self.context.random.alphanumeric(32);
        storage
            .renewal_tokens
            .add(&token_hash(&token), user_id, now)
            .await?;
        let link = format!(
            "{}{RENEW_PATH}?token={token}",
            self.context.config.base_url()
        );
        let server = &self.context.server_name;
        let when = match expiration {
            Some(expiration) if expiration > now => {
                format!("expires in {} days", (expiration - now).div_ceil(DAY_MS))
            }
            Some(_) => "has expired".to_owned(),
            None => "will expire".to_owned(),
        };
        let text = format!(
            "Your account {user_id} on {server} {when}.\n\n\
             To keep it, open this link:\n{link}\n\n\
             Without renewal it is then deactivated.\n"
        );
        for address in &addresses {
            self.email
                .send(Email {
                    to: address,
                    subject: "Renew your account",
                    text: &text,
                })
                .await?;
        }
        Ok(())
    }

    /// `GET /_synapse/client/email_account_validity/renew?token=`: a new period.
    pub async fn renew(&self, token: &str) -> ServiceResult<Renewal> {
        let storage = &self.context.storage;
        let Some(found) = storage.renewal_tokens.get(&token_hash(token)).await? else {
            return Ok(Renewal::Invalid);
        };
        if found.used_ts.is_some() {
            return Ok(Renewal::AlreadyRenewed);
        }
        let user = storage.users.get(&found.user_id).await?;
        if user.is_none_or(|user| user.deactivated) {
            return Ok(Renewal::Invalid);
        }
        let renewal_emails = storage
            .account_validity
            .get(&found.user_id)
            .await?
            .is_none_or(|validity| validity.renewal_emails);
        let expiration_ts = self
            .start_period(&found.user_id, None, renewal_emails)
            .await?;
        tracing::info!(user_id = %found.user_id, "account renewed");
        Ok(Renewal::Renewed { expiration_ts })
    }

    /// `POST /_synapse/client/email_account_validity/admin`: a server admin sets an account's
    /// expiry (a full period from now by default).
    pub async fn set_expiration(
        &self,
        admin: &UserId,
        user_id: &UserId,
        expiration_ts: Option<u64>,
        renewal_emails: Option<bool>,
    ) -> ServiceResult<u64> {
        self.check_enabled()?;
        let storage = &self.context.storage;
        if !storage.users.get(admin).await?.is_some_and(|u| u.is_admin) {
            return Err(ServiceError::Forbidden(
                "Only server administrators may set accounts' expiry".to_owned(),
            ));
        }
        if user_id.server_name() != self.context.server_name
            || storage.users.get(user_id).await?.is_none()
        {
            return Err(ServiceError::NotFound(format!("No account {user_id} here")));
        }
        self.start_period(user_id, expiration_ts, renewal_emails.unwrap_or(true))
            .await
    }

    /// A new period for the account: its old renewal links used up, no email of it sent.
    async fn start_period(
        &self,
        user_id: &UserId,
        expiration_ts: Option<u64>,
        renewal_emails: bool,
    ) -> ServiceResult<u64> {
        let now = self.context.now();
        let expiration = expiration_ts.unwrap_or_else(|| now.saturating_add(self.period_ms()));
        let storage = &self.context.storage;
        storage
            .account_validity
            .set(user_id, expiration, renewal_emails)
            .await?;
        storage.renewal_tokens.use_all(user_id, now).await?;
        lock(&self.valid_until).remove(user_id);
        Ok(expiration)
    }

    /// One pass of the background work: expiries for accounts without one, the renewal
    /// emails due, and the deactivation of accounts expired past the grace period. Several
    /// processes may run it at once: each email is claimed in the database before it goes.
    pub async fn run_once(&self) -> ServiceResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        let now = self.context.now();
        let storage = &self.context.storage;
        storage
            .account_validity
            .start_missing(now.saturating_add(self.period_ms()))
            .await?;
        self.send_due_emails(now).await?;
        let grace = self
            .context
            .config
            .account_validity
            .grace_period_days
            .saturating_mul(DAY_MS);
        let expired = storage
            .account_validity
            .expired_by(now.saturating_sub(grace), BATCH)
            .await?;
        for user_id in expired.iter().filter(|user_id| !self.exempt(user_id)) {
            self.accounts.deactivate_account(user_id).await?;
            tracing::info!(%user_id, "account deactivated: expired past the grace period");
        }
        Ok(())
    }

    async fn send_due_emails(&self, now: u64) -> ServiceResult<()> {
        let validity = &self.context.storage.account_validity;
        let due = validity
            .due_for_email(
                now,
                now.saturating_add(self.schedule.first_before_ms()),
                self.schedule.emails(),
                BATCH,
            )
            .await?;
        for account in due {
            if self.exempt(&account.user_id)
                || !self
                    .schedule
                    .due(account.expiration_ts, account.emails_sent, now)
                || !validity
                    .claim_email(&account.user_id, account.emails_sent)
                    .await?
            {
                continue;
            }
            let sent = self
                .email_renewal_link(&account.user_id, Some(account.expiration_ts))
                .await;
            if let Err(e) = sent {
                // Taken back, so that the next pass tries again.
                validity
                    .release_email(&account.user_id, account.emails_sent)
                    .await?;
                tracing::warn!(user_id = %account.user_id, "no renewal email sent: {e}");
            }
        }
        Ok(())
    }

    fn check_enabled(&self) -> ServiceResult<()> {
        if self.enabled() {
            Ok(())
        } else {
            Err(ServiceError::NotFound(
                "Accounts do not expire on this server".to_owned(),
            ))
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
