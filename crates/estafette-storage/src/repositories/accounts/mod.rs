//! Accounts: users, tokens, devices, profiles, account data, filters, UIA sessions, registration nonces, OpenID tokens, third-party identifiers.

mod account_data;
mod devices;
mod filters;
mod login_tokens;
mod openid_tokens;
mod profiles;
mod registration_nonces;
mod threepid_validations;
mod threepids;
mod tokens;
mod uia_sessions;
mod users;

pub use account_data::{AccountDataEntry, AccountDataRepository};
pub use devices::{DeviceRecord, DeviceRepository};
pub use filters::FilterRepository;
pub use login_tokens::LoginTokenRepository;
pub use openid_tokens::OpenIdTokenRepository;
pub use profiles::ProfileRepository;
pub use registration_nonces::RegistrationNonceRepository;
pub use threepid_validations::{ThreepidValidation, ThreepidValidationRepository};
pub use threepids::{Threepid, ThreepidRepository};
pub use tokens::{AccessTokenRecord, NewTokens, RefreshTokenRecord, TokenRepository};
pub use uia_sessions::{UiaSessionRecord, UiaSessionRepository};
pub use users::{NewUser, UserRecord, UserRepository};
