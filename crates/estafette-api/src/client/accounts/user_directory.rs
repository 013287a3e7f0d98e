//! `POST /_matrix/client/v3/user_directory/search`

use axum::extract::State;
use ruma::api::client::user_directory::search_users;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(search_users)
}

async fn search_users(
    State(state): State<AppState>,
    request: Ruma<search_users::v3::Request>,
) -> ApiResult<search_users::v3::Response> {
    let body = &request.body;
    let limit = crate::json::small(body.limit);
    let (users, limited) = state
        .services
        .profiles
        .search_users(request.requester()?, &body.search_term, limit)
        .await?;
    let results = users
        .into_iter()
        .map(|user| {
            let mut result = search_users::v3::User::new(user.user_id);
            result.display_name = user.display_name;
            result.avatar_url = user.avatar_url.map(Into::into);
            result
        })
        .collect();
    Ok(RumaResponse(search_users::v3::Response::new(
        results, limited,
    )))
}
