//! The identity half of the government policy layer: routing, email, account validity.

use std::path::PathBuf;

use serde::Deserialize;

/// The SMTP server that carries the emails users receive (validations, invitations, renewals).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://[user:password@]host[:port]` (add `?tls=required` for STARTTLS) or `smtps://…`;
    /// absent, no email is sent, and nothing that needs one is offered.
    pub smtp_url: Option<String>,
    /// The sender, `Name <address>` or a plain address.
    pub from: String,
    /// The longest an SMTP exchange may take, in seconds (0: 30).
    pub timeout_secs: u64,
}

/// The government deployment's identity rules (TCHAP.md §1–3), all off by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The ordered email → homeserver rules (relative paths from the working directory),
    /// read again when the file changes; absent, no routing and no identity lookups.
    pub routing_file: Option<PathBuf>,
    /// Servers whose users are externals; the first takes every address no rule matches.
    pub external_servers: Vec<String>,
    /// Users may not change their display name (the server derives it from their address).
    pub lock_displayname: bool,
    /// Users may neither add nor remove email addresses (their address is who they are).
    pub lock_email: bool,
    /// Registration needs a validated email address that routes to this server; the account
    /// is named after the address.
    pub email_registration: bool,
    /// How long an invitation sent to an email address may be taken up (0: 7 days).
    pub invitation_validity_days: u64,
    /// Rooms follow the access rules (`im.vector.room.access_rules`, TCHAP.md §4): externals
    /// kept out of restricted rooms, direct rooms of two, the State's power levels.
    pub room_access_rules: bool,
}

/// Accounts that expire unless renewed through an emailed link (TCHAP.md §6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountValidityConfig {
    pub enabled: bool,
    /// How long an account is valid after registering or renewing.
    pub period_days: u64,
    /// The first renewal email goes out this long before expiry; reminders 30 and 45 days
    /// after it, while the account is still valid.
    pub renewal_email_days_before: u64,
    /// Expired this long, an account is deactivated.
    pub grace_period_days: u64,
    /// User IDs matching one of these regexes (anchored) never expire.
    pub exempt_patterns: Vec<String>,
    /// How often renewal emails and deactivations are looked for.
    pub check_interval_secs: u64,
}

impl Default for AccountValidityConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            period_days: 395,
            renewal_email_days_before: 60,
            grace_period_days: 120,
            exempt_patterns: Vec::new(),
            check_interval_secs: 300,
        }
    }
}
