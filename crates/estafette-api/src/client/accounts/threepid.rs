//! Email addresses of accounts: `GET /_matrix/client/v3/account/3pid`, `/account/3pid/add` and
//! `/delete`; the validation of an address (`…/email/requestToken` before registering, adding
//! it, or resetting a password), and where the emailed token comes back (the email's link, or
//! a client posting it to `submit_url`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use estafette_service::{SUBMIT_TOKEN_PATH, ServiceError, ValidationPurpose};
use http::{Method, StatusCode};
use ruma::api::client::account::{
    ThirdPartyIdRemovalStatus, add_3pid, bind_3pid, delete_3pid, get_3pids,
    request_3pid_management_token_via_email, request_password_change_token_via_email,
    request_registration_token_via_email, unbind_3pid,
};
use ruma::thirdparty::{Medium, ThirdPartyIdentifierInit};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedSessionId, UserId};
use serde::Deserialize;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_3pids)
        .ruma(add_3pid)
        .ruma(delete_3pid)
        .ruma(bind_3pid)
        .ruma(unbind_3pid)
        .ruma(request_registration_token_via_email)
        .ruma(request_password_change_token_via_email)
        .ruma(request_3pid_management_token_via_email)
        .axum(
            SUBMIT_TOKEN_PATH,
            &[Method::GET, Method::POST],
            axum::routing::get(follow_validation_link).post(submit_validation_token),
        )
}

async fn get_3pids(
    State(state): State<AppState>,
    request: Ruma<get_3pids::v3::Request>,
) -> ApiResult<get_3pids::v3::Response> {
    let user_id = &request.requester()?.user_id;
    let at = |ts: u64| MilliSecondsSinceUnixEpoch(ruma::UInt::new(ts).unwrap_or(ruma::UInt::MAX));
    let threepids = state
        .services
        .threepids
        .of_user(user_id)
        .await?
        .into_iter()
        .map(|threepid| {
            ThirdPartyIdentifierInit {
                address: threepid.address,
                medium: Medium::from(threepid.medium.as_str()),
                validated_at: at(threepid.validated_ts),
                added_at: at(threepid.added_ts),
            }
            .into()
        })
        .collect();
    Ok(RumaResponse(get_3pids::v3::Response::new(threepids)))
}

/// `POST /_matrix/client/v3/account/3pid/add`
async fn add_3pid(
    State(state): State<AppState>,
    request: Ruma<add_3pid::v3::Request>,
) -> ApiResult<add_3pid::v3::Response> {
    let body = &request.body;
    state
        .services
        .threepids
        .add(
            request.requester()?,
            body.client_secret.as_str(),
            body.sid.as_str(),
            body.auth.as_ref(),
        )
        .await?;
    deliver_invitations(&state, &request.requester()?.user_id).await;
    Ok(RumaResponse(add_3pid::v3::Response::new()))
}

/// `POST /_matrix/client/v3/account/3pid/delete`
async fn delete_3pid(
    State(state): State<AppState>,
    request: Ruma<delete_3pid::v3::Request>,
) -> ApiResult<delete_3pid::v3::Response> {
    let body = &request.body;
    state
        .services
        .threepids
        .delete(
            &request.requester()?.user_id,
            body.medium.as_str(),
            &body.address,
        )
        .await?;
    // This server is its users' identity server: the binding is gone from lookups too.
    Ok(RumaResponse(delete_3pid::v3::Response::new(
        ThirdPartyIdRemovalStatus::Success,
    )))
}

/// `POST /_matrix/client/v3/account/3pid/bind`: an address validated by the identity service
/// bound for discovery. This server is the only identity service it binds with.
async fn bind_3pid(
    State(state): State<AppState>,
    request: Ruma<bind_3pid::v3::Request>,
) -> ApiResult<bind_3pid::v3::Response> {
    let requester = request.requester()?;
    let body = &request.body;
    let services = &state.services;
    let identity = &body.identity_server_info;
    if !services.identity.is_this_server(&identity.id_server) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ruma::api::error::ErrorKind::ThreepidDenied,
            format!(
                "{} is not this server's identity service, the only one it binds with",
                identity.id_server
            ),
        ));
    }
    let owner = services
        .identity
        .authenticate(&identity.id_access_token)
        .await?;
    if owner != requester.user_id {
        return Err(ApiError::forbidden(
            "The identity access token is not yours",
        ));
    }
    services
        .threepids
        .bind(
            &requester.user_id,
            body.client_secret.as_str(),
            body.sid.as_str(),
        )
        .await?;
    deliver_invitations(&state, &requester.user_id).await;
    Ok(RumaResponse(bind_3pid::v3::Response::new()))
}

/// `POST /_matrix/client/v3/account/3pid/unbind`: no longer found by the address. This server
/// is its users' identity server, and an address is found as long as it is the account's: it
/// goes from the account too.
async fn unbind_3pid(
    State(state): State<AppState>,
    request: Ruma<unbind_3pid::v3::Request>,
) -> ApiResult<unbind_3pid::v3::Response> {
    let requester = request.requester()?;
    let body = &request.body;
    let services = &state.services;
    if let Some(id_server) = &body.id_server
        && !services.identity.is_this_server(id_server)
    {
        return Ok(RumaResponse(unbind_3pid::v3::Response::new(
            ThirdPartyIdRemovalStatus::NoSupport,
        )));
    }
    services
        .threepids
        .delete(&requester.user_id, body.medium.as_str(), &body.address)
        .await?;
    Ok(RumaResponse(unbind_3pid::v3::Response::new(
        ThirdPartyIdRemovalStatus::Success,
    )))
}

/// `POST /_matrix/client/v3/register/email/requestToken`
async fn request_registration_token_via_email(
    State(state): State<AppState>,
    request: Ruma<request_registration_token_via_email::v3::Request>,
) -> ApiResult<request_registration_token_via_email::v3::Response> {
    let body = &request.body;
    let requested = request_token(
        &state,
        ValidationPurpose::Registration,
        None,
        body.client_secret.as_str(),
        &body.email,
        body.send_attempt.into(),
    )
    .await?;
    let mut response = request_registration_token_via_email::v3::Response::new(requested.0);
    response.submit_url = Some(requested.1);
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/account/password/email/requestToken`
async fn request_password_change_token_via_email(
    State(state): State<AppState>,
    request: Ruma<request_password_change_token_via_email::v3::Request>,
) -> ApiResult<request_password_change_token_via_email::v3::Response> {
    let body = &request.body;
    let requested = request_token(
        &state,
        ValidationPurpose::PasswordReset,
        None,
        body.client_secret.as_str(),
        &body.email,
        body.send_attempt.into(),
    )
    .await?;
    let mut response = request_password_change_token_via_email::v3::Response::new(requested.0);
    response.submit_url = Some(requested.1);
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/account/3pid/email/requestToken`
async fn request_3pid_management_token_via_email(
    State(state): State<AppState>,
    request: Ruma<request_3pid_management_token_via_email::v3::Request>,
) -> ApiResult<request_3pid_management_token_via_email::v3::Response> {
    let body = &request.body;
    let requested = request_token(
        &state,
        ValidationPurpose::AddThreepid,
        None,
        body.client_secret.as_str(),
        &body.email,
        body.send_attempt.into(),
    )
    .await?;
    let mut response = request_3pid_management_token_via_email::v3::Response::new(requested.0);
    response.submit_url = Some(requested.1);
    Ok(RumaResponse(response))
}

/// Emails a validation token; the session ID and where to submit the token.
pub(crate) async fn request_token(
    state: &AppState,
    purpose: ValidationPurpose,
    requester: Option<&UserId>,
    client_secret: &str,
    email: &str,
    send_attempt: u64,
) -> Result<(OwnedSessionId, String), ApiError> {
    let requested = state
        .services
        .threepid_validation
        .request_token(purpose, requester, client_secret, email, send_attempt)
        .await?;
    let sid = OwnedSessionId::try_from(requested.sid)
        .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
    Ok((sid, requested.submit_url))
}

/// The token of a validation email, as its link carries it or as a client submits it.
#[derive(Debug, Deserialize)]
struct SubmittedToken {
    sid: String,
    client_secret: String,
    token: String,
}

/// What a request carrying no token is told.
const TOKEN_FIELDS: &str = "sid, client_secret and token are required";
const VALIDATED_PAGE: &str = "<!DOCTYPE html><html><body><p>Your email address is validated: \
                              you may return to your application.</p></body></html>";
const REFUSED_PAGE: &str = "<!DOCTYPE html><html><body><p>This validation link is wrong or has \
                            expired: ask your application for a new one.</p></body></html>";

/// The link in a validation email: a page saying whether the address is now validated (a
/// request that is no such link gets a Matrix error).
async fn follow_validation_link(
    State(state): State<AppState>,
    query: Result<Query<SubmittedToken>, QueryRejection>,
) -> Result<(StatusCode, Html<&'static str>), ApiError> {
    let Query(submitted) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::MissingParam,
            format!("{TOKEN_FIELDS}: {e}"),
        )
    })?;
    let validations = &state.services.threepid_validation;
    let submitted = validations
        .submit_token(&submitted.sid, &submitted.client_secret, &submitted.token)
        .await;
    match submitted {
        Ok(()) => Ok((StatusCode::OK, Html(VALIDATED_PAGE))),
        Err(ServiceError::InvalidParam(_)) => Ok((StatusCode::BAD_REQUEST, Html(REFUSED_PAGE))),
        Err(other) => Err(other.into()),
    }
}

/// The same token, submitted by a client (the spec's `submit_url`).
async fn submit_validation_token(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let submitted: SubmittedToken = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_json(format!("{TOKEN_FIELDS}: {e}")))?;
    state
        .services
        .threepid_validation
        .submit_token(&submitted.sid, &submitted.client_secret, &submitted.token)
        .await?;
    Ok(Json(serde_json::json!({"success": true})))
}

/// Turns the email invitations waiting for the user's addresses into invites, once an address
/// is theirs. What it cannot do waits for the next binding: the request that bound succeeds.
pub(crate) async fn deliver_invitations(state: &AppState, user_id: &UserId) {
    if let Err(e) = state.services.invitations.deliver(user_id).await {
        tracing::warn!(%user_id, "email invitations not delivered: {e}");
    }
}
