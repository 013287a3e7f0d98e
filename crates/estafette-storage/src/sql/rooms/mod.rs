//! Rooms: rooms, events and state, memberships, aliases, relations, the search index.

mod aliases;
pub(super) mod events;
pub(super) mod memberships;
mod relations;
mod room_records;
pub(super) mod search;
pub(super) mod state;
