//! The identity service's tables.

mod tokens;
