//! Third-party networks (spec "Third-party Networks", BRIDGES.md §2.5): the protocols the
//! application services bridge, and their lookups of users and locations, proxied to the
//! services that list the protocol. Protocol descriptions are kept for an hour; results an
//! application service gets wrong are left out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_core::Registration;
use serde_json::{Map, Value as JsonValue};

use crate::{Context, ServiceError, ServiceResult};

const PROTOCOLS_CACHE_MS: u64 = 3_600_000;
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct ThirdPartyNetworks {
    context: Arc<Context>,
    http: reqwest::Client,
    /// The merged protocols and when they were fetched.
    protocols: Arc<Mutex<Option<(u64, BTreeMap<String, JsonValue>)>>>,
}

/// What a lookup looks for.
pub enum ThirdPartyLookup<'a> {
    /// `user/{protocol}` or `location/{protocol}` with the protocol's fields.
    Protocol(&'a str, &'a BTreeMap<String, String>),
    /// `user?userid=` or `location?alias=`: every service is asked.
    Reverse(&'a str, &'a str),
}

impl ThirdPartyNetworks {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            http: crate::plain_http_client(LOOKUP_TIMEOUT),
            protocols: Arc::default(),
        }
    }

    /// Every protocol, each merged across the services that bridge it: the first
    /// description, the instances of all, each instance ID naming its service.
    pub async fn protocols(&self) -> BTreeMap<String, JsonValue> {
        let now = self.context.now();
        if let Some((fetched, protocols)) = crate::lock(&self.protocols).as_ref()
            && now.saturating_sub(*fetched) < PROTOCOLS_CACHE_MS
        {
            return protocols.clone();
        }
        let mut names: Vec<&str> = self
            .context
            .appservices
            .all()
            .iter()
            .flat_map(|s| s.protocols.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut merged = BTreeMap::new();
        for name in names {
            if let Some(protocol) = self.fetch_protocol(name).await {
                merged.insert(name.to_owned(), protocol);
            }
        }
        *crate::lock(&self.protocols) = Some((now, merged.clone()));
        merged
    }

    pub async fn protocol(&self, name: &str) -> ServiceResult<JsonValue> {
        self.protocols()
            .await
            .remove(name)
            .ok_or_else(|| ServiceError::NotFound(format!("No bridge offers protocol {name}")))
    }

    async fn fetch_protocol(&self, name: &str) -> Option<JsonValue> {
        let mut merged: Option<Map<String, JsonValue>> = None;
        let mut instances = Vec::new();
        for service in self.bridging(name) {
            let path = format!(
                "/_matrix/app/v1/thirdparty/protocol/{}",
                super::path_segment(name)
            );
            let Some(JsonValue::Object(mut answer)) = self.get(service, &path, &[]).await else {
                continue;
            };
            if let Some(JsonValue::Array(found)) = answer.remove("instances") {
                for mut instance in found {
                    let network = instance["network_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(object) = instance.as_object_mut() {
                        object.insert(
                            "instance_id".into(),
                            format!("{}|{network}", service.id).into(),
                        );
                        instances.push(instance);
                    }
                }
            }
            merged.get_or_insert(answer);
        }
        let mut protocol = merged?;
        protocol.insert("instances".into(), JsonValue::Array(instances));
        Some(JsonValue::Object(protocol))
    }

    /// Users or locations (`kind`), from every service that may know them; items missing
    /// what the spec requires are dropped.
    pub async fn lookup(&self, kind: &str, lookup: ThirdPartyLookup<'_>) -> Vec<JsonValue> {
        let (services, path, query): (Vec<&Registration>, String, Vec<(String, String)>) =
            match lookup {
                ThirdPartyLookup::Protocol(protocol, fields) => (
                    self.bridging(protocol).collect(),
                    format!(
                        "/_matrix/app/v1/thirdparty/{kind}/{}",
                        super::path_segment(protocol)
                    ),
                    fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ),
                ThirdPartyLookup::Reverse(key, value) => (
                    self.context
                        .appservices
                        .all()
                        .iter()
                        .map(|s| s.as_ref())
                        .collect(),
                    format!("/_matrix/app/v1/thirdparty/{kind}"),
                    vec![(key.to_owned(), value.to_owned())],
                ),
            };
        let id_field = if kind == "user" { "userid" } else { "alias" };
        let mut found = Vec::new();
        for service in services {
            if let Some(JsonValue::Array(items)) = self.get(service, &path, &query).await {
                found.extend(items.into_iter().filter(|item| {
                    item["protocol"].is_string()
                        && item["fields"].is_object()
                        && item[id_field].is_string()
                }));
            }
        }
        found
    }

    fn bridging<'a>(&'a self, protocol: &'a str) -> impl Iterator<Item = &'a Registration> {
        self.context
            .appservices
            .all()
            .iter()
            .filter(move |s| s.protocols.iter().any(|p| p == protocol))
            .map(|s| s.as_ref())
    }

    async fn get(
        &self,
        service: &Registration,
        path: &str,
        query: &[(String, String)],
    ) -> Option<JsonValue> {
        let url = service.url.as_deref()?;
        let mut target = format!("{url}{path}");
        if !query.is_empty() {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            target = format!("{target}?{encoded}");
        }
        let response = self
            .http
            .get(target)
            .bearer_auth(&service.hs_token)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => response.json().await.ok(),
            Ok(response) => {
                tracing::debug!(appservice = %service.id, status = %response.status(), %path, "third-party lookup refused");
                None
            }
            Err(err) => {
                tracing::warn!(appservice = %service.id, %path, "third-party lookup failed: {err}");
                None
            }
        }
    }
}
