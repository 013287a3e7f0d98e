//! Membership: `/join`, `/rooms/{roomId}/join`, `invite`, `leave`, `kick`, `ban`, `unban`,
//! `/joined_rooms`, `/mutual_rooms`.

use axum::extract::State;
use ruma::OwnedRoomId;
use ruma::api::client::knock::knock_room;
use ruma::api::client::membership::{
    ban_user, forget_room, get_mutual_rooms, invite_user, join_room_by_id,
    join_room_by_id_or_alias, joined_rooms, kick_user, leave_room, unban_user,
};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(join_room_by_id)
        .ruma(join_room_by_id_or_alias)
        .ruma(invite_user)
        .ruma(leave_room)
        .ruma(kick_user)
        .ruma(ban_user)
        .ruma(unban_user)
        .ruma(joined_rooms)
        .ruma(forget_room)
        .ruma(knock_room)
        .ruma(get_mutual_rooms)
        .ruma(get_mutual_rooms_unstable)
}

/// `GET /_matrix/client/v1/mutual_rooms`
async fn get_mutual_rooms(
    State(state): State<AppState>,
    request: Ruma<get_mutual_rooms::v1::Request>,
) -> ApiResult<get_mutual_rooms::v1::Response> {
    let body = &request.body;
    let page = state
        .services
        .rooms
        .mutual_rooms(request.requester()?, &body.user_id, body.from.as_deref())
        .await?;
    let mut response = get_mutual_rooms::v1::Response::new(
        ruma::UInt::new(page.count).unwrap_or_default(),
        page.joined,
    );
    response.next_batch = page.next_batch;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms`, which Element
/// calls.
async fn get_mutual_rooms_unstable(
    State(state): State<AppState>,
    request: Ruma<get_mutual_rooms::unstable::Request>,
) -> ApiResult<get_mutual_rooms::unstable::Response> {
    let body = &request.body;
    let page = state
        .services
        .rooms
        .mutual_rooms(request.requester()?, &body.user_id, body.from.as_deref())
        .await?;
    let mut response = get_mutual_rooms::unstable::Response::new(page.joined);
    response.next_batch = page.next_batch;
    Ok(RumaResponse(response))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`
async fn join_room_by_id(
    State(state): State<AppState>,
    request: Ruma<join_room_by_id::v3::Request>,
) -> ApiResult<join_room_by_id::v3::Response> {
    let room_id = &request.body.room_id;
    state
        .services
        .rooms
        .join(request.requester()?, room_id, &[])
        .await?;
    Ok(RumaResponse(join_room_by_id::v3::Response::new(
        room_id.clone(),
    )))
}

/// The room a room ID or alias names, and the servers to reach it through: those the client
/// gave, then those the alias's server listed.
async fn room_and_servers(
    state: &AppState,
    room_id_or_alias: &ruma::OwnedRoomOrAliasId,
    via: &[ruma::OwnedServerName],
) -> Result<(OwnedRoomId, Vec<ruma::OwnedServerName>), ApiError> {
    let mut via = via.to_vec();
    let room_id = match OwnedRoomId::try_from(room_id_or_alias.clone()) {
        Ok(room_id) => room_id,
        Err(alias) => {
            let (room_id, servers) = state.services.rooms.resolve_alias(&alias).await?;
            via.extend(servers);
            room_id
        }
    };
    Ok((room_id, via))
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`
async fn join_room_by_id_or_alias(
    State(state): State<AppState>,
    request: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> ApiResult<join_room_by_id_or_alias::v3::Response> {
    let body = &request.body;
    let (room_id, via) = room_and_servers(&state, &body.room_id_or_alias, &body.via).await?;
    state
        .services
        .rooms
        .join(request.requester()?, &room_id, &via)
        .await?;
    Ok(RumaResponse(join_room_by_id_or_alias::v3::Response::new(
        room_id,
    )))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`
async fn invite_user(
    State(state): State<AppState>,
    request: Ruma<invite_user::v3::Request>,
) -> ApiResult<invite_user::v3::Response> {
    let body = &request.body;
    let recipient = match &body.recipient {
        invite_user::v3::InvitationRecipient::UserId(recipient) => recipient,
        invite_user::v3::InvitationRecipient::ThirdPartyId(invite) => {
            if invite.medium != ruma::thirdparty::Medium::Email {
                return Err(ApiError::invalid_param(
                    "Only email addresses may be invited",
                ));
            }
            state
                .services
                .invitations
                .invite_by_email(
                    request.requester()?,
                    &body.room_id,
                    &invite.id_server,
                    &invite.id_access_token,
                    &invite.address,
                )
                .await?;
            return Ok(RumaResponse(invite_user::v3::Response::new()));
        }
        _ => {
            return Err(ApiError::invalid_param(
                "Invite a user ID or an email address",
            ));
        }
    };
    state
        .services
        .rooms
        .invite(
            request.requester()?,
            &body.room_id,
            &recipient.user_id,
            recipient.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(invite_user::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/leave`
async fn leave_room(
    State(state): State<AppState>,
    request: Ruma<leave_room::v3::Request>,
) -> ApiResult<leave_room::v3::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .leave(request.requester()?, &body.room_id, body.reason.as_deref())
        .await?;
    Ok(RumaResponse(leave_room::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/kick`
async fn kick_user(
    State(state): State<AppState>,
    request: Ruma<kick_user::v3::Request>,
) -> ApiResult<kick_user::v3::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .kick(
            request.requester()?,
            &body.room_id,
            &body.user_id,
            body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(kick_user::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/ban`
async fn ban_user(
    State(state): State<AppState>,
    request: Ruma<ban_user::v3::Request>,
) -> ApiResult<ban_user::v3::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .ban(
            request.requester()?,
            &body.room_id,
            &body.user_id,
            body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(ban_user::v3::Response::new()))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/unban`
async fn unban_user(
    State(state): State<AppState>,
    request: Ruma<unban_user::v3::Request>,
) -> ApiResult<unban_user::v3::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .unban(
            request.requester()?,
            &body.room_id,
            &body.user_id,
            body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(unban_user::v3::Response::new()))
}

/// `GET /_matrix/client/v3/joined_rooms`
async fn joined_rooms(
    State(state): State<AppState>,
    request: Ruma<joined_rooms::v3::Request>,
) -> ApiResult<joined_rooms::v3::Response> {
    let rooms = state
        .services
        .rooms
        .joined_rooms(&request.requester()?.user_id)
        .await?;
    Ok(RumaResponse(joined_rooms::v3::Response::new(rooms)))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/forget`
async fn forget_room(
    State(state): State<AppState>,
    request: Ruma<forget_room::v3::Request>,
) -> ApiResult<forget_room::v3::Response> {
    state
        .services
        .rooms
        .forget(request.requester()?, &request.body.room_id)
        .await?;
    Ok(RumaResponse(forget_room::v3::Response::new()))
}

/// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
async fn knock_room(
    State(state): State<AppState>,
    request: Ruma<knock_room::v3::Request>,
) -> ApiResult<knock_room::v3::Response> {
    let body = &request.body;
    let (room_id, via) = room_and_servers(&state, &body.room_id_or_alias, &body.via).await?;
    state
        .services
        .rooms
        .knock(request.requester()?, &room_id, body.reason.as_deref(), &via)
        .await?;
    Ok(RumaResponse(knock_room::v3::Response::new(room_id)))
}
