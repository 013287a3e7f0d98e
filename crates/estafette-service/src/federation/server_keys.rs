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
    /// Other servers' documents, for notary queries.
    federation: crate::FederationService,
}

impl ServerKeysService {
    pub(crate) fn new(context: Arc<Context>, federation: crate::FederationService) -> Self {
        Self {
            context,
            federation,
        }
    }

    /// `/_matrix/key/v2/query`, as a notary: the server's own signed key document (this
    /// server's, or another's valid until `minimum_valid_until`), with this server's
    /// signature added to vouch for it. Empty when the keys cannot be had.
    pub async fn notarise(
        &self,
        server: &ruma::ServerName,
        minimum_valid_until: u64,
    ) -> ServiceResult<Vec<JsonValue>> {
        if server == self.context.server_name {
            return Ok(vec![self.document()?]);
        }
        let Some(document) = self
            .federation
            .key_document(server, minimum_valid_until)
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut object: CanonicalJsonObject =
            serde_json::from_value(document).map_err(|e| ServiceError::Internal(e.to_string()))?;
        ruma::signatures::sign_json(
            self.context.server_name.as_str(),
            &self.context.server_key.key_pair,
            &mut object,
        )
        .map_err(|e| ServiceError::Internal(format!("cannot co-sign a key document: {e}")))?;
        Ok(vec![
            serde_json::to_value(object).map_err(|e| ServiceError::Internal(e.to_string()))?,
        ])
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
