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
}
