//! The server's administrators at work (the Synapse-compatible admin API, SYNAPSE_ADMIN.md):
//! every call is a server admin's, checked here, and logged. Accounts, their devices, rooms
//! and their members and state, as operators' tools read them.
//!
//! Owns nothing of its own yet; reads accounts (users, profiles, devices, addresses) and rooms.

use std::sync::Arc;

use estafette_storage::{
    DeviceRecord, ListedUser, MembershipRecord, PusherRecord, Threepid, UserListQuery, UserRecord,
};
use ruma::events::StateEventType;
use ruma::{DeviceId, OwnedUserId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use crate::{AccountService, Context, Pdu, Requester, RoomService, ServiceError, ServiceResult};

/// One account in full, as an administrator reads it.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub listed: ListedUser,
    pub threepids: Vec<Threepid>,
}

#[derive(Clone)]
pub struct AdminService {
    context: Arc<Context>,
    rooms: RoomService,
    accounts: AccountService,
}

impl AdminService {
    pub(crate) fn new(context: Arc<Context>, rooms: RoomService, accounts: AccountService) -> Self {
        Self {
            context,
            rooms,
            accounts,
        }
    }

    /// Deactivates a local account (signed out, profile and account data gone); whether its
    /// addresses were unbound.
    pub async fn deactivate(&self, user_id: &UserId) -> ServiceResult<bool> {
        self.ensure_account(user_id).await?;
        self.accounts.deactivate_account(user_id).await
    }

    /// Sets a local account's password, without the password policy (as Synapse).
    pub async fn reset_password(
        &self,
        user_id: &UserId,
        password: String,
        logout_devices: bool,
    ) -> ServiceResult<()> {
        self.ensure_account(user_id).await?;
        self.accounts
            .set_password_by_admin(user_id, password, logout_devices)
            .await
    }

    /// Signs one device of a local account out (an unknown device is no error).
    pub async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> ServiceResult<()> {
        self.ensure_account(user_id).await?;
        self.accounts
            .remove_device_by_admin(user_id, device_id)
            .await?;
        Ok(())
    }

    /// Every room the local account has a membership in, with it.
    pub async fn memberships(&self, user_id: &UserId) -> ServiceResult<Vec<MembershipRecord>> {
        self.ensure_account(user_id).await?;
        Ok(self.context.storage.memberships.of_user(user_id).await?)
    }

    /// The local account's pushers.
    pub async fn pushers(&self, user_id: &UserId) -> ServiceResult<Vec<PusherRecord>> {
        self.ensure_account(user_id).await?;
        Ok(self.context.storage.pushers.of_user(user_id).await?)
    }

    /// Whether `requester` may read `user_id`'s connections: an administrator, or the user.
    pub async fn ensure_admin_or_self(
        &self,
        requester: &Requester,
        user_id: &UserId,
        what: &str,
    ) -> ServiceResult<()> {
        if requester.user_id == user_id {
            return Ok(());
        }
        self.ensure_admin(requester, what).await
    }

    /// Refused unless the requester's account is a server administrator's.
    pub async fn ensure_admin(&self, requester: &Requester, what: &str) -> ServiceResult<()> {
        let admin = self
            .context
            .storage
            .users
            .get(&requester.user_id)
            .await?
            .is_some_and(|user| user.is_admin && !user.deactivated);
        if !admin {
            return Err(ServiceError::Forbidden("You are not a server admin".into()));
        }
        tracing::info!(admin = %requester.user_id, "admin: {what}");
        Ok(())
    }

    /// A page of the accounts, and how many the query selects.
    pub async fn users(&self, query: &UserListQuery) -> ServiceResult<(Vec<ListedUser>, u64)> {
        Ok(self.context.storage.admin.users(query).await?)
    }

    /// A local account in full.
    pub async fn user(&self, user_id: &UserId) -> ServiceResult<AdminUser> {
        let user = self.ensure_account(user_id).await?;
        let storage = &self.context.storage;
        let text = |value: Option<JsonValue>| value.and_then(|v| v.as_str().map(str::to_owned));
        let devices = storage.devices.list(user_id).await?;
        let listed = ListedUser {
            user_id: user.user_id.clone(),
            display_name: text(storage.profiles.get_field(user_id, "displayname").await?),
            avatar_url: text(storage.profiles.get_field(user_id, "avatar_url").await?),
            is_admin: user.is_admin,
            deactivated: user.deactivated,
            created_ts: user.created_ts,
            last_seen_ts: devices.iter().filter_map(|d| d.last_seen_ts).max(),
        };
        Ok(AdminUser {
            listed,
            threepids: storage.threepids.of_user(user_id).await?,
        })
    }

    /// A local account's devices.
    pub async fn devices(&self, user_id: &UserId) -> ServiceResult<Vec<DeviceRecord>> {
        self.ensure_account(user_id).await?;
        Ok(self.context.storage.devices.list(user_id).await?)
    }

    /// The room as Synapse's admin API describes it (SYNAPSE_ADMIN.md §3.4).
    pub async fn room(&self, room_id: &RoomId) -> ServiceResult<JsonValue> {
        let not_found = || ServiceError::NotFound("Room not found".into());
        let record = self
            .context
            .storage
            .rooms
            .get(room_id)
            .await?
            .ok_or_else(not_found)?;
        let (state, _) = self
            .rooms
            .current_state(room_id)
            .await
            .map_err(|_| not_found())?;
        let content = |kind: StateEventType| self.rooms.state_content(&state, kind, "");
        let create = content(StateEventType::RoomCreate)
            .await?
            .unwrap_or_default();
        let name = content(StateEventType::RoomName).await?;
        let alias = content(StateEventType::RoomCanonicalAlias).await?;
        let topic = content(StateEventType::RoomTopic).await?;
        let avatar = content(StateEventType::RoomAvatar).await?;
        let encryption = content(StateEventType::RoomEncryption).await?;
        let join_rules = content(StateEventType::RoomJoinRules).await?;
        let guest_access = content(StateEventType::RoomGuestAccess).await?;
        let history = content(StateEventType::RoomHistoryVisibility).await?;
        let tombstone = content(StateEventType::RoomTombstone).await?;
        let members = self.joined_members(room_id).await?;
        let local: Vec<&OwnedUserId> = members
            .iter()
            .filter(|user| user.server_name() == self.context.server_name)
            .collect();
        let mut local_devices = 0;
        for user_id in &local {
            local_devices += self.context.storage.devices.list(user_id).await?.len();
        }
        let field = |content: &Option<JsonValue>, key: &str| {
            content
                .as_ref()
                .and_then(|c| c.get(key))
                .cloned()
                .unwrap_or(JsonValue::Null)
        };
        Ok(json!({
            "room_id": room_id,
            "name": field(&name, "name"),
            "topic": field(&topic, "topic"),
            "avatar": field(&avatar, "url"),
            "canonical_alias": field(&alias, "alias"),
            "joined_members": members.len(),
            "joined_local_members": local.len(),
            "joined_local_devices": local_devices,
            "version": record.room_version,
            "creator": record.creator,
            "encryption": field(&encryption, "algorithm"),
            "federatable": create.get("m.federate").and_then(JsonValue::as_bool).unwrap_or(true),
            "public": record.is_public,
            "join_rules": field(&join_rules, "join_rule"),
            "guest_access": field(&guest_access, "guest_access"),
            "history_visibility": field(&history, "history_visibility"),
            "state_events": state.len(),
            "room_type": field(&Some(create), "type"),
            "forgotten": false,
            "tombstoned": tombstone.is_some(),
            "replacement_room": field(&tombstone, "replacement_room"),
        }))
    }

    /// The room's joined members.
    pub async fn joined_members(&self, room_id: &RoomId) -> ServiceResult<Vec<OwnedUserId>> {
        self.context
            .storage
            .rooms
            .get(room_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Room not found".into()))?;
        self.rooms.joined_user_ids(room_id).await
    }

    /// The room's current state events.
    pub async fn room_state(&self, room_id: &RoomId) -> ServiceResult<Vec<Pdu>> {
        let (state, _) = self
            .rooms
            .current_state(room_id)
            .await
            .map_err(|_| ServiceError::NotFound("Room not found".into()))?;
        let mut pdus = Vec::with_capacity(state.len());
        for event_id in state.values() {
            if let Some(pdu) = self.rooms.pdu(event_id).await? {
                pdus.push(pdu);
            }
        }
        Ok(pdus)
    }

    /// The local account, or why there is none ("Can only look up local users", 404).
    async fn ensure_account(&self, user_id: &UserId) -> ServiceResult<UserRecord> {
        if user_id.server_name() != self.context.server_name {
            return Err(ServiceError::Unknown("Can only look up local users".into()));
        }
        self.context
            .storage
            .users
            .get(user_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("User not found".into()))
    }
}
