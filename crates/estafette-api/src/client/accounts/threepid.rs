//! `GET /_matrix/client/v3/account/3pid`: the email addresses bound to the account.

use axum::extract::State;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::api::client::account::get_3pids;
use ruma::thirdparty::{Medium, ThirdPartyIdentifierInit};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_3pids)
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
