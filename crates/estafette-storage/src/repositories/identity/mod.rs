//! This server as its users' identity server: the identity service's access tokens, and the
//! invitations it holds for email addresses.

mod invitations;
mod tokens;

pub use invitations::{EmailInvitation, EmailInvitationRepository};
pub use tokens::IdentityTokenRepository;
