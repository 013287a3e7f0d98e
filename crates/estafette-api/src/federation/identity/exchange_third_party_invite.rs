//! `PUT /_matrix/federation/v1/exchange_third_party_invite/{roomId}`: the invitee's server asks
//! this one, the inviter's, for the invite of an email invitation its user now holds.

use axum::extract::State;
use estafette_service::SignedInvite;
use ruma::api::federation::thirdparty::exchange_invite;
use serde_json::Value;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(exchange_third_party_invite)
}

async fn exchange_third_party_invite(
    State(state): State<AppState>,
    request: Ruma<exchange_invite::v1::Request>,
) -> ApiResult<exchange_invite::v1::Response> {
    let origin = request.origin()?;
    let body = &request.body;
    let content: Value = serde_json::from_str(body.content.json().get())
        .map_err(|e| ApiError::bad_json(format!("content: {e}")))?;
    let signed = content["third_party_invite"]["signed"].clone();
    if !signed.is_object() {
        return Err(ApiError::bad_json(
            "content.third_party_invite.signed is missing".to_owned(),
        ));
    }
    let invite = SignedInvite {
        room_id: &body.room_id,
        sender: &body.sender,
        mxid: &body.state_key,
        signed,
    };
    let membership = content["membership"].as_str().unwrap_or_default();
    state
        .services
        .invitations
        .exchange_from(origin, invite, membership)
        .await?;
    Ok(RumaResponse(exchange_invite::v1::Response::new()))
}
