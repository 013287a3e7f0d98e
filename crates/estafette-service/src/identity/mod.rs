//! This server as its users' identity server (the Identity Service API, `/_matrix/identity/v2`):
//! access tokens granted against OpenID tokens of its users, the hashed lookup of the addresses
//! bound to its accounts, and its public key. Calls the accounts domain (OpenID tokens).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ruma::{OwnedUserId, ServerName};
use sha2::{Digest, Sha256};

mod exchange;
mod invitations;

pub use exchange::SignedInvite;
pub use invitations::{INVITATION_PATH, InvitationService, StoredInvitation};

use crate::accounts::{digest, generate, is_active_local_user};
use crate::{Context, OpenIdService, ServiceError, ServiceResult};

const TOKEN_PREFIX: &str = "eis_";
/// The identity service's key ID, as clients and servers expect it of an identity server.
pub const IDENTITY_KEY_ID: &str = "ed25519:0";
/// Addresses whose lookup hash is computed per round, before a lookup.
const HASH_BATCH: u64 = 500;

/// How a lookup names the addresses it asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupAlgorithm {
    /// `sha256("<address> <medium> <pepper>")`, URL-safe unpadded base64.
    Sha256,
    /// `"<address> <medium>"` in plain text.
    None,
}

#[derive(Clone)]
pub struct IdentityService {
    context: Arc<Context>,
    openid: OpenIdService,
}

impl IdentityService {
    pub(crate) fn new(context: Arc<Context>, openid: OpenIdService) -> Self {
        Self { context, openid }
    }

    /// `POST /_matrix/identity/v2/account/register`: an access token of the identity service
    /// for the user an OpenID token of this server names.
    pub async fn register(
        &self,
        openid_token: &str,
        matrix_server_name: &ServerName,
    ) -> ServiceResult<String> {
        if matrix_server_name != self.context.server_name {
            return Err(ServiceError::Unauthorized(format!(
                "This identity server serves the users of {}, not {matrix_server_name}",
                self.context.server_name
            )));
        }
        let user_id = self
            .openid
            .user_info(openid_token)
            .await
            .map_err(|err| match err {
                ServiceError::UnknownToken { message, .. } => ServiceError::Unauthorized(message),
                other => other,
            })?;
        let token = generate(&self.context, TOKEN_PREFIX);
        self.context
            .storage
            .identity_tokens
            .create(&digest(&token), &user_id, self.context.now())
            .await?;
        Ok(token)
    }

    /// The user an identity service access token was granted to.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<OwnedUserId> {
        let tokens = &self.context.storage.identity_tokens;
        let user = tokens.user_of(&digest(token)).await?;
        match user {
            Some(user_id) if is_active_local_user(&self.context, &user_id).await? => Ok(user_id),
            _ => Err(ServiceError::Unauthorized(
                "Unknown identity service access token".to_owned(),
            )),
        }
    }

    /// `POST /_matrix/identity/v2/account/logout`
    pub async fn logout(&self, token: &str) -> ServiceResult<()> {
        let tokens = &self.context.storage.identity_tokens;
        Ok(tokens.delete(&digest(token)).await?)
    }

    /// The pepper lookups hash addresses with: fixed for the server, so that clients may keep
    /// their hashes, and its own, so that hashes of one server are worth nothing at another.
    pub fn pepper(&self) -> String {
        let seed = format!("estafette identity lookup {}", self.context.server_name);
        URL_SAFE_NO_PAD.encode(&Sha256::digest(seed.as_bytes())[..12])
    }

    fn lookup_hash(&self, medium: &str, address: &str) -> String {
        let input = format!("{address} {medium} {}", self.pepper());
        URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
    }

    /// `POST /_matrix/identity/v2/lookup`: which of `addresses` are bound to an active account
    /// of this server, keyed as they were asked.
    pub async fn lookup(
        &self,
        algorithm: LookupAlgorithm,
        pepper: &str,
        addresses: &[String],
    ) -> ServiceResult<BTreeMap<String, OwnedUserId>> {
        if pepper != self.pepper() {
            return Err(ServiceError::InvalidPepper(
                "The pepper does not match: ask /hash_details again".to_owned(),
            ));
        }
        self.compute_missing_hashes().await?;
        // The hash each asked address is stored under, and how it was asked.
        let asked: BTreeMap<String, String> = addresses
            .iter()
            .filter_map(|asked| {
                let hash = match algorithm {
                    LookupAlgorithm::Sha256 => asked.clone(),
                    LookupAlgorithm::None => {
                        let (address, medium) = asked.rsplit_once(' ')?;
                        self.lookup_hash(medium, &address.to_lowercase())
                    }
                };
                Some((hash, asked.clone()))
            })
            .collect();
        let hashes: Vec<String> = asked.keys().cloned().collect();
        let owners = self
            .context
            .storage
            .threepids
            .owners_by_lookup_hash(&hashes)
            .await?;
        let mut mappings = BTreeMap::new();
        for (hash, user_id) in owners {
            if let Some(asked) = asked.get(&hash)
                && is_active_local_user(&self.context, &user_id).await?
            {
                mappings.insert(asked.clone(), user_id);
            }
        }
        Ok(mappings)
    }

    /// Computes the lookup hash of the addresses bound since the last lookup.
    async fn compute_missing_hashes(&self) -> ServiceResult<()> {
        let threepids = &self.context.storage.threepids;
        loop {
            let missing = threepids.without_lookup_hash(HASH_BATCH).await?;
            for (medium, address) in &missing {
                let hash = self.lookup_hash(medium, address);
                threepids.set_lookup_hash(medium, address, &hash).await?;
            }
            if (missing.len() as u64) < HASH_BATCH {
                return Ok(());
            }
        }
    }

    /// Whether `id_server` (a host, with its port when not the default, as clients send it)
    /// names this server's identity service.
    pub fn is_this_server(&self, id_server: &str) -> bool {
        let base = self.context.config.base_url();
        let host = base
            .split_once("://")
            .map_or(base.as_str(), |(_, host)| host);
        id_server == host || id_server == self.context.server_name.as_str()
    }

    /// The signed association of `address` with `mxid` that `/3pid/bind` answers.
    pub fn sign_association(
        &self,
        medium: &str,
        address: &str,
        mxid: &ruma::UserId,
    ) -> ServiceResult<serde_json::Value> {
        let now = self.context.now();
        let association = serde_json::json!({
            "address": address,
            "medium": medium,
            "mxid": mxid,
            "not_before": now,
            // As Sydent: a century (the association ends when it is unbound).
            "not_after": now.saturating_add(100 * 365 * 24 * 60 * 60 * 1000),
            "ts": now,
        });
        let mut object: ruma::CanonicalJsonObject = serde_json::from_value(association)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let server_name = self.context.server_name.as_str();
        ruma::signatures::sign_json(server_name, &self.context.server_key.key_pair, &mut object)
            .map_err(|e| ServiceError::Internal(format!("cannot sign the association: {e}")))?;
        serde_json::to_value(object).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// `GET /_matrix/identity/v2/pubkey/{keyId}`: the identity service signs with the server's
    /// key, under its own ID and the one identity servers conventionally use.
    pub fn public_key(&self, key_id: &str) -> Option<String> {
        let own = &self.context.server_key;
        (key_id == IDENTITY_KEY_ID || key_id == own.key_id())
            .then(|| STANDARD_NO_PAD.encode(own.key_pair.public_key()))
    }

    /// `GET /_matrix/identity/v2/pubkey/isvalid`: whether `public_key` is this server's.
    pub fn is_own_key(&self, public_key: &str) -> bool {
        let own = STANDARD_NO_PAD.encode(self.context.server_key.key_pair.public_key());
        public_key.trim_end_matches('=') == own
    }
}

#[cfg(test)]
mod tests {
    use super::LookupAlgorithm;
    use crate::testing::services;
    use crate::{NewAccount, ServiceError};

    #[tokio::test]
    async fn bound_addresses_are_found_by_hash_or_plainly_with_the_server_s_pepper() {
        let (_dir, services, _clock) = services().await;
        let identity = &services.identity;
        let alice = services
            .accounts
            .create(NewAccount {
                localpart: Some("alice".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let threepid = estafette_storage::Threepid {
            medium: "email".into(),
            address: "alice@example.org".into(),
            validated_ts: 1,
            added_ts: 1,
        };
        let storage = &services.context.storage;
        storage.threepids.bind(&alice, &threepid).await.unwrap();
        let pepper = identity.pepper();
        let hash = identity.lookup_hash("email", "alice@example.org");
        let found = identity
            .lookup(
                LookupAlgorithm::Sha256,
                &pepper,
                &[hash.clone(), "unknown".into()],
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[&hash], alice);
        let plain = identity
            .lookup(
                LookupAlgorithm::None,
                &pepper,
                &[
                    "Alice@example.org email".into(),
                    "bob@example.org email".into(),
                ],
            )
            .await
            .unwrap();
        assert_eq!(plain["Alice@example.org email"], alice);
        assert_eq!(plain.len(), 1);
        assert!(matches!(
            identity
                .lookup(LookupAlgorithm::Sha256, "stale", &[hash.clone()])
                .await,
            Err(ServiceError::InvalidPepper(_))
        ));
        // A deactivated account is nobody's to find.
        storage.users.deactivate(&alice).await.unwrap();
        let gone = identity
            .lookup(LookupAlgorithm::Sha256, &pepper, &[hash])
            .await
            .unwrap();
        assert!(gone.is_empty());
    }
}
