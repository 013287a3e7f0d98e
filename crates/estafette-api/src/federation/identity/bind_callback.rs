//! `PUT /_matrix/federation/v1/3pid/onbind`: an identity service tells this server that one of
//! its users now holds an address, with the invitations it held for the address. Unsigned, as
//! the spec has it: what matters is the identity service's signature on each invitation, which
//! the room's auth rules check.

use axum::extract::State;
use estafette_service::SignedInvite;
use ruma::api::federation::thirdparty::bind_callback;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(bind_callback)
}

async fn bind_callback(
    State(state): State<AppState>,
    request: Ruma<bind_callback::v1::Request>,
) -> ApiResult<bind_callback::v1::Response> {
    let body = &request.body;
    let mut invites = Vec::with_capacity(body.invites.len());
    for invite in &body.invites {
        let signed = serde_json::from_str(invite.signed.json().get())
            .map_err(|e| ApiError::bad_json(format!("signed: {e}")))?;
        invites.push(SignedInvite {
            room_id: &invite.room_id,
            sender: &invite.sender,
            mxid: &invite.mxid,
            signed,
        });
    }
    state
        .services
        .invitations
        .on_bind(&body.mxid, invites)
        .await?;
    Ok(RumaResponse(bind_callback::v1::Response::new()))
}
