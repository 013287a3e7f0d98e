//! Accounts: users, tokens, devices, profiles, account data, filters, UIA sessions, registration nonces, OpenID tokens.

mod access_cache;
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

pub(crate) use access_cache::AccessCache;
