//! Email addresses of accounts: `GET /_matrix/client/v3/account/3pid`, the validation of an
//! address before registration (`POST /register/email/requestToken`), and where the emailed
//! token comes back (the email's link, or a client posting it to `submit_url`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use estafette_service::{SUBMIT_TOKEN_PATH, ServiceError, ValidationPurpose};
use http::{Method, StatusCode};
use ruma::api::client::account::{get_3pids, request_registration_token_via_email};
use ruma::thirdparty::{Medium, ThirdPartyIdentifierInit};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedSessionId};
use serde::Deserialize;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_3pids)
        .ruma(request_registration_token_via_email)
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
        .accounts
        .threepids(user_id)
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

/// `POST /_matrix/client/v3/register/email/requestToken`
async fn request_registration_token_via_email(
    State(state): State<AppState>,
    request: Ruma<request_registration_token_via_email::v3::Request>,
) -> ApiResult<request_registration_token_via_email::v3::Response> {
    let body = &request.body;
    let requested = state
        .services
        .threepid_validation
        .request_token(
            ValidationPurpose::Registration,
            body.client_secret.as_str(),
            &body.email,
            body.send_attempt.into(),
        )
        .await?;
    let sid = OwnedSessionId::try_from(requested.sid)
        .map_err(|e| ApiError::from(ServiceError::Internal(e.to_string())))?;
    let mut response = request_registration_token_via_email::v3::Response::new(sid);
    response.submit_url = Some(requested.submit_url);
    Ok(RumaResponse(response))
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
