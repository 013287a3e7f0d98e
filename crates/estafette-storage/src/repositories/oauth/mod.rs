//! This server as its own OAuth 2.0 authorization server: registered clients, and the grants
//! of the authorization code flow, and sign-ins through an upstream OpenID Connect provider.

mod account;
mod clients;
mod device_grants;
mod grants;
mod upstream;

pub use account::{AccountSessionRecord, OAuthAccountRepository};
pub use clients::{OAuthClientRecord, OAuthClientRepository};
pub use device_grants::{DeviceGrantRecord, NewDeviceGrant, OAuthDeviceGrantRepository};
pub use grants::{NewGrant, OAuthGrantRecord, OAuthGrantRepository};
pub use upstream::{OAuthUpstreamRepository, UpstreamSession};
