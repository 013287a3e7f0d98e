//! Accounts: registration, passwords and deactivation, sessions and tokens, user-interactive
//! authentication, devices, profiles, account data and room tags, filters, shared-secret
//! registration and OpenID tokens. Calls the shared [`crate::Context`] and the e2ee domain's
//! device-list publisher (deleted devices); nothing of the other domains.

mod account;
mod account_data;
mod administered;
mod devices;
mod filters;
mod login_tokens;
mod openid;
mod passwords;
mod profiles;
mod sessions;
mod shared_secret;
mod threepid_validation;
mod threepids;
pub(crate) mod tokens;
mod uia;

pub use account::{AccountService, NewAccount, Registration};
pub use account_data::AccountDataService;
pub use devices::DeviceService;
pub use filters::FilterService;
pub use openid::{OpenIdService, OpenIdToken};
pub use profiles::{DirectoryUser, ProfileService};
pub use sessions::{
    LoginIdentifier, LoginOutcome, NO_DEVICE, Requester, SessionService, TokenGrant,
};
pub use shared_secret::{
    SharedSecretRegistration, SharedSecretRequest, mac_input as shared_secret_mac_input,
};
pub use threepid_validation::{
    RequestedToken, SUBMIT_TOKEN_PATH, ThreepidValidationService, ValidationPurpose,
};
pub use threepids::ThreepidService;
pub use uia::{UiaAction, UiaService};

// For the other domains.
pub(crate) use account::is_active_local_user;
pub(crate) use passwords::check_policy as check_password_policy;
pub(crate) use tokens::{digest, generate};
