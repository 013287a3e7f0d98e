//! OAuth 2.0: registered clients and authorization code grants.

mod account;
mod clients;
mod device_grants;
mod grants;
mod upstream;
