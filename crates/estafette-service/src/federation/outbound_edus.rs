//! The EDUs this server sends: typing, receipts, to-device messages for other servers' users,
//! and changes of local users' devices and cross-signing keys, each to the servers concerned.

use std::collections::BTreeMap;

use ruma::{DeviceId, EventId, OwnedServerName, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use crate::{FederationSender, ServiceResult};

impl FederationSender {
    /// The servers with a joined member in the room, this one included.
    pub(crate) async fn servers_in_room(
        &self,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<OwnedServerName>> {
        Ok(self
            .context
            .storage
            .memberships
            .joined_servers(room_id)
            .await?)
    }

    async fn servers_sharing_rooms_with(
        &self,
        user_id: &UserId,
    ) -> ServiceResult<Vec<OwnedServerName>> {
        Ok(self
            .context
            .storage
            .memberships
            .users_sharing_rooms_with(user_id)
            .await?
            .into_iter()
            .map(|user| user.server_name().to_owned())
            .collect())
    }

    /// Whether anything would go out at all (federation on, and a local user acting).
    fn sends_for(&self, user_id: &UserId) -> bool {
        self.context.config.federation.listen.is_some()
            && user_id.server_name() == self.context.server_name
    }

    pub(crate) async fn typing(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
    ) -> ServiceResult<()> {
        if !self.sends_for(user_id) {
            return Ok(());
        }
        let edu = json!({
            "edu_type": "m.typing",
            "content": {"room_id": room_id, "user_id": user_id, "typing": typing},
        });
        self.enqueue_edu(self.servers_in_room(room_id).await?, &edu)
            .await
    }

    pub(crate) async fn receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        ts: u64,
        thread_id: Option<&str>,
    ) -> ServiceResult<()> {
        if !self.sends_for(user_id) {
            return Ok(());
        }
        let mut data = json!({"ts": ts});
        if let Some(thread_id) = thread_id {
            data["thread_id"] = json!(thread_id);
        }
        let edu = json!({
            "edu_type": "m.receipt",
            "content": {room_id.as_str(): {"m.read": {user_id.as_str(): {
                "event_ids": [event_id],
                "data": data,
            }}}},
        });
        self.enqueue_edu(self.servers_in_room(room_id).await?, &edu)
            .await
    }

    /// A local user's presence changed: servers sharing a room with them are told.
    pub(crate) async fn presence(
        &self,
        user_id: &UserId,
        state: &str,
        status_msg: Option<&str>,
    ) -> ServiceResult<()> {
        if !self.sends_for(user_id) {
            return Ok(());
        }
        let mut update = json!({
            "user_id": user_id,
            "presence": state,
            "last_active_ago": 0,
            "currently_active": state == "online",
        });
        if let Some(status_msg) = status_msg {
            update["status_msg"] = json!(status_msg);
        }
        let edu = json!({"edu_type": "m.presence", "content": {"push": [update]}});
        self.enqueue_edu(self.servers_sharing_rooms_with(user_id).await?, &edu)
            .await
    }

    /// Send-to-device messages for one server's users.
    pub(crate) async fn to_device(
        &self,
        destination: OwnedServerName,
        sender: &UserId,
        event_type: &str,
        message_id: &str,
        messages: BTreeMap<String, BTreeMap<String, JsonValue>>,
    ) -> ServiceResult<()> {
        if !self.sends_for(sender) {
            return Ok(());
        }
        let edu = json!({
            "edu_type": "m.direct_to_device",
            "content": {
                "sender": sender,
                "type": event_type,
                "message_id": message_id,
                "messages": messages,
            },
        });
        self.enqueue_edu([destination], &edu).await
    }

    /// A local user's device changed (`stream_id` orders the changes): servers sharing a room
    /// with them refresh their copy.
    pub(crate) async fn device_list_update(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        deleted: bool,
        stream_id: i64,
    ) -> ServiceResult<()> {
        if !self.sends_for(user_id) {
            return Ok(());
        }
        let storage = &self.context.storage;
        let previous = storage.device_lists.record_sent(user_id, stream_id).await?;
        let mut content = json!({
            "user_id": user_id,
            "device_id": device_id,
            "stream_id": stream_id,
            "prev_id": previous.into_iter().collect::<Vec<_>>(),
            "deleted": deleted,
        });
        if !deleted {
            // The device's keys let the other server update its copy without asking.
            if let Some(keys) = storage.keys.device_keys(user_id, device_id).await? {
                if let Ok(keys) = serde_json::from_str::<JsonValue>(&keys) {
                    content["keys"] = keys;
                }
            }
            if let Some(device) = storage.devices.get(user_id, device_id).await? {
                content["device_display_name"] = json!(device.display_name);
            }
        }
        let edu = json!({"edu_type": "m.device_list_update", "content": content});
        self.enqueue_edu(self.servers_sharing_rooms_with(user_id).await?, &edu)
            .await
    }

    /// A local user's cross-signing keys changed.
    pub(crate) async fn signing_key_update(
        &self,
        user_id: &UserId,
        keys: &[(String, String)],
    ) -> ServiceResult<()> {
        if !self.sends_for(user_id) {
            return Ok(());
        }
        let mut content = json!({"user_id": user_id});
        for (kind, key) in keys {
            if let ("master" | "self_signing", Ok(key)) =
                (kind.as_str(), serde_json::from_str::<JsonValue>(key))
            {
                content[format!("{kind}_key")] = key;
            }
        }
        let edu = json!({"edu_type": "m.signing_key_update", "content": content});
        self.enqueue_edu(self.servers_sharing_rooms_with(user_id).await?, &edu)
            .await
    }
}
