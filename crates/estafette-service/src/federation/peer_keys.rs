//! Other servers' signing keys: fetched from the server itself, kept until they expire, and
//! (only when configured) asked of trusted notaries when the server cannot be reached. The
//! documents are kept as signed, so this server can in turn act as a notary.

use std::collections::BTreeMap;

use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Base64;
use ruma::signatures::PublicKeyMap;
use ruma::{OwnedServerName, ServerName};
use serde_json::{Value as JsonValue, json};

use crate::{FederationService, ServiceError, ServiceResult};

impl FederationService {
    /// A server's verify key, from the cache or fetched.
    pub(crate) async fn verify_key(
        &self,
        server: &ServerName,
        key_id: &str,
    ) -> ServiceResult<Option<String>> {
        if server == self.context.server_name {
            let own = &self.context.server_key;
            return Ok((own.key_id() == key_id).then(|| {
                Base64::<ruma::serde::base64::Standard, _>::new(own.key_pair.public_key()).encode()
            }));
        }
        // A pinned server is known by its pin alone: nothing fetched or vouched for overrides it.
        if let Some(pinned) = self.context.config.federation.pinned_keys(server.as_str()) {
            return Ok(pinned.get(key_id).cloned());
        }
        let now = self.context.now();
        let keys = &self.context.storage.server_keys;
        if let Some(key) = keys.get(server, key_id, now).await? {
            return Ok(Some(key));
        }
        self.fetch_keys(server).await?;
        Ok(keys.get(server, key_id, now).await?)
    }

    /// A server's signed key document valid until at least `minimum_valid_until`, as a
    /// notary hands it on (fetched again when the cached one is too old).
    pub(crate) async fn key_document(
        &self,
        server: &ServerName,
        minimum_valid_until: u64,
    ) -> ServiceResult<Option<JsonValue>> {
        let wanted = minimum_valid_until.max(self.context.now());
        let cached = self.context.storage.server_keys.document(server).await?;
        let document = match cached {
            Some((document, valid_until)) if valid_until >= wanted => Some(document),
            _ => {
                if let Err(e) = self.fetch_keys(server).await {
                    tracing::info!(%server, "cannot fetch keys for a notary query: {e}");
                }
                self.context
                    .storage
                    .server_keys
                    .document(server)
                    .await?
                    .map(|(document, _)| document)
            }
        };
        Ok(document.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// Fetches a server's keys from it, or else from the configured notaries.
    async fn fetch_keys(&self, server: &ServerName) -> ServiceResult<()> {
        let direct = match self.fetch_keys_directly(server).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        for notary in &self.context.config.federation.trusted_key_servers {
            let Ok(notary) = OwnedServerName::try_from(notary.as_str()) else {
                continue;
            };
            if notary == server {
                continue;
            }
            match self.fetch_keys_from_notary(&notary, server).await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::info!(%server, %notary, "the notary did not help: {e}"),
            }
        }
        Err(direct)
    }

    /// `/_matrix/key/v2/server` of the server itself.
    async fn fetch_keys_directly(&self, server: &ServerName) -> ServiceResult<()> {
        self.check_allowed(server)?;
        let target = self.base_url(server).await;
        let document: JsonValue = self
            .http
            .get(format!("{}/_matrix/key/v2/server", target.url))
            .header(reqwest::header::HOST, &target.host)
            .send()
            .await
            .map_err(|e| unreachable(server, &e))?
            .json()
            .await
            .map_err(|e| unreachable(server, &e))?;
        self.keep_document(server, document, None).await
    }

    /// `/_matrix/key/v2/query` of a notary, whose own keys are fetched directly.
    async fn fetch_keys_from_notary(
        &self,
        notary: &ServerName,
        server: &ServerName,
    ) -> ServiceResult<()> {
        self.check_allowed(notary)?;
        let now = self.context.now();
        let stored = &self.context.storage.server_keys;
        if stored
            .document(notary)
            .await?
            .is_none_or(|(_, until)| until <= now)
        {
            self.fetch_keys_directly(notary).await?;
        }
        let notary_keys: Vec<(String, String)> = match stored.document(notary).await? {
            Some((document, _)) => {
                verify_keys(&serde_json::from_str(&document).unwrap_or_default())
            }
            None => Vec::new(),
        };
        let target = self.base_url(notary).await;
        let answer: JsonValue = self
            .http
            .post(format!("{}/_matrix/key/v2/query", target.url))
            .header(reqwest::header::HOST, &target.host)
            .json(&json!({"server_keys": {server.as_str(): {}}}))
            .send()
            .await
            .map_err(|e| unreachable(notary, &e))?
            .json()
            .await
            .map_err(|e| unreachable(notary, &e))?;
        let documents = answer["server_keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for document in documents {
            if document["server_name"].as_str() == Some(server.as_str())
                && self
                    .keep_document(server, document, Some((notary, &notary_keys)))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
        }
        Err(ServiceError::Unavailable(format!(
            "{notary} has no valid keys of {server}"
        )))
    }

    /// Keeps a key document if the server's own keys sign it, and from a notary, if the
    /// notary's keys sign it too.
    async fn keep_document(
        &self,
        server: &ServerName,
        document: JsonValue,
        notary: Option<(&ServerName, &[(String, String)])>,
    ) -> ServiceResult<()> {
        if document["server_name"].as_str() != Some(server.as_str()) {
            return Err(ServiceError::Unavailable(format!(
                "keys of another server were served for {server}"
            )));
        }
        let keys = verify_keys(&document);
        self.check_pin(server, &keys)?;
        let mut public_keys = PublicKeyMap::new();
        public_keys.insert(server.to_string(), decoded(&keys));
        if let Some((notary, notary_keys)) = notary {
            public_keys.insert(notary.to_string(), decoded(notary_keys));
        }
        let object: CanonicalJsonObject =
            serde_json::from_value(document.clone()).map_err(|e| unreachable(server, &e))?;
        ruma::signatures::verify_json(&public_keys, &object)
            .map_err(|e| unreachable(server, &e))?;
        let valid_until = document["valid_until_ts"].as_u64().unwrap_or_default();
        self.context
            .storage
            .server_keys
            .put(server, &keys, valid_until, &document.to_string())
            .await?;
        Ok(())
    }

    /// Before talking to a pinned server: it must present its pinned keys and no other, as
    /// its key document (kept until it expires, fetched from the server itself) shows.
    pub(crate) async fn check_pinned_peer(&self, server: &ServerName) -> ServiceResult<()> {
        if self
            .context
            .config
            .federation
            .pinned_keys(server.as_str())
            .is_none()
        {
            return Ok(());
        }
        let now = self.context.now();
        let checked = self
            .pins_checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .copied();
        // Once its document passed, a server is not looked up again before it expires.
        if checked.is_some_and(|until| until > now) {
            return Ok(());
        }
        let stored = &self.context.storage.server_keys;
        let current = stored
            .document(server)
            .await?
            .filter(|(_, until)| *until > now);
        let (document, until) = match current {
            Some(kept) => kept,
            None => {
                self.fetch_keys_directly(server).await?;
                stored
                    .document(server)
                    .await?
                    .ok_or_else(|| unreachable(server, &"no key document"))?
            }
        };
        // A document kept before the pin was configured is held to it too.
        let document = serde_json::from_str(&document).unwrap_or_default();
        self.check_pin(server, &verify_keys(&document))?;
        self.pins_checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(server.to_owned(), until);
        Ok(())
    }

    /// Refuses keys of a pinned server that its pin does not name.
    fn check_pin(&self, server: &ServerName, keys: &[(String, String)]) -> ServiceResult<()> {
        let Some(pinned) = self.context.config.federation.pinned_keys(server.as_str()) else {
            return Ok(());
        };
        if keys.is_empty() {
            return Err(unreachable(server, &"the server presents no key"));
        }
        match keys
            .iter()
            .find(|(id, key)| pinned.get(id.as_str()) != Some(key))
        {
            Some((id, _)) => Err(ServiceError::Forbidden(format!(
                "{server} presents the signing key {id}, which is not the key pinned for it"
            ))),
            None => Ok(()),
        }
    }

    pub(crate) async fn verify_pdu(
        &self,
        object: &mut CanonicalJsonObject,
        rules: &ruma::room_version_rules::RoomVersionRules,
    ) -> ServiceResult<()> {
        let invalid = |message: String| ServiceError::Forbidden(message);
        let servers =
            ruma::signatures::required_server_signatures_to_verify_event(object, &rules.signatures)
                .map_err(|e| invalid(format!("Cannot verify the event: {e}")))?;
        let signatures = match object.get("signatures") {
            Some(ruma::CanonicalJsonValue::Object(signatures)) => signatures.clone(),
            _ => return Err(invalid("The event is not signed".into())),
        };
        let mut public_keys = PublicKeyMap::new();
        for server in servers {
            let key_ids: Vec<String> = match signatures.get(server.as_str()) {
                Some(ruma::CanonicalJsonValue::Object(keys)) => keys.keys().cloned().collect(),
                _ => return Err(invalid(format!("The event is not signed by {server}"))),
            };
            let mut keys = BTreeMap::new();
            for key_id in key_ids {
                if let Some(key) = self.verify_key(&server, &key_id).await? {
                    if let Ok(key) = Base64::parse(&key) {
                        keys.insert(key_id, key);
                    }
                }
            }
            public_keys.insert(server.to_string(), keys);
        }
        match ruma::signatures::verify_event(&public_keys, object, rules)
            .map_err(|e| invalid(format!("Invalid event signature: {e}")))?
        {
            ruma::signatures::Verified::All => Ok(()),
            ruma::signatures::Verified::Signatures => {
                ruma::canonical_json::redact_in_place(object, &rules.redaction, None)
                    .map_err(|e| invalid(format!("Cannot redact the event: {e}")))
            }
        }
    }
}

/// `(key ID, base64 key)` of a key document's `verify_keys`.
fn verify_keys(document: &JsonValue) -> Vec<(String, String)> {
    document["verify_keys"]
        .as_object()
        .map(|keys| {
            keys.iter()
                .filter_map(|(id, key)| Some((id.clone(), key["key"].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn decoded(keys: &[(String, String)]) -> BTreeMap<String, Base64> {
    keys.iter()
        .filter_map(|(id, key)| Some((id.clone(), Base64::parse(key).ok()?)))
        .collect()
}

fn unreachable(server: &ServerName, e: &dyn std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(format!("cannot fetch {server}'s keys: {e}"))
}
