//! Integration tests: whole servers in this process, driven by matrix-sdk and raw HTTP.
//! One test binary keeps linking cheap.

mod account_data;
mod accounts;
mod dehydrated;
mod devices;
mod directory;
mod encryption;
mod ephemeral;
mod errors;
mod federated_encryption;
mod federated_keys;
mod federated_membership;
mod federated_rooms;
mod federation;
mod federation_scenarios;
mod federation_security;
mod malformed_input;
mod malformed_seeds;
mod media;
mod presence;
mod profile;
mod push;
mod recovery;
mod relations;
mod room_helpers;
mod room_rules;
mod rooms;
mod servers;
mod sessions;
mod spaces;
mod synapse;
mod synapse_rooms;
mod synapse_scenarios;
mod sync;
mod transactions;
mod verification;
