//! The body of a push: the spec's `notification` object, full or `event_id_only`.

use estafette_storage::{DuePusher, PendingPush};
use ruma::events::StateEventType;
use serde_json::{Map, Value as JsonValue, json};

use super::PushDeliveryService;
use crate::ServiceResult;

impl PushDeliveryService {
    /// The notification for `push`, or `None` when its event is gone.
    pub(super) async fn notification(
        &self,
        pusher: &DuePusher,
        data: &JsonValue,
        push: &PendingPush,
    ) -> ServiceResult<Option<JsonValue>> {
        let Some(event) = self.rooms.pdu(&push.event_id).await? else {
            return Ok(None);
        };
        let unread = self
            .context
            .storage
            .push_delivery
            .unread_rooms(&pusher.user_id)
            .await?;
        // Everything the pusher was given but its URL goes to the gateway.
        let mut device_data: Map<String, JsonValue> = data.as_object().cloned().unwrap_or_default();
        device_data.remove("url");
        let event_id_only = data["format"] == "event_id_only";
        let tweaks = tweaks(push);
        // As Synapse: urgent when encrypted (the phone must look), highlighted or sounding.
        let urgent = event.kind.to_string() == "m.room.encrypted"
            || tweaks.contains_key("sound")
            || tweaks.get("highlight") == Some(&json!(true));
        let prio = if urgent { "high" } else { "low" };
        let mut device = json!({
            "app_id": pusher.app_id,
            "pushkey": pusher.pushkey,
            "pushkey_ts": pusher.created_ts / 1000,
            "data": device_data,
        });
        let mut notification = json!({
            "event_id": event.event_id,
            "room_id": event.room_id,
            "counts": {"unread": unread},
            "prio": prio,
        });
        if !event_id_only {
            device["tweaks"] = JsonValue::Object(tweaks);
            notification["id"] = json!(event.event_id);
            notification["type"] = json!(event.kind.to_string());
            notification["sender"] = json!(event.sender);
            let content: JsonValue = serde_json::from_str(event.content.get()).unwrap_or_default();
            let (state, _) = self.rooms.current_state(&event.room_id).await?;
            let member = self
                .rooms
                .state_content(&state, StateEventType::RoomMember, event.sender.as_str())
                .await?;
            if let Some(name) = member
                .as_ref()
                .and_then(|m| m["displayname"].as_str())
                .filter(|n| !n.is_empty())
            {
                notification["sender_display_name"] = json!(name);
            }
            // The room's name, or its address when it has none.
            if let Some(name) = self.rooms.notification_room_name(&state).await? {
                notification["room_name"] = json!(name);
            }
            if event.kind.to_string() == "m.room.member" {
                notification["membership"] = content["membership"].clone();
                notification["user_is_target"] =
                    json!(event.state_key.as_deref() == Some(pusher.user_id.as_str()));
            }
            // An operator may keep message contents away from the push providers.
            if self.context.config.push.include_content {
                notification["content"] = content;
            }
        }
        notification["devices"] = json!([device]);
        Ok(Some(json!({ "notification": notification })))
    }
}

/// The tweaks stored with the notification (the user's rule when the event arrived); the
/// highlight at least.
fn tweaks(push: &PendingPush) -> Map<String, JsonValue> {
    let mut tweaks: Map<String, JsonValue> = serde_json::from_str(&push.tweaks).unwrap_or_default();
    if push.highlight {
        tweaks.insert("highlight".into(), json!(true));
    }
    tweaks
}
