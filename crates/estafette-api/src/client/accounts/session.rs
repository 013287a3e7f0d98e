//! Logging in and out: `/login`, `/refresh`, `/logout`, `/logout/all`.

use std::time::Duration;

use axum::extract::State;
use estafette_service::LoginIdentifier;
use ruma::api::client::session::{get_login_types, login, logout, logout_all, refresh_token};
use ruma::api::client::uiaa::UserIdentifier;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_login_types)
        .ruma(login)
        .ruma(refresh_token)
        .ruma(logout)
        .ruma(logout_all)
}

/// `GET /_matrix/client/v3/login`
async fn get_login_types(
    State(_state): State<AppState>,
    _request: Ruma<get_login_types::v3::Request>,
) -> ApiResult<get_login_types::v3::Response> {
    let password =
        get_login_types::v3::LoginType::Password(get_login_types::v3::PasswordLoginType::new());
    Ok(RumaResponse(get_login_types::v3::Response::new(vec![
        password,
    ])))
}

/// `POST /_matrix/client/v3/login`
async fn login(
    State(state): State<AppState>,
    request: Ruma<login::v3::Request>,
) -> ApiResult<login::v3::Response> {
    state
        .services
        .rate_limits
        .check_login(&request.client_key())
        .await
        .map_err(ApiError::limit_exceeded)?;
    let body = request.body;
    let login::v3::LoginInfo::Password(password) = body.login_info else {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::Unknown,
            "Unsupported login type; this server offers m.login.password",
        ));
    };
    #[allow(deprecated)]
    let who = match (&password.identifier, &password.user) {
        (Some(UserIdentifier::Matrix(id)), _) => LoginIdentifier::User(&id.user),
        (Some(UserIdentifier::Email(email)), _) => LoginIdentifier::Email(&email.address),
        (Some(_), _) => {
            return Err(ApiError::invalid_param(
                "Only m.id.user and email m.id.thirdparty identifiers are supported",
            ));
        }
        (None, Some(user)) => LoginIdentifier::User(user),
        (None, None) => {
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::MissingParam,
                "An identifier is required",
            ));
        }
    };
    let outcome = state
        .services
        .sessions
        .login(
            who,
            &password.password,
            body.device_id,
            body.initial_device_display_name.as_deref(),
            body.refresh_token,
        )
        .await?;
    let mut response = login::v3::Response::new(
        outcome.user_id,
        outcome.grant.access_token,
        outcome.device_id,
    );
    response.refresh_token = outcome.grant.refresh_token;
    response.expires_in = outcome.grant.expires_in_ms.map(Duration::from_millis);
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/refresh`
async fn refresh_token(
    State(state): State<AppState>,
    request: Ruma<refresh_token::v3::Request>,
) -> ApiResult<refresh_token::v3::Response> {
    let grant = state
        .services
        .sessions
        .refresh(&request.body.refresh_token)
        .await?;
    let mut response = refresh_token::v3::Response::new(grant.access_token);
    response.refresh_token = grant.refresh_token;
    response.expires_in_ms = grant.expires_in_ms.map(Duration::from_millis);
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/logout`
async fn logout(
    State(state): State<AppState>,
    request: Ruma<logout::v3::Request>,
) -> ApiResult<logout::v3::Response> {
    state.services.sessions.logout(request.requester()?).await?;
    Ok(RumaResponse(logout::v3::Response::new()))
}

/// `POST /_matrix/client/v3/logout/all`
async fn logout_all(
    State(state): State<AppState>,
    request: Ruma<logout_all::v3::Request>,
) -> ApiResult<logout_all::v3::Response> {
    state
        .services
        .sessions
        .logout_all(request.requester()?)
        .await?;
    Ok(RumaResponse(logout_all::v3::Response::new()))
}
