//! Opaque secrets handed to clients. Only their SHA-256 digests are stored, so a leaked
//! database does not leak usable tokens.

use sha2::{Digest, Sha256};

use crate::Context;

pub(crate) const ACCESS_TOKEN_PREFIX: &str = "eat_";
pub(crate) const REFRESH_TOKEN_PREFIX: &str = "ert_";

pub(crate) fn generate(context: &Context, prefix: &str) -> String {
    format!("{prefix}{}", context.random.alphanumeric(40))
}

pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
