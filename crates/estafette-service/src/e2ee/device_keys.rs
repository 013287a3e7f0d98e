//! End-to-end encryption key services: device keys, one-time and fallback keys, key queries
//! and claims, and the device-list changes clients track.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use estafette_storage::NewKey;
use ruma::canonical_json::CanonicalJsonObject;
use ruma::signatures::PublicKeyMap;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Value as JsonValue, json};

use crate::{Context, Requester, ServiceError, ServiceResult};

/// What `/keys/query` returns, as JSON objects by user (and device).
#[derive(Debug, Default)]
pub struct KeyQueryResult {
    pub device_keys: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, JsonValue>>,
    pub master_keys: BTreeMap<OwnedUserId, JsonValue>,
    pub self_signing_keys: BTreeMap<OwnedUserId, JsonValue>,
    pub user_signing_keys: BTreeMap<OwnedUserId, JsonValue>,
    /// Servers that could not answer, with why.
    pub failures: BTreeMap<String, JsonValue>,
}

/// The one-time key algorithm wanted, by user and device.
pub type KeyClaims = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, ruma::OneTimeKeyAlgorithm>>;

/// One-time keys by user, device and key id.
pub type ClaimedKeys = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<String, JsonValue>>>;

/// What `/keys/claim` returns.
#[derive(Debug, Default)]
pub struct KeyClaimResult {
    pub one_time_keys: ClaimedKeys,
    /// Servers that could not answer, with why.
    pub failures: BTreeMap<String, JsonValue>,
}

#[derive(Clone)]
pub struct DeviceKeyService {
    context: Arc<Context>,
    /// Other servers' users' keys are asked of their servers.
    pub(crate) federation: crate::FederationService,
    pub(crate) device_lists: crate::DeviceListPublisher,
}

impl DeviceKeyService {
    pub(crate) fn new(
        context: Arc<Context>,
        federation: crate::FederationService,
        device_lists: crate::DeviceListPublisher,
    ) -> Self {
        Self {
            context,
            federation,
            device_lists,
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// `/keys/upload`: returns the device's unclaimed one-time key counts.
    pub async fn upload(
        &self,
        requester: &Requester,
        device_keys: Option<JsonValue>,
        one_time_keys: BTreeMap<String, JsonValue>,
        fallback_keys: BTreeMap<String, JsonValue>,
    ) -> ServiceResult<BTreeMap<String, u64>> {
        if !requester.has_device() {
            return Err(ServiceError::MissingParam(
                "Keys belong to a device: an application service names it with `device_id`".into(),
            ));
        }
        let (user, device) = (&requester.user_id, &requester.device_id);
        let storage = &self.context.storage;
        let stored = storage.keys.device_keys(user, device).await?;
        let identity = match (&device_keys, &stored) {
            (Some(keys), _) => Some(keys.clone()),
            (None, Some(stored)) => serde_json::from_str(stored).ok(),
            (None, None) => None,
        };
        // Check everything before storing anything.
        if let Some(keys) = &device_keys {
            self.check_device_keys(requester, keys, stored.as_deref())?;
        }
        let signing_key = identity.as_ref().and_then(|keys| ed25519_key(keys, device));
        let one_time = parse_keys(&one_time_keys, user, device, signing_key.as_deref())?;
        let fallback = parse_keys(&fallback_keys, user, device, signing_key.as_deref())?;
        for (algorithm, key_id, json) in &one_time {
            if let Some(existing) = storage
                .keys
                .one_time_key(user, device, algorithm, key_id)
                .await?
            {
                if !same_json(&existing, json) {
                    return Err(ServiceError::InvalidParam(format!(
                        "One-time key {algorithm}:{key_id} already exists"
                    )));
                }
            }
        }
        if let (Some(keys), None) = (&device_keys, &stored) {
            let position = storage
                .keys
                .set_device_keys(user, device, &keys.to_string())
                .await?;
            let change = crate::e2ee::DeviceListChange::Device {
                device_id: device,
                deleted: false,
            };
            self.device_lists.changed(user, position, change).await?;
        }
        storage
            .keys
            .add_one_time_keys(user, device, &one_time)
            .await?;
        storage
            .keys
            .set_fallback_keys(user, device, &fallback)
            .await?;
        Ok(storage.keys.one_time_key_counts(user, device).await?)
    }

    /// Checks identity keys as `requester`'s device would upload them (shape, IDs, signature).
    pub(crate) fn check_upload(
        &self,
        requester: &Requester,
        keys: &JsonValue,
    ) -> ServiceResult<()> {
        self.check_device_keys(requester, keys, None)
    }

    fn check_device_keys(
        &self,
        requester: &Requester,
        keys: &JsonValue,
        stored: Option<&str>,
    ) -> ServiceResult<()> {
        let user_ok =
            keys.get("user_id").and_then(JsonValue::as_str) == Some(requester.user_id.as_str());
        let device_ok =
            keys.get("device_id").and_then(JsonValue::as_str) == Some(requester.device_id.as_str());
        if !user_ok || !device_ok {
            return Err(ServiceError::InvalidParam(
                "device_keys must name your user ID and device ID".into(),
            ));
        }
        let signing_key = ed25519_key(keys, &requester.device_id).ok_or_else(|| {
            ServiceError::InvalidParam("device_keys has no ed25519 key for this device".into())
        })?;
        verify_signed(
            keys,
            &requester.user_id,
            &format!("ed25519:{}", requester.device_id),
            &signing_key,
        )?;
        if let Some(stored) = stored {
            let stored: JsonValue = serde_json::from_str(stored).unwrap_or_default();
            if stored.get("keys") != keys.get("keys")
                || stored.get("algorithms") != keys.get("algorithms")
            {
                return Err(ServiceError::InvalidParam(
                    "A device's identity keys cannot change".into(),
                ));
            }
        }
        Ok(())
    }

    /// `/keys/query`: local users' keys; other servers' users' keys from the copies tracked
    /// here, or else asked of their servers.
    pub async fn query(
        &self,
        requester: &Requester,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> ServiceResult<KeyQueryResult> {
        let mut result = self.query_local(Some(&requester.user_id), wanted).await?;
        let untracked = self.query_tracked(wanted, &mut result).await?;
        self.query_remote(&untracked, &mut result).await;
        Ok(result)
    }

    /// Local users' keys; a user's user-signing key only goes to that user (never to another
    /// server, which passes `None`).
    pub async fn query_local(
        &self,
        requester: Option<&UserId>,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> ServiceResult<KeyQueryResult> {
        let storage = &self.context.storage;
        let mut result = KeyQueryResult::default();
        for (user_id, devices) in wanted {
            if user_id.server_name() != self.context.server_name {
                continue;
            }
            let names: BTreeMap<OwnedDeviceId, Option<String>> = storage
                .devices
                .list(user_id)
                .await?
                .into_iter()
                .map(|d| (d.device_id, d.display_name))
                .collect();
            let mut found = BTreeMap::new();
            for (device_id, json) in storage.keys.all_device_keys(user_id).await? {
                if !devices.is_empty() && !devices.contains(&device_id) {
                    continue;
                }
                let Ok(mut keys) = serde_json::from_str::<JsonValue>(&json) else {
                    continue;
                };
                if let Some(Some(name)) = names.get(&device_id) {
                    keys["unsigned"] = json!({"device_display_name": name});
                }
                found.insert(device_id, keys);
            }
            if !found.is_empty() || storage.users.get(user_id).await?.is_some() {
                result.device_keys.insert(user_id.clone(), found);
            }
            for (kind, map) in [
                ("master", &mut result.master_keys),
                ("self_signing", &mut result.self_signing_keys),
            ] {
                if let Some(json) = storage.keys.cross_signing_key(user_id, kind).await? {
                    if let Ok(key) = serde_json::from_str(&json) {
                        map.insert(user_id.clone(), key);
                    }
                }
            }
            if requester == Some(user_id.as_ref()) {
                if let Some(json) = storage
                    .keys
                    .cross_signing_key(user_id, "user_signing")
                    .await?
                {
                    if let Ok(key) = serde_json::from_str(&json) {
                        result.user_signing_keys.insert(user_id.clone(), key);
                    }
                }
            }
        }
        Ok(result)
    }

    /// `/keys/claim`: one key per requested device, other servers' devices' keys claimed
    /// from their servers.
    pub async fn claim(&self, wanted: &KeyClaims) -> ServiceResult<KeyClaimResult> {
        let mut result = KeyClaimResult {
            one_time_keys: self.claim_local(wanted).await?,
            ..Default::default()
        };
        self.claim_remote(wanted, &mut result).await;
        Ok(result)
    }

    /// One key per requested device of a local user.
    pub async fn claim_local(&self, wanted: &KeyClaims) -> ServiceResult<ClaimedKeys> {
        let mut claimed = BTreeMap::new();
        for (user_id, devices) in wanted {
            if user_id.server_name() != self.context.server_name {
                continue;
            }
            let mut by_device = BTreeMap::new();
            for (device_id, algorithm) in devices {
                if let Some((key_id, json)) = self
                    .context
                    .storage
                    .keys
                    .claim(user_id, device_id, algorithm.as_str())
                    .await?
                {
                    let key = serde_json::from_str(&json).unwrap_or(JsonValue::String(json));
                    by_device.insert(device_id.clone(), BTreeMap::from([(key_id, key)]));
                }
            }
            if !by_device.is_empty() {
                claimed.insert(user_id.clone(), by_device);
            }
        }
        Ok(claimed)
    }

    /// The device's unclaimed one-time keys and unused fallback key algorithms, for `/sync`.
    pub async fn key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> ServiceResult<(BTreeMap<String, u64>, Vec<String>)> {
        Ok(self
            .context
            .storage
            .keys
            .key_counts(user_id, device_id)
            .await?)
    }

    /// Users sharing a room with `user_id` whose device lists changed in `(after, until]`, and
    /// those who joined or left a shared room then: `(changed, left)` as `/keys/changes` and
    /// `/sync` report them.
    pub async fn changes(
        &self,
        user_id: &UserId,
        after: i64,
        until: i64,
    ) -> ServiceResult<(BTreeSet<OwnedUserId>, BTreeSet<OwnedUserId>)> {
        let storage = &self.context.storage;
        let updated = storage.keys.device_list_changes(after, until).await?;
        let moves = storage
            .memberships
            .moves_around(user_id, after, until)
            .await?;
        // Most syncs see neither: then who shares a room with the user is not needed.
        if updated.is_empty() && moves.is_empty() {
            return Ok((BTreeSet::new(), BTreeSet::new()));
        }
        let sharing: BTreeSet<OwnedUserId> = storage
            .memberships
            .users_sharing_rooms_with(user_id)
            .await?
            .into_iter()
            .collect();
        let mut changed: BTreeSet<OwnedUserId> = updated
            .into_iter()
            .filter(|u| sharing.contains(u))
            .collect();
        let mut left = BTreeSet::new();
        for (my_membership, other) in moves {
            if sharing.contains(&other.user_id) {
                if my_membership == "join" && other.membership == "join" {
                    changed.insert(other.user_id);
                }
            } else {
                left.insert(other.user_id);
            }
        }
        Ok((changed, left))
    }
}

/// The device's own ed25519 key from its identity keys.
fn ed25519_key(keys: &JsonValue, device_id: &DeviceId) -> Option<String> {
    keys.get("keys")?
        .get(format!("ed25519:{device_id}"))?
        .as_str()
        .map(ToOwned::to_owned)
}

fn same_json(stored: &str, new: &str) -> bool {
    serde_json::from_str::<JsonValue>(stored).ok() == serde_json::from_str::<JsonValue>(new).ok()
}

/// Checks `signer`'s signature with `key_id` over a JSON object.
pub(crate) fn verify_signed(
    object: &JsonValue,
    signer: &UserId,
    key_id: &str,
    key: &str,
) -> ServiceResult<()> {
    let canonical: CanonicalJsonObject = serde_json::from_value(object.clone())
        .map_err(|e| ServiceError::BadJson(format!("Keys must be canonical JSON: {e}")))?;
    let has_signature = object
        .get("signatures")
        .and_then(|s| s.get(signer.as_str()))
        .and_then(|s| s.get(key_id))
        .is_some();
    if !has_signature {
        return Err(ServiceError::InvalidSignature(format!(
            "Missing signature by {key_id}"
        )));
    }
    let key_bytes = crate::federation::lenient_base64()
        .decode(key)
        .map_err(|_| ServiceError::InvalidParam(format!("{key_id} is not base64")))?;
    let mut public_keys = PublicKeyMap::new();
    public_keys.insert(
        signer.to_string(),
        BTreeMap::from([(key_id.to_owned(), ruma::serde::Base64::new(key_bytes))]),
    );
    ruma::signatures::verify_json(&public_keys, &canonical)
        .map_err(|e| ServiceError::InvalidSignature(format!("Invalid signature by {key_id}: {e}")))
}

/// One-time or fallback keys by `algorithm:key_id`; signed keys must carry a valid signature
/// by the device when its identity key is known.
fn parse_keys(
    keys: &BTreeMap<String, JsonValue>,
    user: &UserId,
    device: &DeviceId,
    signing_key: Option<&str>,
) -> ServiceResult<Vec<NewKey>> {
    let mut parsed = Vec::with_capacity(keys.len());
    for (id, value) in keys {
        let (algorithm, key_id) = id.split_once(':').ok_or_else(|| {
            ServiceError::InvalidParam(format!("Key ID {id} must be algorithm:id"))
        })?;
        if algorithm.starts_with("signed_") {
            if let Some(signing_key) = signing_key {
                verify_signed(value, user, &format!("ed25519:{device}"), signing_key)?;
            }
        }
        parsed.push((algorithm.to_owned(), key_id.to_owned(), value.to_string()));
    }
    Ok(parsed)
}

use base64::Engine as _;
