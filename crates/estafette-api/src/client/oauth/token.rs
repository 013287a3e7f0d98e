//! `POST /oauth2/token` (authorization code with PKCE, refresh) and `POST /oauth2/revoke`
//! (RFC 7009), both form-encoded.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use estafette_service::{OAuthError, REVOCATION_PATH, TOKEN_PATH, TokenRequest};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::oauth_error;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(TOKEN_PATH, &[Method::POST], axum::routing::post(token))
        .axum(
            REVOCATION_PATH,
            &[Method::POST],
            axum::routing::post(revoke),
        )
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    device_code: Option<String>,
}

fn form<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, OAuthError> {
    serde_urlencoded::from_bytes(body).map_err(|e| OAuthError {
        error: "invalid_request",
        description: format!("The body must be application/x-www-form-urlencoded: {e}"),
    })
}

async fn token(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let form: TokenForm = match form(&body) {
        Ok(form) => form,
        Err(err) => return Ok(oauth_error(err)),
    };
    let request = TokenRequest {
        grant_type: form.grant_type,
        code: form.code,
        redirect_uri: form.redirect_uri,
        client_id: form.client_id,
        code_verifier: form.code_verifier,
        refresh_token: form.refresh_token,
        device_code: form.device_code,
    };
    Ok(match state.services.oauth.token(&request).await? {
        Ok(tokens) => {
            let mut body = json!({
                "access_token": tokens.access_token,
                "token_type": "Bearer",
            });
            if let Some(refresh) = tokens.refresh_token {
                body["refresh_token"] = json!(refresh);
            }
            if let Some(expires) = tokens.expires_in_secs {
                body["expires_in"] = json!(expires);
            }
            if let Some(scope) = tokens.scope {
                body["scope"] = json!(scope);
            }
            (
                StatusCode::OK,
                [(http::header::CACHE_CONTROL, "no-store")],
                Json(body),
            )
                .into_response()
        }
        Err(err) => oauth_error(err),
    })
}

#[derive(Debug, Default, Deserialize)]
struct RevokeForm {
    token: Option<String>,
}

async fn revoke(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let form: RevokeForm = match form(&body) {
        Ok(form) => form,
        Err(err) => return Ok(oauth_error(err)),
    };
    let Some(token) = form.token else {
        return Ok(oauth_error(OAuthError {
            error: "invalid_request",
            description: "token is required".to_owned(),
        }));
    };
    state.services.oauth.revoke(&token).await?;
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}
