//! Logging in and out: `/login`, `/refresh`, `/logout`, `/logout/all`.

use std::time::Duration;

use axum::extract::State;
use estafette_service::LoginIdentifier;
use ruma::api::client::session::{
    get_login_token, get_login_types, login, logout, logout_all, refresh_token, sso_login,
    sso_login_with_provider,
};
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
        .ruma(sso_login)
        .ruma(sso_login_with_provider)
        .ruma(get_login_token)
}

/// The identity provider ID `m.login.sso` names the upstream provider by.
const UPSTREAM_IDP: &str = "oidc";

/// `GET /_matrix/client/v3/login`
async fn get_login_types(
    State(state): State<AppState>,
    _request: Ruma<get_login_types::v3::Request>,
) -> ApiResult<get_login_types::v3::Response> {
    use get_login_types::v3::{
        IdentityProvider, LoginType, PasswordLoginType, SsoLoginType, TokenLoginType,
    };
    let mut flows = vec![LoginType::Password(PasswordLoginType::new())];
    if let Some(name) = state.services.oauth.upstream_name() {
        let mut sso = SsoLoginType::new();
        sso.identity_providers = vec![IdentityProvider::new(UPSTREAM_IDP.to_owned(), name)];
        // Clients that speak OAuth 2.0 should use it instead (MSC3824).
        sso.oauth_aware_preferred = true;
        flows.push(LoginType::Sso(sso));
    }
    let mut token = TokenLoginType::new();
    token.get_login_token = true;
    flows.push(LoginType::Token(token));
    if !state.services.appservices.registry().is_empty() {
        flows.push(LoginType::ApplicationService(
            get_login_types::v3::ApplicationServiceLoginType::new(),
        ));
    }
    Ok(RumaResponse(get_login_types::v3::Response::new(flows)))
}

/// `GET /_matrix/client/v3/login/sso/redirect`: off to the upstream provider.
async fn sso_login(
    State(state): State<AppState>,
    request: Ruma<sso_login::v3::Request>,
) -> ApiResult<sso_login::v3::Response> {
    let location = state
        .services
        .oauth
        .start_sso(&request.body.redirect_url)
        .await?;
    Ok(RumaResponse(sso_login::v3::Response::new(location)))
}

/// `GET /_matrix/client/v3/login/sso/redirect/{idpId}`
async fn sso_login_with_provider(
    State(state): State<AppState>,
    request: Ruma<sso_login_with_provider::v3::Request>,
) -> ApiResult<sso_login_with_provider::v3::Response> {
    if request.body.idp_id != UPSTREAM_IDP {
        return Err(ApiError::new(
            http::StatusCode::NOT_FOUND,
            ruma::api::error::ErrorKind::NotFound,
            format!("Unknown identity provider '{}'", request.body.idp_id),
        ));
    }
    let location = state
        .services
        .oauth
        .start_sso(&request.body.redirect_url)
        .await?;
    Ok(RumaResponse(sso_login_with_provider::v3::Response::new(
        location,
    )))
}

/// `POST /_matrix/client/v1/login/get_token`: a login token for a new device, after the user
/// authenticates again.
async fn get_login_token(
    State(state): State<AppState>,
    request: Ruma<get_login_token::v1::Request>,
) -> ApiResult<get_login_token::v1::Response> {
    let requester = request.requester()?;
    state
        .services
        .uia
        .reauthenticate(
            estafette_service::UiaAction::GetLoginToken,
            &requester.user_id,
            request.body.auth.as_ref(),
        )
        .await?;
    let (token, lifetime_ms) = state
        .services
        .sessions
        .create_login_token(&requester.user_id)
        .await?;
    Ok(RumaResponse(get_login_token::v1::Response::new(
        Duration::from_millis(lifetime_ms),
        token,
    )))
}

/// `POST /_matrix/client/v3/login`
async fn login(
    State(state): State<AppState>,
    request: Ruma<login::v3::Request>,
) -> ApiResult<login::v3::Response> {
    // Without application services, the type is not offered and answers as any unknown one.
    if let login::v3::LoginInfo::ApplicationService(service) = &request.body.login_info
        && !state.services.appservices.registry().is_empty()
    {
        let requester = request.requester()?;
        #[allow(deprecated)]
        let user = match (&service.identifier, &service.user) {
            (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
            (None, Some(user)) => user.clone(),
            _ => {
                return Err(ApiError::invalid_param(
                    "An m.id.user identifier is required",
                ));
            }
        };
        let body = &request.body;
        let outcome = state
            .services
            .appservices
            .login(
                requester,
                &user,
                body.device_id.clone(),
                body.initial_device_display_name.as_deref(),
                body.refresh_token,
            )
            .await?;
        return Ok(RumaResponse(login_response(outcome)));
    }
    state
        .services
        .rate_limits
        .check_login(&request.client_key())
        .await
        .map_err(ApiError::limit_exceeded)?;
    let body = request.body;
    let password = match body.login_info {
        login::v3::LoginInfo::Password(password) => password,
        login::v3::LoginInfo::Token(token) => {
            let outcome = state
                .services
                .sessions
                .login_with_token(
                    &token.token,
                    body.device_id,
                    body.initial_device_display_name.as_deref(),
                    body.refresh_token,
                )
                .await?;
            return Ok(RumaResponse(login_response(outcome)));
        }
        _ => {
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::Unknown,
                "Unsupported login type; this server offers m.login.password and m.login.token",
            ));
        }
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
    Ok(RumaResponse(login_response(outcome)))
}

fn login_response(outcome: estafette_service::LoginOutcome) -> login::v3::Response {
    let mut response = login::v3::Response::new(
        outcome.user_id,
        outcome.grant.access_token,
        outcome.device_id,
    );
    response.refresh_token = outcome.grant.refresh_token;
    response.expires_in = outcome.grant.expires_in_ms.map(Duration::from_millis);
    response
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
