//! Invitations to rooms sent to email addresses (the spec's third-party invites, TCHAP.md §3):
//! the room gets an `m.room.third_party_invite` (its state key a token, the identity service's
//! public key in it), the address an email; once the address is bound to an account of this
//! server, the invitation becomes that account's invite, signed by the identity service. An
//! invitation expires, and the inviter revokes it by emptying its event.

use std::sync::Arc;

use estafette_storage::EmailInvitation;
use ruma::events::TimelineEventType;
use ruma::{CanonicalJsonObject, RoomId, UserId};
use serde_json::json;

use super::exchange::SignedInvite;
use super::{IDENTITY_KEY_ID, IdentityService};
use crate::accounts::is_active_local_user;
use crate::email::{Email, EmailService};
use crate::policy::access_rules::AccessRule;
use crate::policy::{EmailAddress, PolicyService};
use crate::{Context, FederationService, Requester, RoomService, ServiceError, ServiceResult};

/// An invitation kept by the identity service: its token (the state key of the room's
/// `m.room.third_party_invite`), the address as members see it, and the key that signs it.
#[derive(Debug, Clone)]
pub struct StoredInvitation {
    pub token: String,
    pub display_name: String,
    pub public_key: String,
    pub key_validity_url: String,
}

impl StoredInvitation {
    /// The content of the room's `m.room.third_party_invite`.
    pub fn event_content(&self) -> serde_json::Value {
        json!({
            "display_name": self.display_name,
            "key_validity_url": self.key_validity_url,
            "public_key": self.public_key,
            "public_keys": [{"public_key": self.public_key, "key_validity_url": self.key_validity_url}],
        })
    }
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const DEFAULT_VALIDITY_DAYS: u64 = 7;
/// Where the link of an invitation email leads, on the client listener.
pub const INVITATION_PATH: &str = "/_matrix/client/unstable/estafette/invitation";

#[derive(Clone)]
pub struct InvitationService {
    pub(super) context: Arc<Context>,
    pub(super) rooms: RoomService,
    email: EmailService,
    identity: IdentityService,
    policy: PolicyService,
    pub(super) federation: FederationService,
}

impl InvitationService {
    pub(crate) fn new(
        context: Arc<Context>,
        rooms: RoomService,
        email: EmailService,
        identity: IdentityService,
        policy: PolicyService,
        federation: FederationService,
    ) -> Self {
        Self {
            context,
            rooms,
            email,
            identity,
            policy,
            federation,
        }
    }

    /// `POST /rooms/{roomId}/invite` with an email address: the account it is bound to is
    /// invited; otherwise the room gets an `m.room.third_party_invite` and the address an
    /// email. `id_server` must be this server, and `id_access_token` the requester's.
    pub async fn invite_by_email(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        id_server: &str,
        id_access_token: &str,
        address: &str,
    ) -> ServiceResult<()> {
        if !self.identity.is_this_server(id_server) {
            return Err(ServiceError::Forbidden(format!(
                "{id_server} is not this server's identity service, the only one it invites with"
            )));
        }
        if self.identity.authenticate(id_access_token).await? != requester.user_id {
            return Err(ServiceError::Forbidden(
                "The identity access token is not yours".to_owned(),
            ));
        }
        let address = EmailAddress::parse(address)?;
        self.check_invitable(room_id, &address).await?;
        let storage = &self.context.storage;
        if let Some(owner) = storage.threepids.owner("email", address.as_str()).await?
            && is_active_local_user(&self.context, &owner).await?
        {
            return self.rooms.invite(requester, room_id, &owner, None).await;
        }
        // Bound at the server of the federation the address belongs to.
        if let Some(owner) = self.policy.bound_elsewhere(&address).await? {
            return self.rooms.invite(requester, room_id, &owner, None).await;
        }
        let invitation = self.prepare(&address)?;
        self.rooms
            .send_state(
                requester,
                room_id,
                TimelineEventType::RoomThirdPartyInvite,
                &invitation.token,
                invitation.event_content(),
            )
            .await?;
        self.store_and_email(&requester.user_id, room_id, &address, &invitation)
            .await
    }

    /// Under the room access rules, a restricted room invites no address the rules send to
    /// an externals' server.
    async fn check_invitable(&self, room_id: &RoomId, address: &EmailAddress) -> ServiceResult<()> {
        let policy = &self.context.config.policy;
        if !policy.room_access_rules
            || self.rooms.access_rule(room_id).await? != AccessRule::Restricted
        {
            return Ok(());
        }
        let home = self.policy.route(address.as_str())?.hs;
        if policy.external_servers.contains(&home) {
            return Err(ServiceError::Forbidden(format!(
                "Refused by the room's access rules: {address} belongs to an external, and \
                 this room is restricted to the State's agents"
            )));
        }
        Ok(())
    }

    /// `POST /_matrix/identity/v2/store-invite`: the caller's homeserver puts the room's
    /// `m.room.third_party_invite` itself; this service keeps the invitation and emails it.
    pub async fn store_invite(
        &self,
        caller: &UserId,
        sender: &UserId,
        room_id: &RoomId,
        address: &str,
    ) -> ServiceResult<StoredInvitation> {
        if caller != sender {
            return Err(ServiceError::Forbidden(format!(
                "{caller} may store their own invitations, not {sender}'s"
            )));
        }
        let address = EmailAddress::parse(address)?;
        if self
            .context
            .storage
            .threepids
            .owner("email", address.as_str())
            .await?
            .is_some()
        {
            return Err(ServiceError::ThreepidInUse(format!(
                "{address} is bound to an account: invite the account"
            )));
        }
        let invitation = self.prepare(&address)?;
        self.store_and_email(sender, room_id, &address, &invitation)
            .await?;
        Ok(invitation)
    }

    /// A new invitation's token, and what the room's event says of it.
    fn prepare(&self, address: &EmailAddress) -> ServiceResult<StoredInvitation> {
        if !self.email.enabled() {
            return Err(ServiceError::Forbidden(
                "This server sends no email, so it cannot invite by email".to_owned(),
            ));
        }
        let base = self.context.config.base_url();
        Ok(StoredInvitation {
            token: self.context.random.alphanumeric(32),
            display_name: redacted(address),
            public_key: self
                .identity
                .public_key(IDENTITY_KEY_ID)
                .unwrap_or_default(),
            key_validity_url: format!("{base}/_matrix/identity/v2/pubkey/isvalid"),
        })
    }

    async fn store_and_email(
        &self,
        sender: &UserId,
        room_id: &RoomId,
        address: &EmailAddress,
        invitation: &StoredInvitation,
    ) -> ServiceResult<()> {
        let now = self.context.now();
        let days = match self.context.config.policy.invitation_validity_days {
            0 => DEFAULT_VALIDITY_DAYS,
            days => days,
        };
        let token = &invitation.token;
        self.context
            .storage
            .email_invitations
            .add(&EmailInvitation {
                token: token.clone(),
                room_id: room_id.to_owned(),
                sender: sender.to_owned(),
                address: address.to_string(),
                display_name: invitation.display_name.clone(),
                created_ts: now,
                expires_ts: now.saturating_add(days.saturating_mul(DAY_MS)),
            })
            .await?;
        let base = self.context.config.base_url();
        let text = format!(
            "{sender} invited you to a conversation on {}.\n\n\
             To see the invitation and how to join, open this link:\n\
             {base}{INVITATION_PATH}?token={token}\n\n\
             Register with this address ({address}) within {days} days: the invitation then \
             waits for you in your application.\n",
            self.context.server_name
        );
        self.email
            .send(Email {
                to: address,
                subject: "You are invited to a conversation",
                text: &text,
            })
            .await
    }

    /// The invitation a link names, while it waits: who invited, and the address.
    pub async fn pending(&self, token: &str) -> ServiceResult<Option<EmailInvitation>> {
        let invitations = &self.context.storage.email_invitations;
        Ok(invitations
            .pending_by_token(token, self.context.now())
            .await?)
    }

    /// Turns the invitations waiting for the addresses of `user_id` into invites to their
    /// rooms (after registering or binding an address), here and, told of the binding, at the
    /// other servers of the federation; how many here.
    pub async fn deliver(&self, user_id: &UserId) -> ServiceResult<usize> {
        let mut delivered = 0;
        for threepid in self.context.storage.threepids.of_user(user_id).await? {
            delivered += self.deliver_for(&threepid.address, user_id).await?;
            self.policy
                .announce_binding(&threepid.address, user_id)
                .await;
        }
        Ok(delivered)
    }

    /// Another server of the federation says `address` is now `user_id`'s: the invitations
    /// held here for it become their invites. Only the server the rules send the address to
    /// may say so, and only of its own users.
    pub async fn deliver_announced(
        &self,
        origin: &ruma::ServerName,
        address: &str,
        user_id: &UserId,
    ) -> ServiceResult<usize> {
        let address = EmailAddress::parse(address)?;
        if user_id.server_name() != origin || !self.policy.answers_for(&address, origin) {
            return Err(ServiceError::Forbidden(format!(
                "{origin} does not hold {address} for its users"
            )));
        }
        self.deliver_for(address.as_str(), user_id).await
    }

    /// The invitations held here for `address`, delivered to `user_id`.
    async fn deliver_for(&self, address: &str, user_id: &UserId) -> ServiceResult<usize> {
        let storage = &self.context.storage;
        let invitations = storage
            .email_invitations
            .pending_for(address, self.context.now())
            .await?;
        let mut delivered = 0;
        for invitation in invitations {
            let still = self
                .rooms
                .third_party_invite(&invitation.room_id, &invitation.token)
                .await?
                .is_some_and(|content| content.as_object().is_some_and(|c| !c.is_empty()));
            if !storage.email_invitations.take(&invitation.token).await? || !still {
                continue;
            }
            let signed = self.signed(user_id, &invitation)?;
            let invited = if user_id.server_name() == self.context.server_name {
                let third_party_invite =
                    json!({"display_name": invitation.display_name, "signed": signed});
                self.rooms
                    .invite_by_third_party(
                        &invitation.room_id,
                        &invitation.sender,
                        user_id,
                        third_party_invite,
                    )
                    .await
            } else {
                // The spec's way: the invitee's server asks for the invite.
                let invite = SignedInvite {
                    room_id: &invitation.room_id,
                    sender: &invitation.sender,
                    mxid: user_id,
                    signed,
                };
                self.notify_bind(address, invite).await
            };
            match invited {
                Ok(()) => delivered += 1,
                Err(e) => {
                    tracing::warn!(
                        room_id = %invitation.room_id,
                        %user_id,
                        "an email invitation could not become an invite: {e}"
                    );
                    // Kept for a later binding (or its expiry).
                    storage.email_invitations.add(&invitation).await?;
                }
            }
        }
        Ok(delivered)
    }

    /// The identity service's word that `user_id` holds the address invited with `token`.
    fn signed(
        &self,
        user_id: &UserId,
        invitation: &EmailInvitation,
    ) -> ServiceResult<serde_json::Value> {
        let mut signed: CanonicalJsonObject = serde_json::from_value(json!({
            "mxid": user_id,
            "sender": invitation.sender,
            "token": invitation.token,
        }))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        // The room's event names the server's key (any key ID matches it).
        let key = &self.context.server_key.key_pair;
        ruma::signatures::sign_json(self.context.server_name.as_str(), key, &mut signed)
            .map_err(|e| ServiceError::Internal(format!("cannot sign the invitation: {e}")))?;
        serde_json::to_value(signed).map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

/// What a room's members see of an invited address: enough to recognise it, not to harvest it.
fn redacted(address: &EmailAddress) -> String {
    let local = address.local();
    let shown: String = local.chars().take(3).collect();
    format!("{shown}…@{}", address.domain())
}
