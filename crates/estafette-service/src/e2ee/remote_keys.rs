//! Other servers' users' end-to-end keys, asked of their servers
//! (`/_matrix/federation/v1/user/keys/{query,claim}`), all servers at once.

use std::collections::BTreeMap;

use ruma::api::OutgoingRequest;
use ruma::api::federation::authentication::ServerSignatures;
use ruma::api::federation::keys::{claim_keys, get_keys};
use ruma::api::path_builder::SinglePath;
use ruma::serde::Raw;
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, ServerName};
use serde_json::{Value as JsonValue, json};
use tokio::task::JoinSet;

use crate::e2ee::device_keys::{KeyClaimResult, KeyClaims, KeyQueryResult};
use crate::{DeviceKeyService, FederationService, ServiceError, ServiceResult};

/// The entries of `wanted` whose users live on other servers, by server.
fn by_remote_server<V: Clone>(
    local: &ServerName,
    wanted: &BTreeMap<OwnedUserId, V>,
) -> BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, V>> {
    let mut grouped: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, V>> = BTreeMap::new();
    for (user_id, value) in wanted {
        if user_id.server_name() != local {
            grouped
                .entry(user_id.server_name().to_owned())
                .or_default()
                .insert(user_id.clone(), value.clone());
        }
    }
    grouped
}

/// Sends every server at once the request for its users' part of `wanted`; the answers come
/// back with their servers, and servers that could not answer go into `failures`.
async fn ask_each_server<V: Clone, R>(
    federation: &FederationService,
    wanted: &BTreeMap<OwnedUserId, V>,
    failures: &mut BTreeMap<String, JsonValue>,
    request: impl Fn(BTreeMap<OwnedUserId, V>) -> R,
) -> Vec<(OwnedServerName, R::IncomingResponse)>
where
    R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>
        + Send
        + 'static,
    R::IncomingResponse: Send + 'static,
{
    let mut tasks = JoinSet::new();
    for (server, part) in by_remote_server(federation.server_name(), wanted) {
        let (federation, request) = (federation.clone(), request(part));
        tasks.spawn(async move {
            let answer = federation.send(&server, request).await;
            (server, answer)
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((server, Ok(answer))) => answers.push((server, answer)),
            Ok((server, Err(err))) => {
                tracing::info!(%server, %err, "a server did not answer for its users' keys");
                let failure = json!({"status": 503, "message": err.to_string()});
                failures.insert(server.to_string(), failure);
            }
            Err(err) => tracing::warn!(%err, "a key request task failed"),
        }
    }
    answers
}

/// A key as plain JSON; what a server sends that is not JSON is dropped.
fn plain<T>(raw: &Raw<T>) -> Option<JsonValue> {
    serde_json::from_str(raw.json().get()).ok()
}

/// Keeps only what a server says about its own users: it cannot speak for anyone else's.
fn own_users<T>(
    server: &ServerName,
    map: BTreeMap<OwnedUserId, T>,
) -> impl Iterator<Item = (OwnedUserId, T)> {
    map.into_iter()
        .filter(move |(user_id, _)| user_id.server_name() == server)
}

impl DeviceKeyService {
    pub(crate) async fn query_remote(
        &self,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        result: &mut KeyQueryResult,
    ) {
        let answers = ask_each_server(
            &self.federation,
            wanted,
            &mut result.failures,
            get_keys::v1::Request::new,
        )
        .await;
        for (server, response) in answers {
            for (user_id, devices) in own_users(&server, response.device_keys) {
                let devices = devices
                    .iter()
                    .filter_map(|(device_id, keys)| Some((device_id.clone(), plain(keys)?)))
                    .collect();
                result.device_keys.insert(user_id, devices);
            }
            for (user_id, key) in own_users(&server, response.master_keys) {
                if let Some(key) = plain(&key) {
                    result.master_keys.insert(user_id, key);
                }
            }
            for (user_id, key) in own_users(&server, response.self_signing_keys) {
                if let Some(key) = plain(&key) {
                    result.self_signing_keys.insert(user_id, key);
                }
            }
        }
    }

    pub(crate) async fn claim_remote(&self, wanted: &KeyClaims, result: &mut KeyClaimResult) {
        let answers = ask_each_server(
            &self.federation,
            wanted,
            &mut result.failures,
            claim_keys::v1::Request::new,
        )
        .await;
        for (server, response) in answers {
            for (user_id, devices) in own_users(&server, response.one_time_keys) {
                let devices = devices
                    .into_iter()
                    .map(|(device_id, keys)| {
                        let keys = keys
                            .iter()
                            .filter_map(|(key_id, key)| Some((key_id.to_string(), plain(key)?)))
                            .collect();
                        (device_id, keys)
                    })
                    .collect();
                result.one_time_keys.insert(user_id, devices);
            }
        }
    }
}

/// A local user's devices and cross-signing keys, as another server tracks them.
#[derive(Debug)]
pub struct DeviceList {
    /// Grows whenever the list may have changed.
    pub stream_id: u64,
    /// Each device's id, signed keys and display name.
    pub devices: Vec<(OwnedDeviceId, JsonValue, Option<String>)>,
    pub master_key: Option<JsonValue>,
    pub self_signing_key: Option<JsonValue>,
}

impl DeviceKeyService {
    /// `GET /_matrix/federation/v1/user/devices/{userId}` for a local user.
    pub async fn device_list(&self, user_id: &ruma::UserId) -> ServiceResult<DeviceList> {
        let context = self.context();
        if !crate::accounts::is_active_local_user(context, user_id).await? {
            return Err(ServiceError::NotFound(format!(
                "{user_id} is not a user here"
            )));
        }
        // The chain other servers follow: the last update sent about this user.
        let stream_id = context
            .storage
            .device_lists
            .last_sent(user_id)
            .await?
            .unwrap_or(0);
        let wanted = BTreeMap::from([(user_id.to_owned(), Vec::new())]);
        let mut keys = self.query_local(None, &wanted).await?;
        let devices = keys
            .device_keys
            .remove(user_id)
            .unwrap_or_default()
            .into_iter()
            .map(|(device_id, keys)| {
                let name = keys
                    .get("unsigned")
                    .and_then(|unsigned| unsigned.get("device_display_name"))
                    .and_then(JsonValue::as_str)
                    .map(ToOwned::to_owned);
                (device_id, keys, name)
            })
            .collect();
        Ok(DeviceList {
            stream_id: u64::try_from(stream_id).unwrap_or_default(),
            devices,
            master_key: keys.master_keys.remove(user_id),
            self_signing_key: keys.self_signing_keys.remove(user_id),
        })
    }
}
