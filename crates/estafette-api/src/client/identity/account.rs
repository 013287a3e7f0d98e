//! The identity service's access tokens: `POST /_matrix/identity/v2/account/register` (against
//! an OpenID token), `GET /account` and `POST /account/logout`.

use axum::extract::State;
use ruma::api::identity_service::authentication::{get_account_information, logout, register};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(register)
        .ruma(get_account_information)
        .ruma(logout)
}

async fn register(
    State(state): State<AppState>,
    request: Ruma<register::v2::Request>,
) -> ApiResult<register::v2::Response> {
    let body = &request.body;
    let token = state
        .services
        .identity
        .register(&body.access_token, &body.matrix_server_name)
        .await?;
    Ok(RumaResponse(register::v2::Response::new(token)))
}

async fn get_account_information(
    State(_state): State<AppState>,
    request: Ruma<get_account_information::v2::Request>,
) -> ApiResult<get_account_information::v2::Response> {
    let caller = request.identity()?;
    Ok(RumaResponse(get_account_information::v2::Response::new(
        caller.user_id.clone(),
    )))
}

async fn logout(
    State(state): State<AppState>,
    request: Ruma<logout::v2::Request>,
) -> ApiResult<logout::v2::Response> {
    let caller = request.identity()?;
    state.services.identity.logout(&caller.token).await?;
    Ok(RumaResponse(logout::v2::Response::new()))
}
