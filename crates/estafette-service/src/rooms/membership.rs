//! Membership changes and sending events on behalf of local users. Whether a change is
//! allowed is decided by the room version's authorization rules in [`RoomService::append`];
//! a refusal reaches the client as 403 with the rule's reason.

use ruma::events::{StateEventType, TimelineEventType};
use ruma::{OwnedEventId, OwnedServerName, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::RoomService;
use super::timeline::Txn;
use crate::{EventDraft, Requester, ServiceError, ServiceResult};

/// Memberships that count as being in a room for leaving or kicking.
const IN_ROOM: &[&str] = &["join", "invite", "knock"];

impl RoomService {
    /// Refuses with `message` unless `user`'s current membership is one of `allowed`.
    async fn require_membership(
        &self,
        room_id: &RoomId,
        user: &UserId,
        allowed: &[&str],
        message: &str,
    ) -> ServiceResult<()> {
        let membership = self.context.storage.memberships.get(room_id, user).await?;
        if membership.is_some_and(|m| allowed.contains(&m.membership.as_str())) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(message.to_owned()))
        }
    }

    /// Whether the local user exists; an application service whose namespace holds an
    /// unknown one is asked first, and may create it (a ghost about to be invited).
    pub(crate) async fn is_local_user(&self, user_id: &UserId) -> ServiceResult<bool> {
        if crate::accounts::is_active_local_user(&self.context, user_id).await? {
            return Ok(true);
        }
        if self.context.appservices.claims_user(user_id)
            && self.context.storage.users.get(user_id).await?.is_none()
            && self.appservice_queries.user_exists(user_id).await
        {
            return crate::accounts::is_active_local_user(&self.context, user_id).await;
        }
        Ok(false)
    }

    /// `m.room.member` content for `user`, carrying their profile as other servers do.
    pub(crate) async fn member_content(
        &self,
        membership: &str,
        user: &UserId,
        reason: Option<&str>,
    ) -> ServiceResult<JsonValue> {
        let mut content = json!({"membership": membership});
        if matches!(membership, "join" | "invite") {
            let profile = self.context.storage.profiles.get_all(user).await?;
            for field in ["displayname", "avatar_url"] {
                if let Some(value) = profile.get(field) {
                    content[field] = value.clone();
                }
            }
        }
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        Ok(content)
    }

    async fn set_membership(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        target: &UserId,
        membership: &str,
        reason: Option<&str>,
    ) -> ServiceResult<OwnedEventId> {
        let content = self.member_content(membership, target, reason).await?;
        let draft = EventDraft::state(TimelineEventType::RoomMember, target.as_str(), content);
        Ok(self
            .append(room_id, &requester.user_id, draft, None)
            .await?
            .event_id)
    }

    /// Joins a room: locally when this server is in it, otherwise through a resident server
    /// (`via`, the servers of its members, the inviter's, the room ID's).
    pub async fn join(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        via: &[OwnedServerName],
    ) -> ServiceResult<OwnedEventId> {
        let current = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if let Some(current) = &current {
            if current.membership == "join" {
                return Ok(current.event_id.clone());
            }
        }
        let known = self.context.storage.rooms.get(room_id).await?.is_some();
        let residents = if known {
            self.servers_in_room(room_id).await?
        } else {
            Vec::new()
        };
        if known && (residents.is_empty() || residents.contains(&self.context.server_name)) {
            return self
                .set_membership(requester, room_id, &requester.user_id, "join", None)
                .await;
        }
        let mut servers: Vec<OwnedServerName> = via.to_vec();
        servers.extend(residents);
        if let Some(inviter) = self.inviting_server(current.as_ref()).await? {
            servers.push(inviter);
        }
        servers.extend(room_id.server_name().map(ToOwned::to_owned));
        let mut seen = std::collections::HashSet::new();
        servers.retain(|server| seen.insert(server.clone()));
        if servers.is_empty() || self.context.config.federation.listen.is_none() {
            return Err(ServiceError::NotFound(format!("Room {room_id} not found")));
        }
        self.join_remote(&requester.user_id, room_id, &servers)
            .await
            .map_err(|e| e.unavailable_as_not_found(format_args!("Room {room_id}")))
    }

    /// The server of whoever invited (or let knock) a user, from their membership event.
    async fn inviting_server(
        &self,
        membership: Option<&estafette_storage::MembershipRecord>,
    ) -> ServiceResult<Option<OwnedServerName>> {
        let Some(membership) = membership.filter(|m| m.membership == "invite") else {
            return Ok(None);
        };
        Ok(self
            .pdu(&membership.event_id)
            .await?
            .map(|invite| invite.sender.server_name().to_owned()))
    }

    pub async fn invite(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ServiceResult<()> {
        if target.server_name() != self.context.server_name {
            return self
                .invite_remote(&requester.user_id, room_id, target, reason, None)
                .await;
        }
        if !self.is_local_user(target).await? {
            return Err(ServiceError::NotFound(format!("Unknown user {target}")));
        }
        self.set_membership(requester, room_id, target, "invite", reason)
            .await
            .map(drop)
    }

    /// Invites `target` as the holder of the address an email invitation went to: the
    /// inviter's event, carrying the invitation `signed` by the identity service, authorised
    /// against the room's `m.room.third_party_invite` (still there: not revoked).
    pub(crate) async fn invite_by_third_party(
        &self,
        room_id: &RoomId,
        inviter: &UserId,
        target: &UserId,
        third_party_invite: JsonValue,
    ) -> ServiceResult<()> {
        if target.server_name() != self.context.server_name {
            return self
                .invite_remote(
                    inviter,
                    room_id,
                    target,
                    None,
                    Some(json!({"third_party_invite": third_party_invite})),
                )
                .await;
        }
        let mut content = self.member_content("invite", target, None).await?;
        content["third_party_invite"] = third_party_invite;
        let draft = EventDraft::state(TimelineEventType::RoomMember, target.as_str(), content);
        self.append(room_id, inviter, draft, None).await.map(drop)
    }

    /// The content of the room's current `m.room.third_party_invite` for `token`: empty once
    /// revoked, `None` if there never was one.
    pub(crate) async fn third_party_invite(
        &self,
        room_id: &RoomId,
        token: &str,
    ) -> ServiceResult<Option<JsonValue>> {
        let (state, _) = self.current_state(room_id).await?;
        self.state_content(&state, StateEventType::RoomThirdPartyInvite, token)
            .await
    }

    pub async fn leave(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        reason: Option<&str>,
    ) -> ServiceResult<()> {
        // Declining an invite to a room this server is not in goes through the inviter's.
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if !self.is_resident(room_id).await? {
            if let Some(inviter) = self.inviting_server(membership.as_ref()).await? {
                return self
                    .leave_remote(&requester.user_id, room_id, &inviter)
                    .await;
            }
        }
        self.room_rules(room_id).await?;
        self.require_membership(
            room_id,
            &requester.user_id,
            IN_ROOM,
            "You are not in this room",
        )
        .await?;
        if membership.as_ref().is_some_and(|m| m.membership == "join") {
            self.promote_successors(requester, room_id).await?;
        }
        self.set_membership(requester, room_id, &requester.user_id, "leave", reason)
            .await
            .map(drop)
    }

    pub async fn kick(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ServiceResult<()> {
        self.require_membership(
            room_id,
            target,
            IN_ROOM,
            &format!("{target} is not in this room"),
        )
        .await?;
        self.set_membership(requester, room_id, target, "leave", reason)
            .await
            .map(drop)
    }

    pub async fn ban(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ServiceResult<()> {
        self.set_membership(requester, room_id, target, "ban", reason)
            .await
            .map(drop)
    }

    pub async fn unban(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ServiceResult<()> {
        let message = format!("{target} is not banned from this room");
        self.require_membership(room_id, target, &["ban"], &message)
            .await?;
        self.set_membership(requester, room_id, target, "leave", reason)
            .await
            .map(drop)
    }

    /// A user's new name or avatar: a new member event in every room they are in. A room
    /// refusing it (a lost power, say) does not stop the others.
    pub async fn show_new_profile(&self, requester: &Requester) -> ServiceResult<()> {
        let user = &requester.user_id;
        for membership in self.context.storage.memberships.of_user(user).await? {
            if membership.membership != "join" {
                continue;
            }
            let room_id = &membership.room_id;
            if let Err(e) = self
                .set_membership(requester, room_id, user, "join", None)
                .await
            {
                tracing::info!(%room_id, %user, "the new profile was not shown: {e}");
            }
        }
        Ok(())
    }

    /// Asks to join a room whose join rule is `knock`: locally when this server is in the
    /// room, otherwise through `via` (or the room ID's server).
    pub async fn knock(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        reason: Option<&str>,
        via: &[OwnedServerName],
    ) -> ServiceResult<()> {
        if self.is_resident(room_id).await? || via.is_empty() && room_id.server_name().is_none() {
            return self
                .set_membership(requester, room_id, &requester.user_id, "knock", reason)
                .await
                .map(drop);
        }
        let mut servers = via.to_vec();
        servers.extend(room_id.server_name().map(ToOwned::to_owned));
        self.knock_remote(&requester.user_id, room_id, reason, &servers)
            .await
            .map_err(|e| e.unavailable_as_not_found(format_args!("Room {room_id}")))
    }

    /// `/forget`: a room the user has left disappears from their view.
    pub async fn forget(&self, requester: &Requester, room_id: &RoomId) -> ServiceResult<()> {
        self.room_rules(room_id).await?;
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if membership
            .as_ref()
            .is_some_and(|m| IN_ROOM.contains(&m.membership.as_str()))
        {
            return Err(ServiceError::Unknown(
                "Leave the room before forgetting it".into(),
            ));
        }
        self.context
            .storage
            .memberships
            .forget(room_id, &requester.user_id)
            .await?;
        Ok(())
    }

    /// Sends a message-like event; retries with the same transaction ID return the same event.
    pub async fn send_message(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        kind: TimelineEventType,
        content: JsonValue,
        txn_id: &str,
    ) -> ServiceResult<OwnedEventId> {
        self.send_message_at(
            requester,
            room_id,
            EventDraft::message(kind, content),
            txn_id,
        )
        .await
    }

    /// [`Self::send_message`] of a draft that may carry an application service's timestamp.
    pub async fn send_message_at(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        draft: EventDraft,
        txn_id: &str,
    ) -> ServiceResult<OwnedEventId> {
        let kind = &draft.kind;
        let txn = Txn {
            device_id: &requester.device_id,
            scope: format!("send/{room_id}/{kind}"),
            txn_id,
        };
        let pdu = self
            .append(room_id, &requester.user_id, draft, Some(txn))
            .await?;
        Ok(pdu.event_id)
    }

    /// Sends a state event. Membership changes go through their own endpoints.
    pub async fn send_state(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        kind: TimelineEventType,
        state_key: &str,
        content: JsonValue,
    ) -> ServiceResult<OwnedEventId> {
        self.send_state_at(
            requester,
            room_id,
            EventDraft::state(kind, state_key, content),
        )
        .await
    }

    /// [`Self::send_state`] of a draft that may carry an application service's timestamp.
    /// A member's own `join` over `join` (a per-room name or avatar, which bridges set this
    /// way) is the one membership event taken here.
    pub async fn send_state_at(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        draft: EventDraft,
    ) -> ServiceResult<OwnedEventId> {
        let kind = draft.kind.clone();
        let state_key = draft.state_key.clone().unwrap_or_default();
        let state_key = state_key.as_str();
        let content = &draft.content;
        if kind == TimelineEventType::RoomMember
            && state_key == requester.user_id.as_str()
            && content["membership"] == "join"
            && self
                .context
                .storage
                .memberships
                .get(room_id, &requester.user_id)
                .await?
                .is_some_and(|m| m.membership == "join")
        {
            let pdu = self
                .append(room_id, &requester.user_id, draft, None)
                .await?;
            return Ok(pdu.event_id);
        }
        if kind == TimelineEventType::RoomMember {
            return Err(ServiceError::Forbidden(
                "Use the membership endpoints to change membership".into(),
            ));
        }
        if kind == TimelineEventType::RoomCreate {
            return Err(ServiceError::Forbidden(
                "A room has exactly one create event".into(),
            ));
        }
        if kind == TimelineEventType::RoomCanonicalAlias {
            self.check_canonical_alias(room_id, content).await?;
        }
        // An email invitation revoked (its event emptied) invites nobody any more.
        let revoked = kind == TimelineEventType::RoomThirdPartyInvite
            && content.as_object().is_some_and(|c| c.is_empty());
        let pdu = self
            .append(room_id, &requester.user_id, draft, None)
            .await?;
        if revoked {
            self.context
                .storage
                .email_invitations
                .take(state_key)
                .await?;
        }
        Ok(pdu.event_id)
    }
}
