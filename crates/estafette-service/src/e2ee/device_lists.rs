//! Device-list tracking of other servers' users: their devices and cross-signing keys are
//! fetched once (`/user/devices`) while they share a room with a local user, then kept current
//! by their server's `m.device_list_update` EDUs. An update whose `prev_id` does not follow the
//! copy kept here reveals a gap: the copy is dropped and fetched again on the next query.

use std::collections::BTreeMap;

use ruma::api::federation::device::get_devices::v1 as get_devices;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};
use tokio::task::JoinSet;

use crate::e2ee::device_keys::KeyQueryResult;
use crate::{Context, DeviceKeyService, ServiceResult};

/// An `m.device_list_update` EDU.
#[derive(Deserialize)]
pub(crate) struct DeviceListUpdate {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub stream_id: i64,
    #[serde(default)]
    pub prev_id: Vec<i64>,
    #[serde(default)]
    pub deleted: bool,
    pub keys: Option<JsonValue>,
    pub device_display_name: Option<String>,
}

/// Applies another server's update to the copy of its user's device list, or drops the copy
/// when the update does not follow it.
pub(crate) async fn apply_update(
    context: &Context,
    update: &DeviceListUpdate,
) -> ServiceResult<()> {
    let lists = &context.storage.device_lists;
    let Some((stream_id, keys)) = lists.cached(&update.user_id).await? else {
        return Ok(());
    };
    let mut keys: JsonValue = serde_json::from_str(&keys).unwrap_or_default();
    let follows = update.prev_id.contains(&stream_id) && keys["devices"].is_object();
    if !follows {
        return Ok(lists.forget(&update.user_id).await?);
    }
    let device = update.device_id.as_str();
    if update.deleted {
        if let Some(devices) = keys["devices"].as_object_mut() {
            devices.remove(device);
        }
    } else if let Some(mut device_keys) = update.keys.clone() {
        if let Some(name) = &update.device_display_name {
            device_keys["unsigned"]["device_display_name"] = json!(name);
        }
        keys["devices"][device] = device_keys;
    } else {
        // A change this server cannot apply without the keys: fetch the whole list again.
        return Ok(lists.forget(&update.user_id).await?);
    }
    lists
        .cache(&update.user_id, update.stream_id, &keys.to_string())
        .await?;
    Ok(())
}

/// An `m.signing_key_update` EDU.
#[derive(Deserialize)]
pub(crate) struct SigningKeyUpdate {
    pub user_id: OwnedUserId,
    pub master_key: Option<JsonValue>,
    pub self_signing_key: Option<JsonValue>,
}

/// Another server's user's cross-signing keys changed: the copy kept here takes them.
pub(crate) async fn apply_signing_keys(
    context: &Context,
    update: &SigningKeyUpdate,
) -> ServiceResult<()> {
    let lists = &context.storage.device_lists;
    let Some((stream_id, keys)) = lists.cached(&update.user_id).await? else {
        return Ok(());
    };
    let mut keys: JsonValue = serde_json::from_str(&keys).unwrap_or_default();
    for (field, key) in [
        ("master_key", &update.master_key),
        ("self_signing_key", &update.self_signing_key),
    ] {
        if let Some(key) = key {
            keys[field] = key.clone();
        }
    }
    lists
        .cache(&update.user_id, stream_id, &keys.to_string())
        .await?;
    Ok(())
}

impl DeviceKeyService {
    /// Answers for the remote users of `wanted` who share a room with a local user from the
    /// copies kept here (fetching a missing copy from the user's server); returns the users
    /// left to ask with a plain key query.
    pub(crate) async fn query_tracked(
        &self,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        result: &mut KeyQueryResult,
    ) -> ServiceResult<BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>> {
        let context = self.context();
        let mut untracked = BTreeMap::new();
        let mut to_fetch = Vec::new();
        let mut copies = BTreeMap::new();
        for (user_id, devices) in wanted {
            if user_id.server_name() == context.server_name {
                continue;
            }
            if !self.is_tracked(user_id).await? {
                untracked.insert(user_id.clone(), devices.clone());
                continue;
            }
            match context.storage.device_lists.cached(user_id).await? {
                Some((_, keys)) => {
                    copies.insert(
                        user_id.clone(),
                        serde_json::from_str(&keys).unwrap_or_default(),
                    );
                }
                None => to_fetch.push(user_id.clone()),
            }
        }
        let mut tasks = JoinSet::new();
        for user_id in to_fetch {
            let federation = self.federation.clone();
            tasks.spawn(async move {
                let request = get_devices::Request::new(user_id.clone());
                let answer = federation.send(user_id.server_name(), request).await;
                (user_id, answer)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((user_id, answer)) = joined else {
                continue;
            };
            match answer {
                Ok(answer) if answer.user_id == user_id => {
                    let keys = copy_of(&answer);
                    let stream_id = i64::try_from(u64::from(answer.stream_id)).unwrap_or(i64::MAX);
                    context
                        .storage
                        .device_lists
                        .cache(&user_id, stream_id, &keys.to_string())
                        .await?;
                    copies.insert(user_id, keys);
                }
                Ok(_) => {}
                Err(e) => {
                    let failure = json!({"status": 503, "message": e.to_string()});
                    result
                        .failures
                        .insert(user_id.server_name().to_string(), failure);
                }
            }
        }
        for (user_id, keys) in copies {
            let requested = wanted.get(&user_id).cloned().unwrap_or_default();
            let devices: BTreeMap<OwnedDeviceId, JsonValue> = keys["devices"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(id, _)| {
                    requested.is_empty() || requested.iter().any(|r| r.as_str() == *id)
                })
                .map(|(id, key)| (OwnedDeviceId::from(id.as_str()), key.clone()))
                .collect();
            result.device_keys.insert(user_id.clone(), devices);
            if !keys["master_key"].is_null() {
                result
                    .master_keys
                    .insert(user_id.clone(), keys["master_key"].clone());
            }
            if !keys["self_signing_key"].is_null() {
                result
                    .self_signing_keys
                    .insert(user_id, keys["self_signing_key"].clone());
            }
        }
        Ok(untracked)
    }

    /// Whether another server's user is in a room this server is in, so their server sends
    /// updates about them here.
    async fn is_tracked(&self, user_id: &UserId) -> ServiceResult<bool> {
        let memberships = self.context().storage.memberships.of_user(user_id).await?;
        Ok(memberships.iter().any(|m| m.membership == "join"))
    }
}

/// The copy of a user's device list kept from a `/user/devices` answer.
fn copy_of(answer: &get_devices::Response) -> JsonValue {
    let mut devices = serde_json::Map::new();
    for device in &answer.devices {
        if let Ok(mut keys) = serde_json::from_str::<JsonValue>(device.keys.json().get()) {
            if let Some(name) = &device.device_display_name {
                keys["unsigned"]["device_display_name"] = json!(name);
            }
            devices.insert(device.device_id.to_string(), keys);
        }
    }
    let plain = |key: &Option<ruma::serde::Raw<_>>| {
        key.as_ref()
            .and_then(|k| serde_json::from_str::<JsonValue>(k.json().get()).ok())
            .unwrap_or(JsonValue::Null)
    };
    json!({
        "devices": devices,
        "master_key": plain(&answer.master_key),
        "self_signing_key": plain(&answer.self_signing_key),
    })
}
