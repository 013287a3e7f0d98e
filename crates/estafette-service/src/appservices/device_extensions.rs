//! MSC3202's additions to a transaction, for a service whose registration sets
//! `org.matrix.msc3202` (end-to-bridge encryption, BRIDGES.md §2.4): whose device lists
//! changed among the users that concern it, and the one-time and fallback keys left on its
//! users' devices, so that it uploads more before they run out.

use std::collections::BTreeSet;

use estafette_core::Registration;
use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::{Map, Value as JsonValue, json};

use super::interest::{RoomFacts, room_interested};
use crate::{Context, ServiceResult};

/// Users whose device list changed in `(after, until]` and who are the service's or share
/// a room that interests it.
pub(super) async fn changed_device_lists(
    context: &Context,
    service: &Registration,
    facts: &mut RoomFacts,
    after: i64,
    until: i64,
) -> ServiceResult<Vec<OwnedUserId>> {
    let mut changed = Vec::new();
    for user_id in context
        .storage
        .keys
        .device_list_changes(after, until)
        .await?
    {
        if service.is_user_of(&user_id) {
            changed.push(user_id);
            continue;
        }
        for membership in context.storage.memberships.of_user(&user_id).await? {
            if membership.membership == "join"
                && room_interested(context, service, &membership.room_id, facts).await?
            {
                changed.push(user_id);
                break;
            }
        }
    }
    Ok(changed)
}

/// Users who left (or were banned from) a room of the transaction and now share none that
/// interests the service: its users need their device lists no more.
async fn left_device_lists(
    context: &Context,
    service: &Registration,
    facts: &mut RoomFacts,
    events: &[JsonValue],
) -> ServiceResult<Vec<OwnedUserId>> {
    let gone: BTreeSet<OwnedUserId> = events
        .iter()
        .filter(|e| {
            e["type"] == "m.room.member"
                && matches!(e["content"]["membership"].as_str(), Some("leave" | "ban"))
        })
        .filter_map(|e| e["state_key"].as_str())
        .filter_map(|id| UserId::parse(id).ok())
        .filter(|user| !service.is_user_of(user))
        .collect();
    let mut left = Vec::new();
    'users: for user_id in gone {
        for membership in context.storage.memberships.of_user(&user_id).await? {
            if membership.membership == "join"
                && room_interested(context, service, &membership.room_id, facts).await?
            {
                continue 'users;
            }
        }
        left.push(user_id);
    }
    Ok(left)
}

/// The transaction's MSC3202 keys: device lists, and the key counts of the devices of the
/// service's users it concerns, as Synapse picks them: its sender, its users in the rooms of
/// the transaction's events and ephemeral data, and the to-device messages' recipients.
/// Both spellings of the counts go out, as Synapse sends them: bot-sdk reads the newer,
/// mautrix the older.
pub(super) async fn transaction_fields(
    context: &Context,
    service: &Registration,
    (changed, facts): (Vec<OwnedUserId>, &mut RoomFacts),
    (events, ephemeral, to_device): (&[JsonValue], &[JsonValue], &[JsonValue]),
) -> ServiceResult<Map<String, JsonValue>> {
    let left = left_device_lists(context, service, facts, events).await?;
    let rooms: BTreeSet<&str> = events
        .iter()
        .chain(ephemeral)
        .filter_map(|e| e["room_id"].as_str())
        .collect();
    let mut users: BTreeSet<OwnedUserId> = to_device
        .iter()
        .filter_map(|m| m["to_user_id"].as_str())
        .filter_map(|id| UserId::parse(id).ok())
        .chain(std::iter::once(service.sender.clone()))
        .collect();
    for room in rooms {
        let Ok(room_id) = RoomId::parse(room) else {
            continue;
        };
        for member in context.storage.memberships.of_room(&room_id).await? {
            if member.membership == "join" {
                users.insert(member.user_id);
            }
        }
    }
    users.retain(|user| user.server_name() == context.server_name && service.is_user_of(user));
    let mut counts = Map::new();
    let mut fallbacks = Map::new();
    for user_id in users {
        let mut user_counts = Map::new();
        let mut user_fallbacks = Map::new();
        for device in context.storage.devices.list(&user_id).await? {
            let (one_time, unused_fallbacks) = context
                .storage
                .keys
                .key_counts(&user_id, &device.device_id)
                .await?;
            user_counts.insert(device.device_id.to_string(), json!(one_time));
            user_fallbacks.insert(device.device_id.to_string(), json!(unused_fallbacks));
        }
        if !user_counts.is_empty() {
            counts.insert(user_id.to_string(), JsonValue::Object(user_counts));
            fallbacks.insert(user_id.to_string(), JsonValue::Object(user_fallbacks));
        }
    }
    let mut fields = Map::new();
    fields.insert(
        "org.matrix.msc3202.device_lists".into(),
        json!({"changed": changed, "left": left}),
    );
    fields.insert(
        "org.matrix.msc3202.device_one_time_keys_count".into(),
        JsonValue::Object(counts.clone()),
    );
    fields.insert(
        "org.matrix.msc3202.device_one_time_key_counts".into(),
        JsonValue::Object(counts),
    );
    fields.insert(
        "org.matrix.msc3202.device_unused_fallback_key_types".into(),
        JsonValue::Object(fallbacks),
    );
    Ok(fields)
}
