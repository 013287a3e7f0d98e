//! The Matrix Content Scanner API's logic, served by the homeserver itself (TCHAP.md §5):
//! plain media goes through the media repository, which scans everything it serves; an
//! encrypted attachment is fetched, checked against its hash, decrypted in memory and its
//! plaintext scanned. Request bodies may be encrypted to this server's curve25519 key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ruma::events::room::EncryptedFile;
use ruma::{ServerName, UserId};
use serde_json::Value as JsonValue;
use sha2::{Digest, Sha256};
use vodozemac::Curve25519SecretKey;
use vodozemac::pk_encryption::{Message, PkDecryption};

use super::attachments;
use super::file_types::{self, FileTypePolicy};
use super::repository::{MediaFile, MediaRequester, MediaService};
use crate::antivirus::{AntivirusService, Verdict, content_hash};
use crate::lock;
use crate::{Context, ServiceError, ServiceResult};

/// What the scanner answers clients, as the reference scanner words it.
pub const CLEAN_INFO: &str = "File is clean";
pub const INFECTED_INFO: &str = "***VIRUS DETECTED***";
/// Attachment results remembered before the oldest are forgotten.
const REMEMBERED_RESULTS: usize = 10_000;

/// A scan's answer: `{"clean": …, "info": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub clean: bool,
    pub info: String,
}

#[derive(Clone)]
pub struct ContentScannerService {
    inner: Arc<Inner>,
}

struct Inner {
    media: MediaService,
    antivirus: AntivirusService,
    decryption: PkDecryption,
    file_types: FileTypePolicy,
    /// Per attachment (its URL and decryption metadata), the content hash of its plaintext,
    /// whose verdict the antivirus keeps, and the plaintext's detected type.
    plaintexts: Mutex<HashMap<String, (String, &'static str)>>,
}

impl ContentScannerService {
    pub(crate) fn new(
        context: &Arc<Context>,
        media: MediaService,
        antivirus: AntivirusService,
    ) -> Self {
        let secret = Curve25519SecretKey::from_slice(&context.server_key.content_scanner_secret);
        Self {
            inner: Arc::new(Inner {
                media,
                antivirus,
                decryption: PkDecryption::from_key(secret),
                file_types: FileTypePolicy::new(&context.config.antivirus),
                plaintexts: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `GET /public_key`: the unpadded base64 curve25519 key request bodies are encrypted to.
    pub fn public_key(&self) -> String {
        self.inner.decryption.public_key().to_base64()
    }

    /// The attachment a `download_encrypted` or `scan_encrypted` body names: `{"file": …}`,
    /// or `{"encrypted_body": {ciphertext, mac, ephemeral}}` holding that JSON encrypted to
    /// [`Self::public_key`].
    pub fn attachment(&self, body: &JsonValue) -> ServiceResult<EncryptedFile> {
        let Some(object) = body.as_object() else {
            return Err(ServiceError::BadJson(
                "Body must be a dictionary".to_owned(),
            ));
        };
        let decrypted;
        let metadata = match object.get("encrypted_body") {
            Some(encrypted) => {
                decrypted = self.decrypt_body(encrypted)?;
                &decrypted
            }
            None => body,
        };
        let file = metadata
            .get("file")
            .ok_or_else(|| ServiceError::BadJson("'file' is a required property".to_owned()))?;
        serde_json::from_value(file.clone())
            .map_err(|e| ServiceError::BadJson(format!("'file' is not an encrypted file: {e}")))
    }

    fn decrypt_body(&self, encrypted: &JsonValue) -> ServiceResult<JsonValue> {
        let field = |name: &str| {
            encrypted
                .get(name)
                .and_then(JsonValue::as_str)
                .ok_or_else(|| {
                    ServiceError::BadJson(format!("encrypted_body.{name} must be a string"))
                })
        };
        let message =
            Message::from_base64(field("ciphertext")?, field("mac")?, field("ephemeral")?)
                .map_err(|e| ServiceError::BadRequestEncryption(format!("encrypted_body: {e}")))?;
        let plaintext = self.inner.decryption.decrypt(&message).map_err(|e| {
            ServiceError::BadRequestEncryption(format!("encrypted_body cannot be decrypted: {e}"))
        })?;
        serde_json::from_slice(&plaintext)
            .map_err(|e| ServiceError::BadJson(format!("encrypted_body does not hold JSON: {e}")))
    }

    /// Refuses a file whose type the operator's policy does not let the scanner call clean.
    pub fn check_type(&self, bytes: &[u8]) -> ServiceResult<()> {
        self.inner.file_types.check(file_types::detect(bytes))
    }

    /// `GET /download/{server}/{media}`: the media, once clean and of an accepted type.
    pub async fn download(
        &self,
        requester: &UserId,
        server: &ServerName,
        media_id: &str,
    ) -> ServiceResult<MediaFile> {
        let file = self
            .inner
            .media
            .download(server, media_id, MediaRequester::User(requester))
            .await?;
        self.check_type(&file.bytes)?;
        Ok(file)
    }

    /// `GET /scan/{server}/{media}`: whether the media is clean.
    pub async fn scan(
        &self,
        requester: &UserId,
        server: &ServerName,
        media_id: &str,
    ) -> ServiceResult<ScanReport> {
        report(self.download(requester, server, media_id).await.map(drop))
    }

    /// `POST /scan_encrypted`: whether the attachment's plaintext is clean.
    pub async fn scan_encrypted(
        &self,
        requester: &UserId,
        file: &EncryptedFile,
    ) -> ServiceResult<ScanReport> {
        report(self.download_encrypted(requester, file).await.map(drop))
    }

    /// `POST /download_encrypted`: the attachment as stored (still encrypted, for the client to
    /// decrypt), once its plaintext is found clean.
    pub async fn download_encrypted(
        &self,
        requester: &UserId,
        file: &EncryptedFile,
    ) -> ServiceResult<MediaFile> {
        let (server, media_id) = file
            .url
            .parts()
            .map_err(|_| ServiceError::NotFound(format!("{} is not a media URI", file.url)))?;
        let ciphertext = self
            .inner
            .media
            .download(server, media_id, MediaRequester::User(requester))
            .await?;
        let key = result_key(file)?;
        let remembered = lock(&self.inner.plaintexts).get(&key).cloned();
        if let Some((hash, detected)) = remembered {
            self.inner.file_types.check(detected)?;
            match self.inner.antivirus.known_verdict(&hash).await {
                Some(Verdict::Clean) => return Ok(ciphertext),
                Some(Verdict::Infected { .. }) => return Err(not_clean()),
                None => {}
            }
        }
        let plaintext = attachments::decrypt(&ciphertext.bytes, file)?;
        let detected = file_types::detect(&plaintext);
        self.inner.file_types.check(detected)?;
        let hash = content_hash(&plaintext);
        let who = (requester.as_str(), "encrypted_attachment");
        self.inner
            .media
            .ensure_clean((server, media_id), &hash, &plaintext, who)
            .await?;
        let mut plaintexts = lock(&self.inner.plaintexts);
        if plaintexts.len() >= REMEMBERED_RESULTS {
            plaintexts.clear();
        }
        plaintexts.insert(key, (hash, detected));
        Ok(ciphertext)
    }
}

/// An infected file is an answer, not a failure, for the scan routes.
fn report(result: ServiceResult<()>) -> ServiceResult<ScanReport> {
    match result {
        Ok(()) => Ok(ScanReport {
            clean: true,
            info: CLEAN_INFO.to_owned(),
        }),
        Err(ServiceError::MediaNotClean(_)) => Ok(ScanReport {
            clean: false,
            info: INFECTED_INFO.to_owned(),
        }),
        Err(other) => Err(other),
    }
}

fn not_clean() -> ServiceError {
    ServiceError::MediaNotClean(INFECTED_INFO.to_owned())
}

/// An attachment's result is kept by its URL and its whole decryption metadata: the same
/// ciphertext under another key is another plaintext.
fn result_key(file: &EncryptedFile) -> ServiceResult<String> {
    let canonical = ruma::canonical_json::to_canonical_value(file)
        .map_err(|e| ServiceError::Internal(format!("cannot serialize a file: {e}")))?;
    Ok(hex::encode(Sha256::digest(canonical.to_string())))
}
