//! Account validity's routes, as Synapse's email account validity module serves them (TCHAP.md
//! §6): `POST /_synapse/client/email_account_validity/send_mail` (a renewal email now),
//! `GET …/renew?token=` (the emailed link) and `POST …/admin` (a server admin sets an expiry).
//! An expired account reaches the first two: they are how it comes back.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::response::Html;
use estafette_service::{RENEW_PATH, Renewal, Requester};
use http::{Method, StatusCode};
use ruma::OwnedUserId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::bearer_requester;
use crate::router::Routes;
use crate::{ApiError, AppState};

const SEND_MAIL_PATH: &str = "/_synapse/client/email_account_validity/send_mail";
const ADMIN_PATH: &str = "/_synapse/client/email_account_validity/admin";

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            SEND_MAIL_PATH,
            &[Method::POST],
            axum::routing::post(send_mail),
        )
        .axum(RENEW_PATH, &[Method::GET], axum::routing::get(renew))
        .axum(ADMIN_PATH, &[Method::POST], axum::routing::post(admin))
}

/// The requester and the body of a request.
async fn authenticated(
    state: &AppState,
    request: Request,
) -> Result<(Requester, axum::body::Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let client_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let limit = state.services.context.config.limits.max_request_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::bad_json(format!("Could not read the request body: {e}")))?;
    let head = http::Request::from_parts(parts, &[][..]);
    let requester = bearer_requester(&head, state, client_ip).await?;
    Ok((requester, body))
}

async fn send_mail(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (requester, _) = authenticated(&state, request).await?;
    state
        .services
        .account_validity
        .send_renewal_email(&requester.user_id)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct RenewQuery {
    token: Option<String>,
}

const RENEWED_PAGE: &str = "<!DOCTYPE html><html><body><p>Your account has been renewed: you \
                            may return to your application.</p></body></html>";
const ALREADY_PAGE: &str = "<!DOCTYPE html><html><body><p>Your account was already renewed: \
                            you may return to your application.</p></body></html>";
const INVALID_PAGE: &str = "<!DOCTYPE html><html><body><p>This renewal link is not valid: ask \
                            your application for a new one.</p></body></html>";

/// The link of a renewal email: a page saying whether the account is renewed (a request that
/// is no such link gets a Matrix error).
async fn renew(
    State(state): State<AppState>,
    query: Result<Query<RenewQuery>, QueryRejection>,
) -> Result<(StatusCode, Html<&'static str>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_param(format!("{e}")))?;
    // A request that is no renewal link gets a Matrix error, not a page.
    let Some(token) = query.token.filter(|token| !token.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::MissingParam,
            "token is required".to_owned(),
        ));
    };
    Ok(match state.services.account_validity.renew(&token).await? {
        Renewal::Renewed { .. } => (StatusCode::OK, Html(RENEWED_PAGE)),
        Renewal::AlreadyRenewed => (StatusCode::OK, Html(ALREADY_PAGE)),
        Renewal::Invalid => (StatusCode::NOT_FOUND, Html(INVALID_PAGE)),
    })
}

#[derive(Debug, Deserialize)]
struct AdminBody {
    user_id: OwnedUserId,
    expiration_ts: Option<u64>,
    enable_renewal_emails: Option<bool>,
}

async fn admin(State(state): State<AppState>, request: Request) -> Result<Json<Value>, ApiError> {
    let (requester, body) = authenticated(&state, request).await?;
    let body: AdminBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_json(format!(
            "Expected user_id, and optionally expiration_ts and enable_renewal_emails: {e}"
        ))
    })?;
    let expiration_ts = state
        .services
        .account_validity
        .set_expiration(
            &requester.user_id,
            &body.user_id,
            body.expiration_ts,
            body.enable_renewal_emails,
        )
        .await?;
    Ok(Json(json!({"expiration_ts": expiration_ts})))
}
