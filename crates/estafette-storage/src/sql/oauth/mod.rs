//! OAuth 2.0: registered clients and authorization code grants.

mod clients;
mod grants;
mod upstream;
