//! Account validity (TCHAP.md §6): when accounts expire, and the links that renew them.

mod renewal_tokens;
mod validity;

pub use renewal_tokens::{RenewalToken, RenewalTokenRepository};
pub use validity::{AccountValidity, AccountValidityRepository};
