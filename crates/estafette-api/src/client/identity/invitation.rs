//! Invitations by email at the identity service: `POST /_matrix/identity/v2/store-invite`, and
//! the link of an invitation email: a page saying who invited the address, and where its owner
//! registers to take the invitation up (a request that is no such link gets a Matrix error).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use estafette_service::INVITATION_PATH;
use http::{Method, StatusCode};
use ruma::api::identity_service::invitation::store_invitation;
use ruma::third_party_invite::IdentityServerBase64PublicKey;
use ruma::thirdparty::Medium;
use serde::Deserialize;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::html::escape;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            INVITATION_PATH,
            &[Method::GET],
            axum::routing::get(invitation_page),
        )
        .ruma(store_invitation)
}

async fn store_invitation(
    State(state): State<AppState>,
    request: Ruma<store_invitation::v2::Request>,
) -> ApiResult<store_invitation::v2::Response> {
    let caller = request.identity()?;
    let body = &request.body;
    if body.medium != Medium::Email {
        return Err(ApiError::invalid_param(format!(
            "Only email addresses are invited, not {}",
            body.medium
        )));
    }
    let invitation = state
        .services
        .invitations
        .store_invite(&caller.user_id, &body.sender, &body.room_id, &body.address)
        .await?;
    let key = || {
        store_invitation::v2::PublicKey::new(
            IdentityServerBase64PublicKey(invitation.public_key.clone()),
            invitation.key_validity_url.clone(),
        )
    };
    // Invitations are signed with the long-term key: it stands as the ephemeral one too.
    let public_keys = store_invitation::v2::PublicKeys {
        server_key: key(),
        ephemeral_key: key(),
    };
    Ok(RumaResponse(store_invitation::v2::Response::new(
        invitation.token.clone(),
        public_keys,
        invitation.display_name.clone(),
    )))
}

#[derive(Debug, Deserialize)]
struct InvitationQuery {
    token: String,
}

const GONE_PAGE: &str = "<!DOCTYPE html><html><body><p>This invitation has expired, was \
                         withdrawn, or was taken up already.</p></body></html>";

async fn invitation_page(
    State(state): State<AppState>,
    query: Result<Query<InvitationQuery>, QueryRejection>,
) -> Result<(StatusCode, Html<String>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_param(format!("token: {e}")))?;
    let services = &state.services;
    let Some(invitation) = services.invitations.pending(&query.token).await? else {
        return Ok((StatusCode::NOT_FOUND, Html(GONE_PAGE.to_owned())));
    };
    let home = services
        .policy
        .public_route(&invitation.address)
        .await
        .map(|route| route.hs)
        .unwrap_or_else(|_| services.context.server_name.to_string());
    let page = format!(
        "<!DOCTYPE html><html><body><p>{} invited {} to a conversation.</p>\
         <p>Register on {} with this address: the invitation waits for you in your \
         application.</p></body></html>",
        escape(invitation.sender.as_str()),
        escape(&invitation.address),
        escape(&home),
    );
    Ok((StatusCode::OK, Html(page)))
}
