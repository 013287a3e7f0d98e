//! `GET /_matrix/federation/v1/query/profile`: local users' profiles, for other servers.

use axum::extract::State;
use ruma::api::federation::query::get_profile_information;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_profile_information)
}

/// `GET /_matrix/federation/v1/query/profile`: a local user's profile, or one field of it.
async fn get_profile_information(
    State(state): State<AppState>,
    request: Ruma<get_profile_information::v1::Request>,
) -> ApiResult<get_profile_information::v1::Response> {
    let body = &request.body;
    tracing::debug!(origin = ?request.origin, user_id = %body.user_id, "profile query");
    let mut profile = state.services.profiles.get_local(&body.user_id).await?;
    if let Some(field) = &body.field {
        profile.retain(|key, _| key == field.as_str());
    }
    Ok(RumaResponse(profile.into_iter().collect()))
}
