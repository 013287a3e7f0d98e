//! This server as its own OAuth 2.0 authorization server: registered clients, and the grants
//! of the authorization code flow.

mod clients;
mod grants;

pub use clients::{OAuthClientRecord, OAuthClientRepository};
pub use grants::{NewGrant, OAuthGrantRecord, OAuthGrantRepository};
