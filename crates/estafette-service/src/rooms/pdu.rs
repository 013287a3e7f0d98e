//! Persistent data units: every room event is a full PDU of its room version, hashed and
//! signed by the server that created it. The PDU is what is stored; clients see a projection.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, try_from_json_map};
use ruma::events::TimelineEventType;
use ruma::room_version_rules::{EventIdFormatVersion, RoomIdFormatVersion, RoomVersionRules};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId,
    UInt, UserId,
};
use serde::Deserialize;
use serde_json::Value as JsonValue;
use serde_json::value::RawValue as RawJsonValue;

use crate::ServerKey;
use crate::{ServiceError, ServiceResult};

/// A stored PDU: its canonical JSON, and the fields the server reads often.
#[derive(Debug, Clone)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    /// The room, also for a v12 create event whose JSON has no `room_id`.
    pub room_id: OwnedRoomId,
    room_id_field: Option<OwnedRoomId>,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub kind: TimelineEventType,
    pub content: Box<RawJsonValue>,
    pub state_key: Option<String>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    pub depth: u64,
    pub json: CanonicalJsonObject,
    /// The redaction that pruned this event, if any.
    pub redacted_by: Option<OwnedEventId>,
    /// What the server adds for clients (`redacted_because`, bundled relations…); not part of
    /// the PDU.
    pub unsigned: serde_json::Map<String, JsonValue>,
}

#[derive(Deserialize)]
struct PduFields {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawJsonValue>,
    state_key: Option<String>,
    #[serde(default, deserialize_with = "event_references")]
    prev_events: Vec<OwnedEventId>,
    #[serde(default, deserialize_with = "event_references")]
    auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    depth: UInt,
}

#[derive(Deserialize)]
struct RedactsInContent {
    redacts: Option<OwnedEventId>,
}

/// Event references are IDs, or in rooms v1 and v2 `[ID, {"sha256": hash}]` pairs.
fn event_references<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<OwnedEventId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Reference {
        Id(OwnedEventId),
        WithHashes(OwnedEventId, serde::de::IgnoredAny),
    }
    let references = Vec::<Reference>::deserialize(deserializer)?;
    Ok(references
        .into_iter()
        .map(|reference| match reference {
            Reference::Id(id) | Reference::WithHashes(id, _) => id,
        })
        .collect())
}

/// What rooms v1 and v2 need to reference events: the new event's own ID (`$random:server`,
/// as those versions have no reference-hash IDs) and the reference hash of every event it
/// points to.
pub(crate) struct LegacyReferences {
    pub event_id: OwnedEventId,
    pub hashes: std::collections::HashMap<OwnedEventId, String>,
}

/// What a local user asks to send; the server fills in the rest of the PDU.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub kind: TimelineEventType,
    pub content: JsonValue,
    pub state_key: Option<String>,
    /// The `origin_server_ts` an application service asked for (timestamp massaging); now
    /// when `None`.
    pub timestamp: Option<u64>,
}

impl EventDraft {
    pub fn state(
        kind: TimelineEventType,
        state_key: impl Into<String>,
        content: JsonValue,
    ) -> Self {
        Self {
            kind,
            content,
            state_key: Some(state_key.into()),
            timestamp: None,
        }
    }

    pub fn message(kind: TimelineEventType, content: JsonValue) -> Self {
        Self {
            kind,
            content,
            state_key: None,
            timestamp: None,
        }
    }

    /// The draft with the timestamp an application service gave.
    pub fn at(mut self, timestamp: Option<u64>) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// Where a new PDU goes in its room's graph.
pub(crate) struct PduPosition<'a> {
    /// `None` only for the create event of a v12 room, whose ID derives from the event.
    pub room_id: Option<&'a RoomId>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub depth: u64,
    /// Set for rooms v1 and v2 only.
    pub legacy: Option<LegacyReferences>,
}

impl Pdu {
    /// Parses a stored or received PDU.
    pub fn from_json(event_id: OwnedEventId, json: &str) -> ServiceResult<Self> {
        let object: CanonicalJsonObject = serde_json::from_str(json)
            .map_err(|e| ServiceError::Internal(format!("PDU {event_id}: {e}")))?;
        let fields: PduFields = serde_json::from_str(json)
            .map_err(|e| ServiceError::Internal(format!("PDU {event_id}: {e}")))?;
        let room_id = match &fields.room_id {
            Some(room_id) => room_id.clone(),
            // Room version 12: the create event's reference hash is the room ID.
            None => {
                OwnedRoomId::try_from(format!("!{}", event_id.as_str().trim_start_matches('$')))
                    .map_err(|e| {
                        ServiceError::Internal(format!("PDU {event_id} has no room: {e}"))
                    })?
            }
        };
        let redacts = match fields.redacts {
            Some(redacts) => Some(redacts),
            None if fields.kind == TimelineEventType::RoomRedaction => {
                serde_json::from_str::<RedactsInContent>(fields.content.get())
                    .ok()
                    .and_then(|c| c.redacts)
            }
            None => None,
        };
        Ok(Self {
            event_id,
            room_id,
            room_id_field: fields.room_id,
            sender: fields.sender,
            origin_server_ts: fields.origin_server_ts,
            kind: fields.kind,
            content: fields.content,
            state_key: fields.state_key,
            prev_events: fields.prev_events,
            auth_events: fields.auth_events,
            redacts,
            depth: fields.depth.into(),
            json: object,
            redacted_by: None,
            unsigned: serde_json::Map::new(),
        })
    }

    /// Loads a stored event.
    pub fn from_record(record: estafette_storage::EventRecord) -> ServiceResult<Self> {
        let mut pdu = Self::from_json(record.event_id, &record.json)?;
        pdu.redacted_by = record.redacted_by;
        Ok(pdu)
    }

    /// The `m.relates_to` of the content: (rel_type, event_id, key).
    pub fn relates_to(&self) -> Option<(String, OwnedEventId, Option<String>)> {
        let content: JsonValue = serde_json::from_str(self.content.get()).ok()?;
        let relation = content.get("m.relates_to")?;
        let rel_type = relation.get("rel_type")?.as_str()?.to_owned();
        let event_id = OwnedEventId::try_from(relation.get("event_id")?.as_str()?).ok()?;
        let key = relation
            .get("key")
            .and_then(JsonValue::as_str)
            .map(ToOwned::to_owned);
        Some((rel_type, event_id, key))
    }

    /// The event this redaction event redacts.
    pub fn redacts(&self) -> Option<&OwnedEventId> {
        self.redacts.as_ref()
    }

    /// Builds, hashes and signs a new local PDU and computes its event ID.
    pub(crate) fn build(
        draft: &EventDraft,
        position: PduPosition<'_>,
        rules: &RoomVersionRules,
        sender: &UserId,
        origin: &OwnedServerName,
        key: &ServerKey,
        now: MilliSecondsSinceUnixEpoch,
    ) -> ServiceResult<Self> {
        let mut object = serde_json::Map::new();
        object.insert("type".into(), JsonValue::String(draft.kind.to_string()));
        object.insert("content".into(), draft.content.clone());
        object.insert("sender".into(), JsonValue::String(sender.to_string()));
        object.insert(
            "origin_server_ts".into(),
            serde_json::to_value(now).unwrap_or_default(),
        );
        object.insert("depth".into(), JsonValue::from(position.depth));
        let references = |ids: &[OwnedEventId]| -> JsonValue {
            match &position.legacy {
                Some(legacy) => ids
                    .iter()
                    .map(|id| {
                        let hash = legacy.hashes.get(id).cloned().unwrap_or_default();
                        serde_json::json!([id, {"sha256": hash}])
                    })
                    .collect(),
                None => serde_json::to_value(ids).unwrap_or_default(),
            }
        };
        object.insert("prev_events".into(), references(&position.prev_events));
        object.insert("auth_events".into(), references(&position.auth_events));
        if let Some(legacy) = &position.legacy {
            object.insert(
                "event_id".into(),
                JsonValue::String(legacy.event_id.to_string()),
            );
        }
        if let Some(room_id) = position.room_id {
            object.insert("room_id".into(), JsonValue::String(room_id.to_string()));
        }
        if let Some(state_key) = &draft.state_key {
            object.insert("state_key".into(), JsonValue::String(state_key.clone()));
        }
        // Room versions before 11 keep `redacts` at the top level, and an `origin`.
        if !rules.redaction.content_field_redacts {
            if draft.kind == TimelineEventType::RoomRedaction {
                let mut content = draft.content.clone();
                if let Some(redacts) = content.as_object_mut().and_then(|c| c.remove("redacts")) {
                    object.insert("redacts".into(), redacts);
                }
                object.insert("content".into(), content);
            }
            object.insert("origin".into(), JsonValue::String(origin.to_string()));
        }
        let mut object = try_from_json_map(object)
            .map_err(|e| ServiceError::BadJson(format!("The event is not canonical JSON: {e}")))?;
        ruma::signatures::hash_and_sign_event(
            origin.as_str(),
            &key.key_pair,
            &mut object,
            &rules.redaction,
        )
        .map_err(|e| match e {
            ruma::signatures::JsonError::PduTooLarge => too_large(),
            other => ServiceError::BadJson(format!("Cannot sign the event: {other}")),
        })?;
        let event_id = event_id_of(&object, rules)?;
        let json = CanonicalJsonValue::Object(object).to_string();
        // The spec's bound is on the whole signed event, which ruma's check does not see.
        if json.len() > MAX_PDU_BYTES {
            return Err(too_large());
        }
        Self::from_json(event_id, &json)
    }

    /// The event as a client sees it in a room's timeline.
    pub fn to_client_json(&self, with_room_id: bool) -> JsonValue {
        let content: JsonValue =
            serde_json::from_str(self.content.get()).unwrap_or(JsonValue::Null);
        let mut event = serde_json::json!({
            "type": self.kind.to_string(),
            "content": content,
            "event_id": self.event_id,
            "sender": self.sender,
            "origin_server_ts": self.origin_server_ts,
            "unsigned": self.unsigned,
        });
        if with_room_id {
            event["room_id"] = JsonValue::String(self.room_id.to_string());
        }
        if let Some(state_key) = &self.state_key {
            event["state_key"] = JsonValue::String(state_key.clone());
        }
        if let Some(redacts) = &self.redacts {
            event["redacts"] = JsonValue::String(redacts.to_string());
        }
        event
    }

    /// The stripped form invitees and knockers see (type, state key, sender, content).
    pub fn stripped(&self) -> JsonValue {
        strip_json(&self.to_client_json(false))
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The JSON text of the PDU as stored and sent to other servers.
    pub fn json_string(&self) -> String {
        CanonicalJsonValue::Object(self.json.clone()).to_string()
    }
}

/// The event ID of a PDU: its reference hash, or (rooms v1 and v2) its `event_id` field.
pub(crate) fn event_id_of(
    object: &CanonicalJsonObject,
    rules: &RoomVersionRules,
) -> ServiceResult<OwnedEventId> {
    if rules.event_id_format == EventIdFormatVersion::V1 {
        return match object.get("event_id") {
            Some(CanonicalJsonValue::String(id)) => OwnedEventId::try_from(id.as_str())
                .map_err(|e| ServiceError::BadJson(format!("Invalid event_id: {e}"))),
            _ => Err(ServiceError::BadJson("The PDU has no event_id".into())),
        };
    }
    let hash = ruma::signatures::reference_hash(object, rules).map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => too_large(),
        other => ServiceError::BadJson(format!("Cannot hash the event: {other}")),
    })?;
    OwnedEventId::try_from(format!("${hash}")).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The spec's bound on an event, signed and in canonical JSON.
pub(crate) const MAX_PDU_BYTES: usize = 65_536;

fn too_large() -> ServiceError {
    ServiceError::TooLarge(format!(
        "The event is larger than {MAX_PDU_BYTES} bytes once signed"
    ))
}

/// The stripped form of a state event given as JSON.
pub(crate) fn strip_json(event: &JsonValue) -> JsonValue {
    serde_json::json!({
        "type": event["type"],
        "state_key": event["state_key"],
        "sender": event["sender"],
        "content": event["content"],
    })
}

/// A v12 room's ID is derived from its create event; older rooms get `!random:server`.
pub(crate) fn needs_room_id_from_create(rules: &RoomVersionRules) -> bool {
    rules.room_id_format == RoomIdFormatVersion::V2
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id_field.as_deref()
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawJsonValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use ruma::canonical_json::CanonicalJsonObject;
    use ruma::room_version_rules::RoomVersionRules;

    use crate::ServerKey;

    /// The spec's fixed test key (appendices, "Cryptographic test vectors").
    fn spec_key() -> ServerKey {
        let seed = crate::federation::lenient_base64()
            .decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
            .unwrap();
        ServerKey::from_seed(&seed, "1").unwrap()
    }

    fn object(json: &str) -> CanonicalJsonObject {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn json_signing_matches_the_spec_vectors() {
        let key = spec_key();
        let mut empty = object("{}");
        ruma::signatures::sign_json("domain", &key.key_pair, &mut empty).unwrap();
        assert_eq!(
            serde_json::to_value(&empty).unwrap()["signatures"]["domain"]["ed25519:1"],
            "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        );
        let mut data = object(r#"{"one": 1, "two": "Two"}"#);
        ruma::signatures::sign_json("domain", &key.key_pair, &mut data).unwrap();
        assert_eq!(
            serde_json::to_value(&data).unwrap()["signatures"]["domain"]["ed25519:1"],
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        );
    }

    #[test]
    fn event_hashing_and_signing_match_the_spec_vectors() {
        let key = spec_key();
        let rules = RoomVersionRules::V1;
        let mut minimal = object(
            r#"{"room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
                "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
                "depth": 3, "unsigned": {"age_ts": 1000000}}"#,
        );
        ruma::signatures::hash_and_sign_event(
            "domain",
            &key.key_pair,
            &mut minimal,
            &rules.redaction,
        )
        .unwrap();
        let minimal = serde_json::to_value(&minimal).unwrap();
        assert_eq!(
            minimal["hashes"]["sha256"],
            "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
        );
        assert_eq!(
            minimal["signatures"]["domain"]["ed25519:1"],
            "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        );
        let mut message = object(
            r#"{"content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
                "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
                "signatures": {}, "unsigned": {"age_ts": 1000000}}"#,
        );
        ruma::signatures::hash_and_sign_event(
            "domain",
            &key.key_pair,
            &mut message,
            &rules.redaction,
        )
        .unwrap();
        let message = serde_json::to_value(&message).unwrap();
        assert_eq!(
            message["hashes"]["sha256"],
            "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
        );
        assert_eq!(
            message["signatures"]["domain"]["ed25519:1"],
            "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        );
    }
}
