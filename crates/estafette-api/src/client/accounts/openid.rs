//! `POST /_matrix/client/v3/user/{userId}/openid/request_token`: a token a third party (a
//! widget, a call service) checks with this server to learn who the user is.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::account::request_openid_token;
use ruma::authentication::TokenType;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(request_openid_token)
}

async fn request_openid_token(
    State(state): State<AppState>,
    request: Ruma<request_openid_token::v3::Request>,
) -> ApiResult<request_openid_token::v3::Response> {
    let token = state
        .services
        .openid
        .request_token(request.requester()?, &request.body.user_id)
        .await?;
    Ok(RumaResponse(request_openid_token::v3::Response::new(
        token.access_token,
        TokenType::Bearer,
        state.services.context.server_name.clone(),
        Duration::from_secs(token.expires_in_secs),
    )))
}
