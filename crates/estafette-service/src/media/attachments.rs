//! Encrypted attachments (the spec's `EncryptedFile`, version 2): the ciphertext's SHA-256 is
//! checked, then it is decrypted with AES-256-CTR, in memory only.

use aes::cipher::{KeyIvInit, StreamCipher};
use ruma::events::room::{EncryptedFile, EncryptedFileHashAlgorithm, EncryptedFileInfo};
use sha2::{Digest, Sha256};

use crate::{ServiceError, ServiceResult};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The plaintext of `ciphertext`, or `DecryptionFailed` when it is not what `file` describes.
pub(crate) fn decrypt(ciphertext: &[u8], file: &EncryptedFile) -> ServiceResult<Vec<u8>> {
    let EncryptedFileInfo::V2(info) = &file.info else {
        return Err(ServiceError::DecryptionFailed(format!(
            "Unsupported attachment encryption version {}",
            file.info.version()
        )));
    };
    let expected = file
        .hashes
        .get(&EncryptedFileHashAlgorithm::Sha256)
        .ok_or_else(|| ServiceError::DecryptionFailed("The file has no sha256 hash".to_owned()))?;
    if Sha256::digest(ciphertext).as_slice() != expected.as_bytes() {
        return Err(ServiceError::DecryptionFailed(
            "The file does not match its sha256 hash".to_owned(),
        ));
    }
    let mut plaintext = ciphertext.to_vec();
    let mut cipher = Aes256Ctr::new(info.k.as_inner().into(), info.iv.as_inner().into());
    cipher.apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use ruma::events::room::{EncryptedFileHashes, V2EncryptedFileInfo};

    use super::*;

    fn encrypted(plaintext: &[u8], key: [u8; 32], iv: [u8; 16]) -> (Vec<u8>, EncryptedFile) {
        let mut ciphertext = plaintext.to_vec();
        Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut ciphertext);
        let hash: [u8; 32] = Sha256::digest(&ciphertext).into();
        let file = EncryptedFile::new(
            "mxc://example.org/abc".into(),
            V2EncryptedFileInfo::encode(key, iv).into(),
            EncryptedFileHashes::with_sha256(hash),
        );
        (ciphertext, file)
    }

    #[test]
    fn an_attachment_decrypts_only_when_it_matches_its_hash() {
        let (ciphertext, file) = encrypted(b"the minutes of the meeting", [7; 32], [1; 16]);
        assert_eq!(
            decrypt(&ciphertext, &file).unwrap(),
            b"the minutes of the meeting"
        );
        let mut tampered = ciphertext.clone();
        tampered[0] ^= 1;
        assert!(matches!(
            decrypt(&tampered, &file),
            Err(ServiceError::DecryptionFailed(_))
        ));
    }
}
