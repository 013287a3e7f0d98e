//! `GET /_matrix/federation/v1/openid/userinfo`: who an OpenID token this server issued
//! belongs to. The caller is a third party, not a server, so the request is not signed.

use axum::extract::State;
use ruma::api::federation::openid::get_openid_userinfo;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_openid_userinfo)
}

async fn get_openid_userinfo(
    State(state): State<AppState>,
    request: Ruma<get_openid_userinfo::v1::Request>,
) -> ApiResult<get_openid_userinfo::v1::Response> {
    let user_id = state
        .services
        .openid
        .user_info(&request.body.access_token)
        .await?;
    Ok(RumaResponse(get_openid_userinfo::v1::Response::new(
        user_id,
    )))
}
