//! Conversions between ruma's raw JSON fields and the plain JSON the services keep, with a
//! Matrix error when the JSON does not fit.

use ruma::serde::Raw;
use serde_json::Value as JsonValue;
use serde_json::value::RawValue as RawJsonValue;

use crate::ApiError;

/// Reads raw JSON a client sent as a plain value.
pub(crate) fn plain<T>(raw: &Raw<T>) -> Result<JsonValue, ApiError> {
    serde_json::from_str(raw.json().get())
        .map_err(|e| ApiError::bad_json(format!("Invalid JSON: {e}")))
}

/// Wraps a plain value as a raw ruma field.
pub(crate) fn raw<T>(value: &JsonValue) -> Result<Raw<T>, ApiError> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| ApiError::bad_json(e.to_string()))
}

/// Builds a typed ruma field from plain data of the same shape.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    value: impl serde::Serialize,
) -> Result<T, ApiError> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::bad_json(format!("Stored data is malformed: {e}")))
}

/// A count or limit from a request, as the services take it (saturating).
pub(crate) fn small(value: ruma::UInt) -> u32 {
    u32::try_from(u64::from(value)).unwrap_or(u32::MAX)
}

/// A timestamp the services give in milliseconds, as ruma's responses carry it.
pub(crate) fn millis(ts: u64) -> ruma::MilliSecondsSinceUnixEpoch {
    ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new(ts).unwrap_or_default())
}

/// A PDU as it goes over federation.
pub(crate) fn pdu(pdu: &estafette_service::Pdu) -> Result<Box<RawJsonValue>, ApiError> {
    RawJsonValue::from_string(pdu.json_string())
        .map_err(|e| estafette_service::ServiceError::Internal(e.to_string()).into())
}

/// Several PDUs as they go over federation.
pub(crate) fn pdus(pdus: &[estafette_service::Pdu]) -> Result<Vec<Box<RawJsonValue>>, ApiError> {
    pdus.iter().map(pdu).collect()
}

/// A plain value as a raw JSON field.
pub(crate) fn raw_value(value: &JsonValue) -> Result<Box<RawJsonValue>, ApiError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| estafette_service::ServiceError::Internal(e.to_string()).into())
}
