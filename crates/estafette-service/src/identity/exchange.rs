//! The spec's exchange of an email invitation across servers: the identity service tells the
//! invitee's homeserver of the binding (`PUT /_matrix/federation/v1/3pid/onbind`), which asks
//! the inviter's server (`PUT /_matrix/federation/v1/exchange_third_party_invite/{roomId}`) to
//! send the invite; the room's auth rules check the identity service's signature.

use ruma::api::federation::thirdparty::{bind_callback, exchange_invite};
use ruma::serde::Raw;
use ruma::{RoomId, ServerName, UserId};
use serde_json::{Value as JsonValue, json};

use super::InvitationService;
use crate::accounts::is_active_local_user;
use crate::{ServiceError, ServiceResult};

/// An invitation the identity service signed for its invitee.
pub struct SignedInvite<'a> {
    pub room_id: &'a RoomId,
    pub sender: &'a UserId,
    pub mxid: &'a UserId,
    /// `{mxid, sender, token, signatures}`.
    pub signed: JsonValue,
}

impl InvitationService {
    /// As the identity service: tells the invitee's server that `address` is theirs, with the
    /// invitation it held for the address.
    pub(super) async fn notify_bind(
        &self,
        address: &str,
        invite: SignedInvite<'_>,
    ) -> ServiceResult<()> {
        let signed = Raw::from_json(to_raw(&invite.signed)?);
        let bound = bind_callback::v1::ThirdPartyInvite::new(
            address.to_owned(),
            invite.mxid.to_owned(),
            invite.room_id.to_owned(),
            invite.sender.to_owned(),
            signed,
        );
        let request = bind_callback::v1::Request::email(
            address.to_owned(),
            invite.mxid.to_owned(),
            vec![bound],
        );
        self.federation
            .send_unsigned(invite.mxid.server_name(), request)
            .await
            .map(drop)
    }

    /// `PUT /_matrix/federation/v1/3pid/onbind`: an identity service says `mxid`, a user of
    /// this server, holds an address it had invitations for; each becomes their invite.
    pub async fn on_bind(
        &self,
        mxid: &UserId,
        invites: Vec<SignedInvite<'_>>,
    ) -> ServiceResult<()> {
        if !is_active_local_user(&self.context, mxid).await? {
            return Err(ServiceError::NotFound(format!(
                "{mxid} is not an account of this server"
            )));
        }
        for invite in invites {
            if invite.mxid != mxid {
                return Err(ServiceError::InvalidParam(format!(
                    "An invitation for {} in the binding of {mxid}",
                    invite.mxid
                )));
            }
            if invite.sender.server_name() == self.context.server_name {
                self.exchange(invite).await?;
                continue;
            }
            let content = json!({
                "membership": "invite",
                // The inviter's server puts the room's own display name in.
                "third_party_invite": {"display_name": "", "signed": invite.signed},
            });
            let request = exchange_invite::v1::Request::new(
                invite.room_id.to_owned(),
                invite.sender.to_owned(),
                mxid.to_owned(),
                Raw::from_json(to_raw(&content)?),
            );
            self.federation
                .send(invite.sender.server_name(), request)
                .await?;
        }
        Ok(())
    }

    /// `PUT /_matrix/federation/v1/exchange_third_party_invite/{roomId}`: the invitee's server
    /// (`origin`) asks for the invite of the invitation its user now holds.
    pub async fn exchange_from(
        &self,
        origin: &ServerName,
        invite: SignedInvite<'_>,
        membership: &str,
    ) -> ServiceResult<()> {
        if invite.mxid.server_name() != origin {
            return Err(ServiceError::Forbidden(format!(
                "{origin} may exchange the invitations of its own users, not {}'s",
                invite.mxid
            )));
        }
        if membership != "invite" {
            return Err(ServiceError::InvalidParam(format!(
                "An exchanged invitation is an invite, not {membership:?}"
            )));
        }
        self.exchange(invite).await
    }

    /// The inviter's invite for `invite.mxid`, carrying the identity service's signature and
    /// the display name of the room's `m.room.third_party_invite`.
    async fn exchange(&self, invite: SignedInvite<'_>) -> ServiceResult<()> {
        if invite.sender.server_name() != self.context.server_name {
            return Err(ServiceError::Forbidden(format!(
                "{} is not a user of this server",
                invite.sender
            )));
        }
        let Some(token) = invite.signed["token"].as_str() else {
            return Err(ServiceError::InvalidParam(
                "The signed invitation has no token".to_owned(),
            ));
        };
        let event = self
            .rooms
            .third_party_invite(invite.room_id, token)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No invitation {token} in {}", invite.room_id))
            })?;
        let Some(display_name) = event["display_name"].as_str() else {
            return Err(ServiceError::Forbidden(format!(
                "The invitation {token} was revoked"
            )));
        };
        let third_party_invite = json!({"display_name": display_name, "signed": invite.signed});
        self.rooms
            .invite_by_third_party(
                invite.room_id,
                invite.sender,
                invite.mxid,
                third_party_invite,
            )
            .await?;
        // Exchanged: the identity service here no longer holds it.
        self.context.storage.email_invitations.take(token).await?;
        Ok(())
    }
}

fn to_raw(value: &JsonValue) -> ServiceResult<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|e| ServiceError::Internal(e.to_string()))
}
