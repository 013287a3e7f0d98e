//! What ruma's request parsers assume without checking, checked first: a body that breaks an
//! assumption gets the spec's 400 instead of a panic inside the parser.

use http::Method;
use serde_json::Value as JsonValue;

use crate::ApiError;

/// `(method, path suffix, field)`: bodies whose parser indexes `field` as a string.
const REQUIRED_STRING_FIELDS: &[(Method, &str, &str)] = &[
    // `LoginInfo` reads `data["type"]`, which panics when it is absent.
    (Method::POST, "/login", "type"),
];

pub(crate) fn check_body(method: &Method, path: &str, body: &[u8]) -> Result<(), ApiError> {
    let rules = REQUIRED_STRING_FIELDS
        .iter()
        .filter(|(m, suffix, _)| m == method && path.ends_with(suffix));
    for (_, _, field) in rules {
        let value: JsonValue = serde_json::from_slice(body).unwrap_or(JsonValue::Null);
        if !value.get(field).is_some_and(JsonValue::is_string) {
            return Err(ApiError::bad_json(format!(
                "The request body needs a string `{field}`"
            )));
        }
    }
    Ok(())
}
