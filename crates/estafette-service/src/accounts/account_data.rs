//! Per-user configuration that clients store on the server, globally or per room.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use serde_json::value::RawValue as RawJsonValue;
use serde_json::{Map, Value as JsonValue, json};

use crate::{Context, Requester, ServiceError, ServiceResult};

/// Types the server manages itself; clients may read but not write them here.
const SERVER_MANAGED_GLOBAL: &[&str] = &["m.push_rules"];
const SERVER_MANAGED_ROOM: &[&str] = &["m.fully_read"];

/// The room account data that holds a user's tags for the room.
const TAGS: &str = "m.tag";
/// The spec bounds tag names at 255 bytes.
const MAX_TAG_BYTES: usize = 255;

#[derive(Clone)]
pub struct AccountDataService {
    context: Arc<Context>,
    /// Tag changes read, change and write the room's `m.tag`: one at a time.
    tag_writes: Arc<tokio::sync::Mutex<()>>,
}

impl AccountDataService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            tag_writes: Arc::default(),
        }
    }

    fn ensure_own(requester: &Requester, user_id: &UserId, verb: &str) -> ServiceResult<()> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(format!(
                "You cannot {verb} another user's account data"
            )));
        }
        Ok(())
    }

    pub async fn set(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content: &RawJsonValue,
    ) -> ServiceResult<()> {
        Self::ensure_own(requester, user_id, "change")?;
        let managed = if room_id.is_some() {
            SERVER_MANAGED_ROOM
        } else {
            SERVER_MANAGED_GLOBAL
        };
        if managed.contains(&data_type) {
            return Err(ServiceError::ServerManaged(format!(
                "Cannot set {data_type} through this API; the server manages it"
            )));
        }
        if !content.get().trim_start().starts_with('{') {
            return Err(ServiceError::BadJson(
                "Account data content must be a JSON object".into(),
            ));
        }
        let now = self.context.now();
        let position = self
            .context
            .storage
            .account_data
            .set(user_id, room_id, data_type, content.get(), now)
            .await?;
        self.context
            .notifier
            .notify(&[user_id.to_owned()], position);
        Ok(())
    }

    pub async fn get(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> ServiceResult<Box<RawJsonValue>> {
        Self::ensure_own(requester, user_id, "read")?;
        let json = self
            .context
            .storage
            .account_data
            .get(user_id, room_id, data_type)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No account data of type {data_type}"))
            })?;
        RawJsonValue::from_string(json)
            .map_err(|e| ServiceError::Internal(format!("stored account data: {e}")))
    }

    /// `GET /user/{userId}/rooms/{roomId}/tags`: the user's tags for the room.
    pub async fn tags(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> ServiceResult<Map<String, JsonValue>> {
        Self::ensure_own(requester, user_id, "read")?;
        self.stored_tags(user_id, room_id).await
    }

    /// `PUT /user/{userId}/rooms/{roomId}/tags/{tag}`: adds or replaces a tag.
    pub async fn set_tag(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
        tag: &str,
        info: JsonValue,
    ) -> ServiceResult<()> {
        Self::ensure_own(requester, user_id, "change")?;
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(ServiceError::InvalidParam(format!(
                "A tag has 1 to {MAX_TAG_BYTES} bytes"
            )));
        }
        if !info.is_object() {
            return Err(ServiceError::BadJson("A tag's content is an object".into()));
        }
        self.change_tags(user_id, room_id, |tags| {
            tags.insert(tag.to_owned(), info);
        })
        .await
    }

    /// `DELETE /user/{userId}/rooms/{roomId}/tags/{tag}`; removing an absent tag is fine.
    pub async fn delete_tag(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
        tag: &str,
    ) -> ServiceResult<()> {
        Self::ensure_own(requester, user_id, "change")?;
        self.change_tags(user_id, room_id, |tags| {
            tags.remove(tag);
        })
        .await
    }

    async fn stored_tags(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> ServiceResult<Map<String, JsonValue>> {
        let stored = self
            .context
            .storage
            .account_data
            .get(user_id, Some(room_id), TAGS)
            .await?;
        Ok(stored
            .and_then(|json| serde_json::from_str::<JsonValue>(&json).ok())
            .and_then(|content| content.get("tags")?.as_object().cloned())
            .unwrap_or_default())
    }

    /// Changes the room's `m.tag` and wakes the user's syncs, which carry it.
    async fn change_tags(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        change: impl FnOnce(&mut Map<String, JsonValue>),
    ) -> ServiceResult<()> {
        let _one_at_a_time = self.tag_writes.lock().await;
        let mut tags = self.stored_tags(user_id, room_id).await?;
        change(&mut tags);
        let content = json!({"tags": tags}).to_string();
        let position = self
            .context
            .storage
            .account_data
            .set(user_id, Some(room_id), TAGS, &content, self.context.now())
            .await?;
        self.context
            .notifier
            .notify(&[user_id.to_owned()], position);
        Ok(())
    }
}
