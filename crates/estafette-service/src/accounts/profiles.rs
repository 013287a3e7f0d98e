//! Profiles: `displayname`, `avatar_url` and the custom fields of Matrix 1.16.

use std::collections::BTreeMap;
use std::sync::Arc;

use ruma::UserId;
use serde_json::Value as JsonValue;

use crate::limits::MAX_SEARCH_TERM_BYTES;
use crate::policy::access_rules::is_external_under_rules;
use crate::{Context, Requester, ServiceError, ServiceResult};

/// The spec caps a whole profile at 64 KiB and a field name at 255 bytes.
const MAX_PROFILE_BYTES: usize = 65_536;
const MAX_FIELD_NAME_BYTES: usize = 255;
const MAX_DISPLAY_NAME_CHARS: usize = 256;

#[derive(Clone)]
pub struct ProfileService {
    context: Arc<Context>,
    federation: crate::FederationService,
    /// A new name or avatar is shown in the rooms the user is in.
    rooms: crate::RoomService,
}

/// The profile fields every room member event carries.
const MEMBER_FIELDS: [&str; 2] = ["displayname", "avatar_url"];

impl ProfileService {
    pub(crate) fn new(
        context: Arc<Context>,
        federation: crate::FederationService,
        rooms: crate::RoomService,
    ) -> Self {
        Self {
            context,
            federation,
            rooms,
        }
    }

    fn is_remote(&self, user_id: &UserId) -> bool {
        user_id.server_name() != self.context.server_name
    }

    /// Another server's user's profile, asked of that server.
    async fn remote(&self, user_id: &UserId) -> ServiceResult<BTreeMap<String, JsonValue>> {
        use ruma::api::federation::query::get_profile_information;
        let request = get_profile_information::v1::Request::new(user_id.to_owned());
        let response = self
            .federation
            .send(user_id.server_name(), request)
            .await
            .map_err(|err| {
                err.unavailable_as_not_found(format_args!("The profile of {user_id}"))
            })?;
        Ok(response.data.into_iter().collect())
    }

    async fn ensure_local_user(&self, user_id: &UserId) -> ServiceResult<()> {
        let exists = crate::accounts::is_active_local_user(&self.context, user_id).await?;
        if exists {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Profile not found".into()))
        }
    }

    /// A profile, of a local user or (over federation) of another server's user.
    pub async fn get(&self, user_id: &UserId) -> ServiceResult<BTreeMap<String, JsonValue>> {
        if self.is_remote(user_id) {
            return self.remote(user_id).await;
        }
        self.get_local(user_id).await
    }

    /// A local user's profile, as this server answers other servers.
    pub async fn get_local(&self, user_id: &UserId) -> ServiceResult<BTreeMap<String, JsonValue>> {
        self.ensure_local_user(user_id).await?;
        Ok(self.context.storage.profiles.get_all(user_id).await?)
    }

    pub async fn get_field(&self, user_id: &UserId, field: &str) -> ServiceResult<JsonValue> {
        if self.is_remote(user_id) {
            let profile = self.remote(user_id).await?;
            return profile
                .get(field)
                .cloned()
                .ok_or_else(|| ServiceError::NotFound(format!("The profile has no {field}")));
        }
        self.ensure_local_user(user_id).await?;
        self.context
            .storage
            .profiles
            .get_field(user_id, field)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("The profile has no {field}")))
    }

    /// Sets (or with `None`, removes) a field of the requester's own profile.
    pub async fn set_field(
        &self,
        requester: &Requester,
        user_id: &UserId,
        field: &str,
        value: Option<JsonValue>,
    ) -> ServiceResult<()> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You cannot change another user's profile".into(),
            ));
        }
        if field.len() > MAX_FIELD_NAME_BYTES {
            return Err(ServiceError::KeyTooLarge(
                "Profile field names are limited to 255 bytes".into(),
            ));
        }
        // Bridged users' names come from the other network (BRIDGES.md §3.5).
        if field == "displayname"
            && self.context.config.policy.lock_displayname
            && !self.context.appservices.is_appservice_user(user_id)
        {
            return Err(ServiceError::Forbidden(
                "Display names are set by this server and cannot be changed".into(),
            ));
        }
        if let Some(value) = &value {
            validate_field(field, value)?;
            let mut profile = self.context.storage.profiles.get_all(user_id).await?;
            profile.insert(field.to_owned(), value.clone());
            if serde_json::to_vec(&profile)
                .map(|v| v.len())
                .unwrap_or(usize::MAX)
                > MAX_PROFILE_BYTES
            {
                return Err(ServiceError::ProfileTooLarge(
                    "The profile would exceed 64 KiB".into(),
                ));
            }
        }
        self.context
            .storage
            .profiles
            .set_field(user_id, field, value.as_ref())
            .await?;
        if MEMBER_FIELDS.contains(&field) {
            self.rooms.show_new_profile(requester).await?;
        }
        Ok(())
    }
}

/// One result of the user directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub user_id: ruma::OwnedUserId,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

impl ProfileService {
    /// `/user_directory/search`: users who share a room with the requester or are in a
    /// published room, by ID or display name. Returns whether more matched than `limit`.
    pub async fn search_users(
        &self,
        requester: &Requester,
        term: &str,
        limit: u32,
    ) -> ServiceResult<(Vec<DirectoryUser>, bool)> {
        let limit = limit.clamp(1, 100);
        let term = crate::limits::bounded("The search term", term, MAX_SEARCH_TERM_BYTES)?;
        let term = term.trim().to_lowercase();
        let found = self
            .context
            .storage
            .memberships
            .search_users(&requester.user_id, &term, limit + 1)
            .await?;
        let limited = found.len() > limit as usize;
        let mut users = Vec::new();
        for (user_id, display_name, avatar_url) in found.into_iter().take(limit as usize) {
            if !self.hidden_from_directory(&user_id).await? {
                users.push(DirectoryUser {
                    user_id,
                    display_name,
                    avatar_url,
                });
            }
        }
        Ok((users, limited))
    }

    /// Who the user directory does not show (TCHAP.md §7): externals under the room access
    /// rules, and, of this server's users, those who asked to be hidden
    /// (`im.vector.hide_profile`), whose account expired, or who left for good.
    async fn hidden_from_directory(&self, user_id: &ruma::UserId) -> ServiceResult<bool> {
        let config = &self.context.config;
        if is_external_under_rules(&self.context, user_id.as_str()) {
            return Ok(true);
        }
        if user_id.server_name() != self.context.server_name {
            return Ok(false);
        }
        let storage = &self.context.storage;
        if storage
            .users
            .get(user_id)
            .await?
            .is_none_or(|user| user.deactivated)
        {
            return Ok(true);
        }
        if config.account_validity.enabled
            && let Some(validity) = storage.account_validity.get(user_id).await?
            && validity.expiration_ts <= self.context.now()
        {
            return Ok(true);
        }
        let hide = storage
            .account_data
            .get(user_id, None, HIDE_PROFILE)
            .await?
            .and_then(|json| serde_json::from_str::<JsonValue>(&json).ok());
        Ok(hide.is_some_and(|content| content["hide_profile"] == true))
    }
}

/// The account data by which a user asks to be left out of the user directory.
const HIDE_PROFILE: &str = "im.vector.hide_profile";

fn validate_field(field: &str, value: &JsonValue) -> ServiceResult<()> {
    match field {
        "displayname" => match value.as_str() {
            Some(name) if name.chars().count() <= MAX_DISPLAY_NAME_CHARS => Ok(()),
            Some(_) => Err(ServiceError::InvalidParam(format!(
                "Display names are limited to {MAX_DISPLAY_NAME_CHARS} characters"
            ))),
            None => Err(ServiceError::BadJson("displayname must be a string".into())),
        },
        "avatar_url" => match value.as_str() {
            Some(url) if url.is_empty() || url.starts_with("mxc://") => Ok(()),
            _ => Err(ServiceError::BadJson(
                "avatar_url must be an mxc:// URI".into(),
            )),
        },
        _ => Ok(()),
    }
}
