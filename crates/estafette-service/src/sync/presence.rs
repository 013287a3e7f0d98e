//! Presence: `online`, `unavailable`, `offline` and a status message. Only changes of state or
//! message wake other users' syncs; mere activity updates `last_active` silently, so that
//! presence stays cheap enough to leave on in large rooms.

use std::sync::Arc;

use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use crate::{Context, Requester, ServiceError, ServiceResult};

/// A user counts as currently active this long after their last activity.
const ACTIVE_WINDOW_MS: u64 = 5 * 60_000;
/// Activity is recorded at most this often per user: every `/sync` is activity, and a write
/// per long-poll woken by a message in a large room would be a write per member (Synapse
/// keeps the same granularity).
const LAST_ACTIVE_GRANULARITY_MS: u64 = 60_000;
const STATES: [&str; 3] = ["online", "unavailable", "offline"];

/// A user's presence as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceInfo {
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ago: Option<u64>,
    pub currently_active: bool,
}

#[derive(Clone)]
pub struct PresenceService {
    context: Arc<Context>,
    /// Presence of local users goes to the servers that share a room with them.
    sender: crate::FederationSender,
}

impl PresenceService {
    pub(crate) fn new(context: Arc<Context>, sender: crate::FederationSender) -> Self {
        Self { context, sender }
    }

    /// `PUT /presence/{userId}/status`
    pub async fn set(
        &self,
        requester: &Requester,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
    ) -> ServiceResult<()> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You can only set your own presence".into(),
            ));
        }
        if !STATES.contains(&state) {
            return Err(ServiceError::InvalidParam(format!(
                "Unknown presence state {state}"
            )));
        }
        self.store(user_id, state, status_msg).await
    }

    /// Records another server's user's presence, as their server reported it.
    pub(crate) async fn apply_remote(
        &self,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
    ) -> ServiceResult<()> {
        if !STATES.contains(&state) {
            return Err(ServiceError::InvalidParam(format!(
                "Unknown presence state {state}"
            )));
        }
        self.store(user_id, state, status_msg).await
    }

    async fn store(
        &self,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
    ) -> ServiceResult<()> {
        let now = self.context.now();
        let position = self
            .context
            .storage
            .presence
            .set(user_id, state, status_msg, now)
            .await?;
        self.context.notify_room_mates(user_id, position).await?;
        self.sender.presence(user_id, state, status_msg).await
    }

    /// Called by `/sync` with its `set_presence` (default `online`).
    pub async fn sync_activity(
        &self,
        user_id: &UserId,
        set_presence: Option<&str>,
    ) -> ServiceResult<()> {
        let wanted = set_presence.unwrap_or("online");
        if wanted == "offline" || !STATES.contains(&wanted) {
            return Ok(());
        }
        match self.context.storage.presence.get(user_id).await? {
            Some(current) if current.state == wanted => {
                let now = self.context.now();
                if now.saturating_sub(current.last_active_ts) >= LAST_ACTIVE_GRANULARITY_MS {
                    self.context.storage.presence.touch(user_id, now).await?;
                }
                Ok(())
            }
            current => {
                self.store(
                    user_id,
                    wanted,
                    current.and_then(|c| c.status_msg).as_deref(),
                )
                .await
            }
        }
    }

    /// `GET /presence/{userId}/status`: for users who share a room with the requester.
    pub async fn get(
        &self,
        requester: &Requester,
        user_id: &UserId,
    ) -> ServiceResult<PresenceInfo> {
        // Other servers' users' presence comes from their servers, for those sharing a room.
        let local = user_id.server_name() == self.context.server_name;
        if local && !crate::accounts::is_active_local_user(&self.context, user_id).await? {
            return Err(ServiceError::NotFound(format!("Unknown user {user_id}")));
        }
        let visible = self
            .context
            .storage
            .memberships
            .users_sharing_rooms_with(&requester.user_id)
            .await?;
        if !visible.iter().any(|u| u == user_id) {
            return Err(ServiceError::Forbidden(
                "You do not share a room with this user".into(),
            ));
        }
        Ok(self.info(user_id).await?)
    }

    async fn info(&self, user_id: &UserId) -> ServiceResult<PresenceInfo> {
        let now = self.context.now();
        Ok(match self.context.storage.presence.get(user_id).await? {
            Some(record) => {
                let ago = now.saturating_sub(record.last_active_ts);
                PresenceInfo {
                    currently_active: record.state == "online" && ago < ACTIVE_WINDOW_MS,
                    state: record.state,
                    status_msg: record.status_msg,
                    last_active_ago: Some(ago),
                }
            }
            None => PresenceInfo {
                state: "offline".into(),
                status_msg: None,
                last_active_ago: None,
                currently_active: false,
            },
        })
    }

    /// `m.presence` events of users sharing a room with `user_id` that changed after `since`.
    pub async fn events_since(
        &self,
        user_id: &UserId,
        since: i64,
    ) -> ServiceResult<Vec<JsonValue>> {
        let changed = self
            .context
            .storage
            .presence
            .changed_since(user_id, since)
            .await?;
        let mut events = Vec::with_capacity(changed.len());
        for record in changed {
            let info = self.info(&record.user_id).await?;
            let mut content =
                json!({"presence": info.state, "currently_active": info.currently_active});
            if let Some(ago) = info.last_active_ago {
                content["last_active_ago"] = json!(ago);
            }
            if let Some(message) = info.status_msg {
                content["status_msg"] = json!(message);
            }
            let profile = self
                .context
                .storage
                .profiles
                .get_all(&record.user_id)
                .await?;
            for (field, key) in [("displayname", "displayname"), ("avatar_url", "avatar_url")] {
                if let Some(value) = profile.get(field) {
                    content[key] = value.clone();
                }
            }
            events
                .push(json!({"type": "m.presence", "sender": record.user_id, "content": content}));
        }
        Ok(events)
    }
}
