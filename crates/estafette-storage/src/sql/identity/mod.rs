//! The identity service's tables.

mod invitations;
mod tokens;
