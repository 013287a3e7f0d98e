//! Rooms: rooms, events and state, memberships, aliases, relations, the search index.

mod aliases;
mod events;
mod memberships;
mod relations;
mod room_records;
mod search;

pub use aliases::AliasRepository;
pub use events::{
    AppendedEvent, ClientTransaction, EventRecord, EventRepository, MembershipChange, NewEvent,
    StateChange, StateEntry, StateRepository,
};
pub use memberships::{MembershipRecord, MembershipRepository};
pub use relations::{RelationRecord, RelationRepository, ThreadSummary};
pub use room_records::{NewRoom, RoomCreation, RoomRecord, RoomRepository};
pub use search::{SearchEntry, SearchMatch, SearchQuery, SearchRepository, SearchText};
