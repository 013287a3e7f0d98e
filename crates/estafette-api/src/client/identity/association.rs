//! Binding addresses through the identity service: `POST /_matrix/identity/v2/validate/email/
//! requestToken` and `submitToken` (POST, and GET for the link), `GET /3pid/getValidated3pid`,
//! `POST /3pid/bind` and `/3pid/unbind`. This server is its users' identity server: an address
//! bound here is an address of the account.

use axum::Json;
use axum::extract::Request;
use axum::extract::State;
use estafette_service::ValidationPurpose;
use http::Method;
use ruma::OwnedClientSecret;
use ruma::api::identity_service::association::email::{validate_email, validate_email_by_end_user};
use ruma::api::identity_service::association::{bind_3pid, check_3pid_validity, unbind_3pid};
use ruma::thirdparty::Medium;
use ruma::{MilliSecondsSinceUnixEpoch, UInt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::accounts::request_token;
use crate::extract::{ApiResult, IdentityCaller, Ruma, RumaResponse, identity_caller};
use crate::router::Routes;
use crate::{ApiError, AppState};

const REQUEST_TOKEN_PATH: &str = "/_matrix/identity/v2/validate/email/requestToken";

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            REQUEST_TOKEN_PATH,
            &[Method::POST],
            axum::routing::post(create_email_validation_session),
        )
        .ruma(validate_email)
        .ruma(validate_email_by_end_user)
        .ruma(check_3pid_validity)
        .ruma(bind_3pid)
        .ruma(unbind_3pid)
}

#[derive(Debug, Deserialize)]
struct EmailTokenRequest {
    client_secret: OwnedClientSecret,
    email: String,
    /// matrix-js-sdk sends it as a string to identity servers (Sydent reads either).
    #[serde(deserialize_with = "number_or_numeric_string")]
    send_attempt: u64,
}

fn number_or_numeric_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Attempt {
        Number(u64),
        Text(String),
    }
    match Attempt::deserialize(deserializer)? {
        Attempt::Number(n) => Ok(n),
        Attempt::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// `POST /_matrix/identity/v2/validate/email/requestToken` (by hand rather than through ruma's
/// type, which takes `send_attempt` as a number only).
async fn create_email_validation_session(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = state.services.context.config.limits.max_request_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::bad_json(format!("Could not read the request body: {e}")))?;
    let caller = identity_caller(&http::Request::from_parts(parts, &[][..]), &state).await?;
    let body: EmailTokenRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_json(format!(
            "Expected client_secret, email and send_attempt: {e}"
        ))
    })?;
    let (sid, _) = request_token(
        &state,
        ValidationPurpose::Bind,
        Some(&caller.user_id),
        body.client_secret.as_str(),
        &body.email,
        body.send_attempt,
    )
    .await?;
    Ok(Json(json!({"sid": sid})))
}

async fn validate_email(
    State(state): State<AppState>,
    request: Ruma<validate_email::v2::Request>,
) -> ApiResult<validate_email::v2::Response> {
    let body = &request.body;
    state
        .services
        .threepid_validation
        .submit_token(body.sid.as_str(), body.client_secret.as_str(), &body.token)
        .await?;
    Ok(RumaResponse(validate_email::v2::Response::new(true)))
}

async fn validate_email_by_end_user(
    State(state): State<AppState>,
    request: Ruma<validate_email_by_end_user::v2::Request>,
) -> ApiResult<validate_email_by_end_user::v2::Response> {
    let body = &request.body;
    state
        .services
        .threepid_validation
        .submit_token(body.sid.as_str(), body.client_secret.as_str(), &body.token)
        .await?;
    Ok(RumaResponse(validate_email_by_end_user::v2::Response::new()))
}

async fn check_3pid_validity(
    State(state): State<AppState>,
    request: Ruma<check_3pid_validity::v2::Request>,
) -> ApiResult<check_3pid_validity::v2::Response> {
    request.identity()?;
    let body = &request.body;
    let (address, validated_ts) = state
        .services
        .threepid_validation
        .validated_session(
            body.sid.as_str(),
            body.client_secret.as_str(),
            ValidationPurpose::Bind,
        )
        .await?;
    Ok(RumaResponse(check_3pid_validity::v2::Response::new(
        Medium::Email,
        address.to_string(),
        UInt::new(validated_ts).unwrap_or(UInt::MAX),
    )))
}

async fn bind_3pid(
    State(state): State<AppState>,
    request: Ruma<bind_3pid::v2::Request>,
) -> ApiResult<bind_3pid::v2::Response> {
    let caller = request.identity()?;
    let body = &request.body;
    own_account(caller, &body.mxid)?;
    let services = &state.services;
    let address = services
        .threepids
        .bind(
            &caller.user_id,
            body.client_secret.as_str(),
            body.sid.as_str(),
        )
        .await?;
    crate::client::accounts::deliver_invitations(&state, &caller.user_id).await;
    let signed = services
        .identity
        .sign_association("email", address.as_str(), &caller.user_id)
        .map_err(ApiError::from)?;
    let signatures = serde_json::from_value(signed["signatures"].clone())
        .map_err(|e| ApiError::from(estafette_service::ServiceError::Internal(e.to_string())))?;
    let at = |field: &str| {
        MilliSecondsSinceUnixEpoch(
            signed[field]
                .as_u64()
                .and_then(UInt::new)
                .unwrap_or_default(),
        )
    };
    Ok(RumaResponse(bind_3pid::v2::Response::new(
        address.to_string(),
        Medium::Email,
        caller.user_id.clone(),
        at("not_before"),
        at("not_after"),
        at("ts"),
        signatures,
    )))
}

async fn unbind_3pid(
    State(state): State<AppState>,
    request: Ruma<unbind_3pid::v2::Request>,
) -> ApiResult<unbind_3pid::v2::Response> {
    let caller = request.identity()?;
    let body = &request.body;
    own_account(caller, &body.mxid)?;
    state
        .services
        .threepids
        .delete(
            &caller.user_id,
            body.threepid.medium.as_str(),
            &body.threepid.address,
        )
        .await?;
    Ok(RumaResponse(unbind_3pid::v2::Response::new()))
}

/// Users bind and unbind the addresses of their own account only.
fn own_account(caller: &IdentityCaller, mxid: &ruma::UserId) -> Result<(), ApiError> {
    if mxid == caller.user_id {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "You may only bind and unbind addresses of your own account",
        ))
    }
}
