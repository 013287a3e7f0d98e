//! Accounts: `/register`, `/register/available`, `/account/whoami`, `/account/password`,
//! `/account/deactivate`.

use std::time::Duration;

use axum::extract::State;
use estafette_service::Registration;
use ruma::api::client::account::{
    ThirdPartyIdRemovalStatus, change_password, deactivate, get_username_availability, register,
    whoami,
};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(register)
        .ruma(get_username_availability)
        .ruma(whoami)
        .ruma(change_password)
        .ruma(deactivate)
}

/// `POST /_matrix/client/v3/register`
async fn register(
    State(state): State<AppState>,
    request: Ruma<register::v3::Request>,
) -> ApiResult<register::v3::Response> {
    let client = request.client_key();
    let as_service = request
        .requester
        .as_ref()
        .filter(|requester| requester.appservice.is_some());
    if let Some(requester) = as_service {
        return register_for_appservice(&state, requester, request.body).await;
    }
    let body = request.body;
    if body.login_type == Some(register::LoginType::ApplicationService) {
        return Err(ApiError::missing_token());
    }
    // Only the request that creates the account counts against the login limit.
    if body.auth.is_some() {
        state
            .services
            .rate_limits
            .check_login(&client)
            .await
            .map_err(ApiError::limit_exceeded)?;
    }
    let registration = Registration {
        username: body.username,
        password: body.password,
        device_id: body.device_id,
        initial_device_display_name: body.initial_device_display_name,
        inhibit_login: body.inhibit_login,
        refresh_token: body.refresh_token,
        guest: body.kind == register::RegistrationKind::Guest,
        auth: body.auth,
    };
    let (user_id, session) = state.services.accounts.register(registration).await?;
    super::deliver_invitations(&state, &user_id).await;
    Ok(RumaResponse(register_response(user_id, session)))
}

/// `/register` with an application service's token: a user of its namespace, with none of
/// the rules for people (BRIDGES.md §3.2).
async fn register_for_appservice(
    state: &AppState,
    requester: &estafette_service::Requester,
    body: register::v3::Request,
) -> ApiResult<register::v3::Response> {
    if let Some(appservice) = &requester.appservice {
        super::check_appservice_limit(state, appservice).await?;
    }
    let request = estafette_service::AppserviceRegistration {
        username: body.username,
        inhibit_login: body.inhibit_login,
        device_id: body.device_id,
        initial_device_display_name: body.initial_device_display_name,
        refresh_token: body.refresh_token,
    };
    let (user_id, session) = state
        .services
        .appservices
        .register(requester, request)
        .await?;
    Ok(RumaResponse(register_response(user_id, session)))
}

fn register_response(
    user_id: ruma::OwnedUserId,
    session: Option<estafette_service::LoginOutcome>,
) -> register::v3::Response {
    let mut response = register::v3::Response::new(user_id);
    if let Some(session) = session {
        response.access_token = Some(session.grant.access_token);
        response.device_id = Some(session.device_id);
        response.refresh_token = session.grant.refresh_token;
        response.expires_in = session.grant.expires_in_ms.map(Duration::from_millis);
    }
    response
}

/// `GET /_matrix/client/v3/register/available`
async fn get_username_availability(
    State(state): State<AppState>,
    request: Ruma<get_username_availability::v3::Request>,
) -> ApiResult<get_username_availability::v3::Response> {
    if !state.services.accounts.registration_open() {
        return Err(ApiError::forbidden(
            "Registration is disabled on this server",
        ));
    }
    state
        .services
        .accounts
        .check_username(&request.body.username)
        .await?;
    Ok(RumaResponse(get_username_availability::v3::Response::new(
        true,
    )))
}

/// `GET /_matrix/client/v3/account/whoami`
async fn whoami(
    State(_state): State<AppState>,
    request: Ruma<whoami::v3::Request>,
) -> ApiResult<whoami::v3::Response> {
    let requester = request.requester()?;
    let mut response = whoami::v3::Response::new(requester.user_id.clone(), false);
    response.device_id = requester.has_device().then(|| requester.device_id.clone());
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/account/password`: a logged-in user's new password, or (without
/// an access token) a forgotten one reset through the account's email address.
async fn change_password(
    State(state): State<AppState>,
    request: Ruma<change_password::v3::Request>,
) -> ApiResult<change_password::v3::Response> {
    let body = request.body;
    let services = &state.services;
    match &request.requester {
        Some(requester) => {
            services
                .accounts
                .change_password(
                    requester,
                    body.new_password,
                    body.logout_devices,
                    body.auth.as_ref(),
                )
                .await?
        }
        None => {
            services
                .threepids
                .reset_password(body.new_password, body.logout_devices, body.auth.as_ref())
                .await?
        }
    }
    Ok(RumaResponse(change_password::v3::Response::new()))
}

/// `POST /_matrix/client/v3/account/deactivate`
async fn deactivate(
    State(state): State<AppState>,
    request: Ruma<deactivate::v3::Request>,
) -> ApiResult<deactivate::v3::Response> {
    let unbound = state
        .services
        .accounts
        .deactivate(request.requester()?, request.body.auth.as_ref())
        .await?;
    // This server is its users' identity server: what it unbinds, lookups no longer find.
    let status = if unbound {
        ThirdPartyIdRemovalStatus::Success
    } else {
        ThirdPartyIdRemovalStatus::NoSupport
    };
    Ok(RumaResponse(deactivate::v3::Response::new(status)))
}
