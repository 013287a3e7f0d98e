//! PDUs as clients see them, wrapped in ruma's raw event types.

use estafette_service::Pdu;
use ruma::serde::Raw;
use serde_json::value::to_raw_value;

use crate::ApiError;

/// The client format of a PDU, with (`AnyTimelineEvent`, `AnyStateEvent`) or without
/// (`AnySync…`) its room ID.
pub(crate) fn client_event<T>(pdu: &Pdu, with_room_id: bool) -> Result<Raw<T>, ApiError> {
    to_raw_value(&pdu.to_client_json(with_room_id))
        .map(Raw::from_json)
        .map_err(|e| ApiError::bad_json(format!("Cannot format event {}: {e}", pdu.event_id)))
}

pub(crate) fn client_events<T>(pdus: &[Pdu], with_room_id: bool) -> Result<Vec<Raw<T>>, ApiError> {
    pdus.iter()
        .map(|pdu| client_event(pdu, with_room_id))
        .collect()
}

/// Event content sent by a client: it must be a JSON object.
pub(crate) fn content_object(
    raw: &serde_json::value::RawValue,
) -> Result<serde_json::Value, ApiError> {
    match serde_json::from_str(raw.get()) {
        Ok(content @ serde_json::Value::Object(_)) => Ok(content),
        Ok(_) => Err(ApiError::bad_json("Event content must be a JSON object")),
        Err(e) => Err(ApiError::bad_json(format!("Invalid event content: {e}"))),
    }
}
