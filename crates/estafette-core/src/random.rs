//! Randomness is injected: production draws from the OS, tests from a seeded generator so a
//! run can be repeated exactly.

use std::sync::Mutex;

use rand::{RngCore, SeedableRng, rngs::OsRng};
use rand_chacha::ChaCha20Rng;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPERCASE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A source of random bytes, and the strings the server derives from them.
pub trait Random: Send + Sync + 'static {
    fn fill_bytes(&self, buf: &mut [u8]);

    /// A string of `len` characters from `[A-Za-z0-9]`, for tokens and session IDs.
    fn alphanumeric(&self, len: usize) -> String {
        self.string_from(ALPHANUMERIC, len)
    }

    /// A string of `len` upper-case letters, the shape of device IDs other servers use.
    fn uppercase(&self, len: usize) -> String {
        self.string_from(UPPERCASE, len)
    }

    fn string_from(&self, alphabet: &[u8], len: usize) -> String {
        // Rejection sampling keeps the distribution uniform for any alphabet size.
        let limit = 256 - (256 % alphabet.len());
        let mut out = String::with_capacity(len);
        let mut byte = [0u8; 1];
        while out.len() < len {
            self.fill_bytes(&mut byte);
            if (byte[0] as usize) < limit {
                out.push(alphabet[byte[0] as usize % alphabet.len()] as char);
            }
        }
        out
    }
}

/// The operating system's generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill_bytes(&self, buf: &mut [u8]) {
        OsRng.fill_bytes(buf);
    }
}

/// A deterministic generator for tests.
pub struct SeededRandom {
    rng: Mutex<ChaCha20Rng>,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
        }
    }
}

impl Random for SeededRandom {
    fn fill_bytes(&self, buf: &mut [u8]) {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_random_repeats_and_respects_alphabet() {
        let a = SeededRandom::new(7).alphanumeric(32);
        let b = SeededRandom::new(7).alphanumeric(32);
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, SeededRandom::new(8).alphanumeric(32));
        assert!(
            OsRandom
                .uppercase(10)
                .chars()
                .all(|c| c.is_ascii_uppercase())
        );
    }
}
