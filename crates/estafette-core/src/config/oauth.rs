//! OAuth 2.0: the server is its own authorization server; behind its sign-in page, users may
//! sign in with an upstream OpenID Connect provider (ProConnect, the State's, is one).

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// An OpenID Connect provider users sign in with; none when unset.
    pub upstream: Option<UpstreamProvider>,
    /// Who may open the rendezvous sessions a device signs another in through by QR code.
    pub qr_login: QrLogin,
}

/// Who may open a rendezvous session (MSC4388): the device that shows the QR code opens it,
/// and a new device has no account yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrLogin {
    /// Signed-in users and new devices alike (either device may show the code).
    #[default]
    Anyone,
    /// Signed-in users only: the existing device shows the code, the new one scans it.
    Users,
    /// No QR login: the rendezvous API is not served.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamProvider {
    /// Shown on the sign-in page's button ("Sign in with …").
    #[serde(default = "default_name")]
    pub name: String,
    /// The provider's issuer: its metadata is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for; `openid` is always among them.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim the new account's localpart is made from (an email address gives
    /// `local-part-domain`, as Tchap names its users).
    #[serde(default = "default_localpart_claim")]
    pub localpart_claim: String,
    /// Claims joined with spaces into the display name (`given_name`, `usual_name` for
    /// ProConnect); the localpart when none is there.
    #[serde(default = "default_display_name_claims")]
    pub display_name_claims: Vec<String>,
}

fn default_name() -> String {
    "ProConnect".to_owned()
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

fn default_localpart_claim() -> String {
    "email".to_owned()
}

fn default_display_name_claims() -> Vec<String> {
    vec!["name".to_owned()]
}

impl OAuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let Some(upstream) = &self.upstream else {
            return Ok(());
        };
        let issuer = url::Url::parse(&upstream.issuer)
            .map_err(|e| invalid("oauth.upstream.issuer", format!("not a URL: {e}")))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(invalid("oauth.upstream.issuer", "must be an https URL"));
        }
        if upstream.client_id.is_empty() || upstream.client_secret.is_empty() {
            return Err(invalid(
                "oauth.upstream",
                "client_id and client_secret are required",
            ));
        }
        if upstream.localpart_claim.is_empty() {
            return Err(invalid(
                "oauth.upstream.localpart_claim",
                "must name a claim",
            ));
        }
        Ok(())
    }
}
