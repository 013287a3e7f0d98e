//! Signing in through the upstream OpenID Connect provider (ProConnect): the provider's
//! metadata and keys, the authorization request with `state`, `nonce` and PKCE, the callback's
//! code exchanged with the client secret, the ID token's signature and claims checked, and the
//! account linked (created on the first sign-in).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use estafette_core::config::UpstreamProvider;
use estafette_storage::UpstreamSession;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value as JsonValue};
use sha2::{Digest, Sha256};

use super::authorization::SignIn;
use super::{GRANT_LIFETIME_MS, OAuthService};
use crate::{NewAccount, ServiceError, ServiceResult};

/// Where the provider sends the user back, under the server's base URL.
pub const UPSTREAM_CALLBACK_PATH: &str = "/oauth2/upstream/callback";
/// Where the sign-in page's button leads.
pub const UPSTREAM_START_PATH: &str = "/oauth2/upstream/start";

const RANDOM_LENGTH: usize = 32;
/// Provider metadata and keys are read again after this long.
const METADATA_LIFETIME_MS: u64 = 60 * 60 * 1000;
/// A provider that does not answer in this long is unavailable.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Signature algorithms an ID token may use: asymmetric only (never `none`, never a shared
/// secret an attacker could sign with).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The provider's metadata (OpenID Connect Discovery) and keys, as last read.
#[derive(Debug, Clone)]
pub(crate) struct ProviderState {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks: JwkSet,
    read_at: u64,
}

/// The callback's query.
#[derive(Debug, Clone, Default)]
pub struct UpstreamCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(format!("The sign-in provider {what}: {err}"))
}

fn random_token(service: &OAuthService) -> String {
    service.context.random.alphanumeric(RANDOM_LENGTH)
}

/// Checks an ID token (OpenID Connect Core §3.1.3.7): signed by one of the provider's keys
/// with an asymmetric algorithm, issued by it, for this client, not expired at `now_secs`,
/// carrying the sign-in's nonce. Its claims.
pub(crate) fn verify_id_token(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now_secs: u64,
) -> Result<Map<String, JsonValue>, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("unreadable: {e}"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(format!(
            "signed with {:?}, which is not accepted",
            header.alg
        ));
    }
    let jwk = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or("signed with a key the provider does not publish")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("the provider's key: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer]);
    // Expiry is checked against the server's clock below.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
    let data = jsonwebtoken::decode::<Map<String, JsonValue>>(token, &key, &validation)
        .map_err(|e| format!("refused: {e}"))?;
    let claims = data.claims;
    let expires = claims.get("exp").and_then(JsonValue::as_u64).unwrap_or(0);
    if expires <= now_secs {
        return Err("expired".to_owned());
    }
    if claims.get("nonce").and_then(JsonValue::as_str) != Some(nonce) {
        return Err("its nonce is not this sign-in's".to_owned());
    }
    Ok(claims)
}

/// A localpart from a claim: an email address gives `local-part-domain` (as Tchap names its
/// users), anything else is lowercased; characters a localpart may not hold become `_`.
pub(crate) fn localpart_from(claim: &str) -> String {
    let text = match claim.split_once('@') {
        Some((local, domain)) => format!("{local}-{domain}"),
        None => claim.to_owned(),
    };
    text.trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '=' | '-' | '/')
            {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl OAuthService {
    fn upstream(&self) -> ServiceResult<&UpstreamProvider> {
        self.context
            .config
            .oauth
            .upstream
            .as_ref()
            .ok_or_else(|| ServiceError::NotFound("No sign-in provider is configured".into()))
    }

    /// The name of the upstream provider the sign-in page offers, if any.
    pub fn upstream_name(&self) -> Option<String> {
        self.context
            .config
            .oauth
            .upstream
            .as_ref()
            .map(|p| p.name.clone())
    }

    async fn fetch_json(&self, url: &str, what: &str) -> ServiceResult<JsonValue> {
        let response = self
            .http
            .get(url)
            .timeout(PROVIDER_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(what, e))?;
        if !response.status().is_success() {
            return Err(unavailable(what, format!("answered {}", response.status())));
        }
        response.json().await.map_err(|e| unavailable(what, e))
    }

    /// The provider's metadata and keys: as read within the hour, unless `fresh_keys`.
    async fn provider(&self, fresh_keys: bool) -> ServiceResult<ProviderState> {
        let now = self.context.now();
        let kept = crate::lock(&self.provider).clone();
        if let Some(state) = kept
            && !fresh_keys
            && state.read_at.saturating_add(METADATA_LIFETIME_MS) > now
        {
            return Ok(state);
        }
        let upstream = self.upstream()?;
        let issuer = upstream.issuer.trim_end_matches('/');
        let document = self
            .fetch_json(
                &format!("{issuer}/.well-known/openid-configuration"),
                "metadata",
            )
            .await?;
        let field = |name: &str| {
            document[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| unavailable("metadata", format!("has no {name}")))
        };
        if field("issuer")?.trim_end_matches('/') != issuer {
            return Err(unavailable("metadata", "names another issuer"));
        }
        let jwks_uri = field("jwks_uri")?;
        let jwks: JwkSet = serde_json::from_value(self.fetch_json(&jwks_uri, "keys").await?)
            .map_err(|e| unavailable("keys", e))?;
        let state = ProviderState {
            authorization_endpoint: field("authorization_endpoint")?,
            token_endpoint: field("token_endpoint")?,
            jwks,
            read_at: now,
        };
        *crate::lock(&self.provider) = Some(state.clone());
        Ok(state)
    }

    fn callback_url(&self) -> String {
        format!("{}{UPSTREAM_CALLBACK_PATH}", self.context.config.base_url())
    }

    /// The sign-in page's button: the user goes to the provider, this server's request noted.
    pub async fn start_upstream(&self, grant_id: &str) -> ServiceResult<Result<String, String>> {
        if let Err(message) = self.pending(grant_id).await? {
            return Ok(Err(message));
        }
        self.to_provider(grant_id, None).await.map(Ok)
    }

    /// `m.login.sso`: the user goes to the provider, and comes back to `redirect_url` with a
    /// login token.
    pub async fn start_sso(&self, redirect_url: &str) -> ServiceResult<String> {
        let url = url::Url::parse(redirect_url).map_err(|e| {
            ServiceError::InvalidParam(format!("redirectUrl is not an absolute URL: {e}"))
        })?;
        if url.cannot_be_a_base() && url.scheme() != "https" && url.scheme() != "http" {
            return Err(ServiceError::InvalidParam(
                "redirectUrl must be a URL the client can be sent to".into(),
            ));
        }
        self.to_provider("", Some(redirect_url.to_owned())).await
    }

    /// The provider's authorization URL for a new upstream sign-in.
    pub(super) async fn to_provider(
        &self,
        grant_id: &str,
        sso_redirect: Option<String>,
    ) -> ServiceResult<String> {
        let upstream = self.upstream()?;
        let provider = self.provider(false).await?;
        let now = self.context.now();
        let session = UpstreamSession {
            state: random_token(self),
            grant_id: grant_id.to_owned(),
            nonce: random_token(self),
            code_verifier: format!("{}{}", random_token(self), random_token(self)),
            created_ts: now,
            sso_redirect,
        };
        self.context
            .storage
            .oauth_upstream
            .start(&session, now.saturating_sub(GRANT_LIFETIME_MS))
            .await?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(session.code_verifier.as_bytes()));
        let mut scopes = upstream.scopes.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        let mut url = url::Url::parse(&provider.authorization_endpoint)
            .map_err(|e| unavailable("metadata", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &upstream.client_id)
            .append_pair("redirect_uri", &self.callback_url())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &session.state)
            .append_pair("nonce", &session.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.to_string())
    }

    /// The provider sent the user back: the code exchanged, the ID token checked, the account
    /// found (or created and linked), and this server's own request completed.
    pub async fn finish_upstream(&self, callback: &UpstreamCallback) -> ServiceResult<SignIn> {
        let upstream = self.upstream()?;
        let ended = |message: &str| Ok(SignIn::Ended(message.to_owned()));
        let Some(state) = callback.state.as_deref() else {
            return ended("The sign-in provider's answer is incomplete.");
        };
        let Some(session) = self.context.storage.oauth_upstream.take(state).await? else {
            return ended(
                "This sign-in was already completed or has expired: start again from the application.",
            );
        };
        if session.created_ts.saturating_add(GRANT_LIFETIME_MS) < self.context.now() {
            return ended("This sign-in has expired: start again from the application.");
        }
        let grant = match &session.sso_redirect {
            Some(_) => None,
            None => match self.pending(&session.grant_id).await? {
                Ok((grant, _)) => Some(grant),
                Err(message) => return Ok(SignIn::Ended(message)),
            },
        };
        if let Some(error) = &callback.error {
            tracing::info!(%error, description = ?callback.error_description, "the sign-in provider refused");
            return match &grant {
                Some(grant) => self.deny(&grant.id).await,
                None => ended("The sign-in provider did not sign you in."),
            };
        }
        let Some(code) = callback.code.as_deref() else {
            return ended("The sign-in provider's answer is incomplete.");
        };
        let provider = self.provider(false).await?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.callback_url())
            .append_pair("code_verifier", &session.code_verifier)
            .finish();
        let response = self
            .http
            .post(&provider.token_endpoint)
            .timeout(PROVIDER_TIMEOUT)
            .basic_auth(&upstream.client_id, Some(&upstream.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "the sign-in provider refused the code");
            return ended("The sign-in provider did not confirm this sign-in: start again.");
        }
        let tokens: JsonValue = response
            .json()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let Some(id_token) = tokens["id_token"].as_str() else {
            return ended("The sign-in provider gave no identity.");
        };
        let now_secs = self.context.now() / 1000;
        let issuer = upstream.issuer.as_str();
        let mut verified = verify_id_token(
            id_token,
            &provider.jwks,
            issuer,
            &upstream.client_id,
            &session.nonce,
            now_secs,
        );
        if verified.is_err() && provider.read_at < self.context.now() {
            // The provider may have rotated its keys since they were read.
            let fresh = self.provider(true).await?;
            verified = verify_id_token(
                id_token,
                &fresh.jwks,
                issuer,
                &upstream.client_id,
                &session.nonce,
                now_secs,
            );
        }
        let claims = match verified {
            Ok(claims) => claims,
            Err(why) => {
                tracing::warn!(%why, "an ID token from the sign-in provider was refused");
                return ended("The sign-in provider's identity could not be verified.");
            }
        };
        let user_id = match self.linked_account(upstream, &claims).await? {
            Ok(user_id) => user_id,
            Err(message) => return Ok(SignIn::Ended(message)),
        };
        match (grant, session.sso_redirect) {
            (Some(grant), _) => self.grant_code(&grant, &user_id).await,
            (None, Some(redirect))
                if redirect.starts_with(super::account::ACCOUNT_RETURN_PREFIX) =>
            {
                let return_to = redirect[super::account::ACCOUNT_RETURN_PREFIX.len()..].to_owned();
                Ok(SignIn::Account { user_id, return_to })
            }
            (None, Some(redirect)) => {
                let (token, _) = self.sessions.create_login_token(&user_id).await?;
                let mut url = url::Url::parse(&redirect)
                    .map_err(|e| ServiceError::Internal(format!("stored redirect: {e}")))?;
                url.query_pairs_mut().append_pair("loginToken", &token);
                let destination = url.host_str().unwrap_or(url.scheme()).to_owned();
                Ok(SignIn::Continue {
                    url: url.to_string(),
                    destination,
                })
            }
            (None, None) => ended("This sign-in has no destination."),
        }
    }

    /// The account linked to the token's subject, created and linked on the first sign-in.
    async fn linked_account(
        &self,
        upstream: &UpstreamProvider,
        claims: &Map<String, JsonValue>,
    ) -> ServiceResult<Result<ruma::OwnedUserId, String>> {
        let links = &self.context.storage.oauth_upstream;
        let Some(subject) = claims.get("sub").and_then(JsonValue::as_str) else {
            return Ok(Err("The sign-in provider named nobody.".to_owned()));
        };
        if let Some(user_id) = links.linked(&upstream.issuer, subject).await? {
            return Ok(Ok(user_id));
        }
        let Some(claim) = claims
            .get(&upstream.localpart_claim)
            .and_then(JsonValue::as_str)
        else {
            return Ok(Err(format!(
                "The sign-in provider did not give the '{}' this server names accounts after.",
                upstream.localpart_claim
            )));
        };
        let localpart = localpart_from(claim);
        let display_name: Vec<&str> = upstream
            .display_name_claims
            .iter()
            .filter_map(|name| claims.get(name).and_then(JsonValue::as_str))
            .collect();
        let account = NewAccount {
            localpart: Some(localpart.clone()),
            password: None,
            is_admin: false,
            display_name: (!display_name.is_empty()).then(|| display_name.join(" ")),
            trusted_localpart: false,
        };
        let user_id = match self.accounts.create(account).await {
            Ok(user_id) => user_id,
            Err(ServiceError::UserInUse) => {
                return Ok(Err(format!(
                    "An account named '{localpart}' exists already and is not linked to this identity: ask your administrator."
                )));
            }
            Err(ServiceError::InvalidUsername(message)) => return Ok(Err(message)),
            Err(other) => return Err(other),
        };
        if !links
            .link(&upstream.issuer, subject, &user_id, self.context.now())
            .await?
        {
            // Another sign-in of the same subject linked first: use its account.
            if let Some(linked) = links.linked(&upstream.issuer, subject).await? {
                return Ok(Ok(linked));
            }
        }
        tracing::info!(%user_id, "account created through the sign-in provider");
        Ok(Ok(user_id))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};
    use serde_json::json;

    use super::*;

    fn signer() -> (EncodingKey, JwkSet) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let encoding = EncodingKey::from_ec_der(&key.serialize_der());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some("k1".to_owned());
        (encoding, JwkSet { keys: vec![jwk] })
    }

    fn token(key: &EncodingKey, kid: &str, claims: JsonValue) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[test]
    fn id_tokens_are_checked_for_signature_issuer_audience_expiry_and_nonce() {
        let (key, jwks) = signer();
        let (other_key, _) = signer();
        let good = json!({"iss": "https://idp", "aud": "estafette", "sub": "u1", "exp": 2000,
                          "iat": 1000, "nonce": "n0nce", "email": "a@b.fr"});
        let check =
            |token: &str| verify_id_token(token, &jwks, "https://idp", "estafette", "n0nce", 1500);
        let claims = check(&token(&key, "k1", good.clone())).unwrap();
        assert_eq!(claims["email"], "a@b.fr");
        let with = |field: &str, value: JsonValue| {
            let mut claims = good.clone();
            claims[field] = value;
            token(&key, "k1", claims)
        };
        for (why, bad) in [
            ("forged", token(&other_key, "k1", good.clone())),
            ("unknown key", token(&key, "k2", good.clone())),
            ("expired", with("exp", json!(1500))),
            ("another issuer", with("iss", json!("https://evil"))),
            ("another client", with("aud", json!("someone-else"))),
            ("another nonce", with("nonce", json!("replayed"))),
            ("no nonce", with("nonce", JsonValue::Null)),
        ] {
            assert!(check(&bad).is_err(), "{why}");
        }
        // An unsigned token, or one signed with a shared secret, never passes.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(check(&hs).unwrap_err().contains("not accepted"));
        assert!(check("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSJ9.").is_err());
    }

    #[test]
    fn localparts_come_from_addresses_as_tchap_names_users() {
        assert_eq!(
            localpart_from("Jean.Dupont@interieur.gouv.fr"),
            "jean.dupont-interieur.gouv.fr"
        );
        assert_eq!(localpart_from("Élodie"), "_lodie");
        assert_eq!(localpart_from("agent 7"), "agent_7");
    }
}
