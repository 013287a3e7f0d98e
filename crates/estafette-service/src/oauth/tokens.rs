//! The token endpoint (authorization code with PKCE, refresh) and revocation (RFC 7009).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{GRANT_LIFETIME_MS, OAuthError, OAuthService, scoped_device};
use crate::accounts::digest;
use crate::{Requester, ServiceError, ServiceResult};

/// A token request's form fields.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_secs: Option<u64>,
    pub scope: Option<String>,
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new("invalid_grant", description)
}

impl OAuthService {
    pub async fn token(
        &self,
        request: &TokenRequest,
    ) -> ServiceResult<Result<OAuthTokens, OAuthError>> {
        let Some(client_id) = request.client_id.as_deref() else {
            return Ok(Err(OAuthError::new(
                "invalid_client",
                "client_id is missing",
            )));
        };
        let Some(client) = self.client(client_id).await? else {
            return Ok(Err(OAuthError::new("invalid_client", "Unknown client")));
        };
        match request.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(client_id, &client, request).await,
            Some("refresh_token") => self.refresh(request).await,
            Some(super::DEVICE_GRANT_TYPE) => {
                self.exchange_device_code(client_id, request.device_code.as_deref())
                    .await
            }
            Some(other) => Ok(Err(OAuthError::new(
                "unsupported_grant_type",
                format!("Grant type '{other}' is not supported"),
            ))),
            None => Ok(Err(OAuthError::new(
                "invalid_request",
                "grant_type is missing",
            ))),
        }
    }

    async fn exchange_code(
        &self,
        client_id: &str,
        client: &serde_json::Value,
        request: &TokenRequest,
    ) -> ServiceResult<Result<OAuthTokens, OAuthError>> {
        let (Some(code), Some(verifier)) = (&request.code, &request.code_verifier) else {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "code and code_verifier are required",
            )));
        };
        let now = self.context.now();
        let Some((grant, first)) = self
            .context
            .storage
            .oauth_grants
            .exchange(&digest(code), now)
            .await?
        else {
            return Ok(Err(invalid_grant("Unknown authorization code")));
        };
        let device = scoped_device(&grant.scope);
        let Some(user_id) = grant.user_id.clone() else {
            return Ok(Err(invalid_grant("Unknown authorization code")));
        };
        if !first {
            // A code used twice was intercepted, or the client misbehaves: the session it
            // opened ends too (RFC 6749 §4.1.2).
            if let Ok(device_id) = device {
                self.sessions
                    .logout(&Requester::new(user_id, device_id))
                    .await?;
            }
            return Ok(Err(invalid_grant(
                "This authorization code was already used",
            )));
        }
        let issued = grant.completed_ts.unwrap_or(grant.created_ts);
        if issued.saturating_add(GRANT_LIFETIME_MS) < now {
            return Ok(Err(invalid_grant("This authorization code has expired")));
        }
        if grant.client_id != client_id {
            return Ok(Err(invalid_grant("This code was issued to another client")));
        }
        if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Ok(Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            )));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if computed != grant.code_challenge {
            return Ok(Err(invalid_grant(
                "The code_verifier does not match the code_challenge",
            )));
        }
        let device_id = match device {
            Ok(device_id) => device_id,
            Err(err) => return Ok(Err(err)),
        };
        let client_name = client["client_name"].as_str();
        let outcome = self
            .sessions
            .open_session(&user_id, Some(device_id), client_name, true)
            .await?;
        Ok(Ok(OAuthTokens {
            access_token: outcome.grant.access_token,
            refresh_token: outcome.grant.refresh_token,
            expires_in_secs: outcome.grant.expires_in_ms.map(|ms| ms / 1000),
            scope: Some(grant.scope),
        }))
    }

    async fn refresh(
        &self,
        request: &TokenRequest,
    ) -> ServiceResult<Result<OAuthTokens, OAuthError>> {
        let Some(refresh_token) = request.refresh_token.as_deref() else {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "refresh_token is required",
            )));
        };
        match self.sessions.refresh(refresh_token).await {
            Ok(grant) => Ok(Ok(OAuthTokens {
                access_token: grant.access_token,
                refresh_token: grant.refresh_token,
                expires_in_secs: grant.expires_in_ms.map(|ms| ms / 1000),
                scope: None,
            })),
            Err(ServiceError::UnknownToken { .. }) => {
                Ok(Err(invalid_grant("Unknown or revoked refresh token")))
            }
            Err(other) => Err(other),
        }
    }

    /// Ends the session an access or refresh token belongs to (RFC 7009: unknown tokens are
    /// not an error).
    pub async fn revoke(&self, token: &str) -> ServiceResult<()> {
        let tokens = &self.context.storage.tokens;
        let hash = digest(token);
        let owner = match tokens.find_access(&hash).await? {
            Some(access) => Some((access.user_id, access.device_id)),
            None => tokens
                .find_refresh(&hash)
                .await?
                .map(|refresh| (refresh.user_id, refresh.device_id)),
        };
        if let Some((user_id, device_id)) = owner {
            self.sessions
                .logout(&Requester::new(user_id, device_id))
                .await?;
        }
        Ok(())
    }
}
