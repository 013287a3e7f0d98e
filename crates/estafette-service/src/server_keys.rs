//! The server's published signing keys (`/_matrix/key/v2/server`): other servers fetch them to
//! check this server's events and requests.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ruma::canonical_json::CanonicalJsonObject;
use serde_json::{Value as JsonValue, json};

use crate::{Context, ServiceError, ServiceResult};

/// How long other servers may cache our key document.
const KEY_VALIDITY_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Clone)]
pub struct ServerKeysService {
    context: Arc<Context>,
}

impl ServerKeysService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// The self-signed key document.
    pub fn document(&self) -> ServiceResult<JsonValue> {
        let key = &self.context.server_key;
        let server_name = self.context.server_name.as_str();
        let document = json!({
            "server_name": server_name,
            "valid_until_ts": self.context.now() + KEY_VALIDITY_MS,
            "verify_keys": {key.key_id(): {"key": STANDARD_NO_PAD.encode(key.key_pair.public_key())}},
            "old_verify_keys": {},
        });
        let mut object: CanonicalJsonObject =
            serde_json::from_value(document).map_err(|e| ServiceError::Internal(e.to_string()))?;
        ruma::signatures::sign_json(server_name, &key.key_pair, &mut object)
            .map_err(|e| ServiceError::Internal(format!("cannot sign the key document: {e}")))?;
        serde_json::to_value(object).map_err(|e| ServiceError::Internal(e.to_string()))
    }
}
