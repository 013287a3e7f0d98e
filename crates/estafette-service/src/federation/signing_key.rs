//! The server's ed25519 signing key: generated on first start, kept in the data directory in
//! Synapse's format (`ed25519 <version> <unpadded base64 seed>`), and used to sign every PDU.

use std::path::Path;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use ruma::signatures::Ed25519KeyPair;

use crate::{ServiceError, ServiceResult};

/// The PKCS#8 v1 DER header of an ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Accepts what other implementations write: padded or not, with stray trailing bits (the
/// spec's own test seed has them).
pub(crate) fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// The server's signing key and its ID (`ed25519:<version>`).
pub struct ServerKey {
    pub key_pair: Ed25519KeyPair,
    /// The content scanner's curve25519 secret, derived from the seed so that every process
    /// sharing the signing key decrypts the same request bodies.
    pub content_scanner_secret: [u8; 32],
}

impl ServerKey {
    /// Builds the key from its 32-byte seed.
    pub fn from_seed(seed: &[u8], version: &str) -> ServiceResult<Self> {
        if seed.len() != 32 {
            return Err(ServiceError::Internal(format!(
                "a signing key seed has 32 bytes, not {}",
                seed.len()
            )));
        }
        let der = [&PKCS8_ED25519_PREFIX[..], seed].concat();
        let key_pair = Ed25519KeyPair::from_der(&der, version.to_owned())
            .map_err(|e| ServiceError::Internal(format!("invalid signing key: {e}")))?;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(seed)
            .map_err(|e| ServiceError::Internal(format!("invalid signing key: {e}")))?;
        hmac::Mac::update(&mut mac, b"estafette content scanner curve25519 key");
        let content_scanner_secret = hmac::Mac::finalize(mac).into_bytes().into();
        Ok(Self {
            key_pair,
            content_scanner_secret,
        })
    }

    /// The key every process of the server signs with: the one in the database; or else the
    /// key file at `path` (created if absent), which then goes into the database.
    pub async fn shared(
        storage: &estafette_storage::Storage,
        path: &Path,
        random: &dyn estafette_core::Random,
    ) -> ServiceResult<Self> {
        let text = match storage.server_keys.own_key().await? {
            Some(text) => text,
            None => {
                let candidate = key_file_text(path, random)?;
                storage.server_keys.offer_own_key(candidate.trim()).await?
            }
        };
        Self::parse(&text).map_err(|e| ServiceError::Internal(format!("the signing key: {e}")))
    }

    /// Reads the key at `path`, or creates it there from `random` seed bytes.
    pub fn load_or_generate(
        path: &Path,
        random: &dyn estafette_core::Random,
    ) -> ServiceResult<Self> {
        let text = key_file_text(path, random)?;
        Self::parse(&text).map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display())))
    }

    fn parse(text: &str) -> ServiceResult<Self> {
        let mut parts = text.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("ed25519"), Some(version), Some(seed)) => {
                let seed = lenient_base64()
                    .decode(seed)
                    .map_err(|e| ServiceError::Internal(format!("the seed is not base64: {e}")))?;
                Self::from_seed(&seed, version)
            }
            _ => Err(ServiceError::Internal(
                "expected `ed25519 <version> <seed>`".into(),
            )),
        }
    }

    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key_pair.version())
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The key file's text (`ed25519 <version> <seed>`), written first from `random` seed bytes if
/// there is no file yet.
fn key_file_text(path: &Path, random: &dyn estafette_core::Random) -> ServiceResult<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            random.fill_bytes(&mut seed);
            let version = format!("a_{}", random.alphanumeric(4));
            let text = format!("ed25519 {version} {}\n", STANDARD_NO_PAD.encode(seed));
            write_private(path, &text).map_err(|e| {
                ServiceError::Internal(format!("cannot write {}: {e}", path.display()))
            })?;
            tracing::info!(key_id = %format!("ed25519:{version}"), "generated the server signing key");
            Ok(text)
        }
        Err(err) => Err(ServiceError::Internal(format!(
            "cannot read {}: {err}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use estafette_core::SeededRandom;

    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let first = ServerKey::load_or_generate(&path, &SeededRandom::new(3)).unwrap();
        let again = ServerKey::load_or_generate(&path, &SeededRandom::new(4)).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        assert_eq!(first.key_pair.public_key(), again.key_pair.public_key());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("ed25519 a_")
        );
    }
}
