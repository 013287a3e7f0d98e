//! Cross-signing: the master, self-signing and user-signing keys of a user, and signatures
//! uploaded on devices and keys (spec: "Cross-signing").

use std::collections::BTreeMap;

use ruma::api::client::uiaa::AuthData;
use ruma::{OwnedUserId, UserId};
use serde_json::{Value as JsonValue, json};

use crate::e2ee::device_keys::verify_signed;
use crate::{DeviceKeyService, Requester, ServiceError, ServiceResult, UiaService};

/// A signature that could not be applied: (errcode, message).
pub type SignatureFailure = (String, String);

/// The single ed25519 key of a cross-signing key: (`ed25519:<key>`, key).
fn single_key(key: &JsonValue) -> Option<(String, String)> {
    let keys = key.get("keys")?.as_object()?;
    if keys.len() != 1 {
        return None;
    }
    let (id, value) = keys.iter().next()?;
    Some((id.clone(), value.as_str()?.to_owned()))
}

fn check_shape(key: &JsonValue, user_id: &UserId, usage: &str) -> ServiceResult<(String, String)> {
    if key.get("user_id").and_then(JsonValue::as_str) != Some(user_id.as_str()) {
        return Err(ServiceError::InvalidParam(format!(
            "The {usage} key must name your user ID"
        )));
    }
    let usages = key.get("usage").and_then(JsonValue::as_array);
    if !usages.is_some_and(|u| u.iter().any(|x| x.as_str() == Some(usage))) {
        return Err(ServiceError::InvalidParam(format!(
            "The {usage} key must have the usage {usage}"
        )));
    }
    single_key(key).ok_or_else(|| {
        ServiceError::InvalidParam(format!("The {usage} key must hold exactly one key"))
    })
}

impl DeviceKeyService {
    async fn stored_key(&self, user_id: &UserId, kind: &str) -> ServiceResult<Option<JsonValue>> {
        let json = self
            .context()
            .storage
            .keys
            .cross_signing_key(user_id, kind)
            .await?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// `/keys/device_signing/upload`. Setting the first master key needs no re-authentication
    /// (spec 1.11, MSC3967); replacing keys does.
    pub async fn upload_signing_keys(
        &self,
        requester: &Requester,
        uia: &UiaService,
        master: Option<JsonValue>,
        self_signing: Option<JsonValue>,
        user_signing: Option<JsonValue>,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        let user = &requester.user_id;
        let existing_master = self.stored_key(user, "master").await?;
        let master_key = match (&master, &existing_master) {
            (Some(master), _) => check_shape(master, user, "master")?,
            (None, Some(existing)) => single_key(existing)
                .ok_or_else(|| ServiceError::Internal("stored master key".into()))?,
            (None, None) => {
                return Err(ServiceError::MissingParam(
                    "No master key is available".into(),
                ));
            }
        };
        let mut uploads = Vec::new();
        if let Some(master) = &master {
            uploads.push(("master", master));
        }
        for (kind, key) in [
            ("self_signing", &self_signing),
            ("user_signing", &user_signing),
        ] {
            if let Some(key) = key {
                check_shape(key, user, kind)?;
                verify_signed(key, user, &master_key.0, &master_key.1)?;
                uploads.push((kind, key));
            }
        }
        let mut changes = false;
        for (kind, key) in &uploads {
            if self.stored_key(user, kind).await?.as_ref() != Some(*key) {
                changes = true;
            }
        }
        if !changes {
            return Ok(());
        }
        if existing_master.is_some() {
            uia.authorize_key_reset(user, auth).await?;
        }
        let keys: Vec<(String, String)> = uploads
            .iter()
            .map(|(kind, key)| ((*kind).to_owned(), key.to_string()))
            .collect();
        let position = self
            .context()
            .storage
            .keys
            .set_cross_signing_keys(user, &keys)
            .await?;
        self.device_lists
            .changed(
                user,
                position,
                crate::e2ee::DeviceListChange::CrossSigning(&keys),
            )
            .await
    }

    /// `/keys/signatures/upload`: checks each signature and adds it to the signed object.
    pub async fn upload_signatures(
        &self,
        requester: &Requester,
        signed: BTreeMap<OwnedUserId, BTreeMap<String, JsonValue>>,
    ) -> ServiceResult<BTreeMap<OwnedUserId, BTreeMap<String, SignatureFailure>>> {
        let mut failures: BTreeMap<OwnedUserId, BTreeMap<String, SignatureFailure>> =
            BTreeMap::new();
        for (user_id, objects) in signed {
            for (key_id, object) in objects {
                if let Err(failure) = self
                    .apply_signature(requester, &user_id, &key_id, &object)
                    .await?
                {
                    failures
                        .entry(user_id.clone())
                        .or_default()
                        .insert(key_id, failure);
                }
            }
        }
        Ok(failures)
    }

    /// `Ok(Err(..))` is a per-key failure reported to the client; `Err` a server error.
    async fn apply_signature(
        &self,
        requester: &Requester,
        target_user: &UserId,
        key_id: &str,
        object: &JsonValue,
    ) -> ServiceResult<Result<(), SignatureFailure>> {
        let invalid =
            |message: &str| Ok(Err(("M_INVALID_SIGNATURE".to_owned(), message.to_owned())));
        let storage = &self.context().storage;
        let signer = &requester.user_id;
        let own = target_user == signer;
        // What is being signed, and which of the signer's keys may sign it.
        let device_target = if own {
            storage.keys.device_keys(target_user, key_id.into()).await?
        } else {
            None
        };
        let (stored, signer_kind) = match device_target {
            Some(json) => (
                serde_json::from_str::<JsonValue>(&json).unwrap_or_default(),
                "self_signing",
            ),
            None => match self.stored_key(target_user, "master").await? {
                Some(master) if single_key(&master).is_some_and(|(_, key)| key == key_id) => {
                    (master, if own { "device" } else { "user_signing" })
                }
                _ => {
                    return Ok(Err((
                        "M_INVALID_PARAM".to_owned(),
                        format!("Unknown key {key_id}"),
                    )));
                }
            },
        };
        let strip = |v: &JsonValue| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("signatures");
                o.remove("unsigned");
            }
            v
        };
        if strip(&stored) != strip(object) {
            return invalid("The signed object differs from the stored key");
        }
        let Some(new_signatures) = object
            .get("signatures")
            .and_then(|s| s.get(signer.as_str()))
            .and_then(JsonValue::as_object)
        else {
            return invalid("No signature by the uploader");
        };
        let mut merged = stored.clone();
        for (signing_key_id, signature) in new_signatures {
            let signing_key = match signer_kind {
                "device" => {
                    let device = signing_key_id.trim_start_matches("ed25519:");
                    let keys = storage.keys.device_keys(signer, device.into()).await?;
                    keys.and_then(|k| serde_json::from_str::<JsonValue>(&k).ok())
                        .and_then(|k| {
                            k.get("keys")?
                                .get(signing_key_id)?
                                .as_str()
                                .map(ToOwned::to_owned)
                        })
                }
                kind => self
                    .stored_key(signer, kind)
                    .await?
                    .and_then(|k| single_key(&k))
                    .filter(|(id, _)| id == signing_key_id)
                    .map(|(_, key)| key),
            };
            let Some(signing_key) = signing_key else {
                return invalid(&format!("{signing_key_id} may not sign this key"));
            };
            let mut candidate = strip(&stored);
            candidate["signatures"] = json!({signer.as_str(): {signing_key_id: signature}});
            if verify_signed(&candidate, signer, signing_key_id, &signing_key).is_err() {
                return invalid(&format!("Invalid signature by {signing_key_id}"));
            }
            merged["signatures"][signer.as_str()][signing_key_id] = signature.clone();
        }
        let master = [("master".to_owned(), merged.to_string())];
        let (position, change) = if signer_kind == "self_signing" {
            let device_id: &ruma::DeviceId = key_id.into();
            let position = storage
                .keys
                .update_device_keys(target_user, device_id, &merged.to_string())
                .await?;
            let change = crate::e2ee::DeviceListChange::Device {
                device_id,
                deleted: false,
            };
            (position, change)
        } else {
            let position = storage
                .keys
                .set_cross_signing_keys(target_user, &master)
                .await?;
            (
                position,
                crate::e2ee::DeviceListChange::CrossSigning(&master),
            )
        };
        self.device_lists
            .changed(target_user, position, change)
            .await?;
        Ok(Ok(()))
    }
}
