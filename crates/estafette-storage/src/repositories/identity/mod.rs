//! This server as its users' identity server: the identity service's access tokens.

mod tokens;

pub use tokens::IdentityTokenRepository;
