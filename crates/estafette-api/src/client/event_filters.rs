//! Spec filters (`RoomEventFilter`, `RoomFilter`) as the services apply them, for every
//! endpoint that takes one (`/messages`, `/sync`, `/search`).

/// A spec event filter as the services apply it.
pub(crate) fn event_filter(
    filter: &ruma::api::client::filter::RoomEventFilter,
) -> estafette_service::EventFilter {
    use ruma::api::client::filter::{LazyLoadOptions, UrlFilter};
    estafette_service::EventFilter {
        types: filter.types.clone(),
        not_types: filter.not_types.clone(),
        senders: filter.senders.clone(),
        not_senders: filter.not_senders.clone(),
        contains_url: filter
            .url_filter
            .as_ref()
            .map(|f| matches!(f, UrlFilter::EventsWithUrl)),
        lazy_load_members: matches!(filter.lazy_load_options, LazyLoadOptions::Enabled { .. }),
    }
}

/// The room part of a sync filter.
pub(crate) fn room_filter(
    filter: &ruma::api::client::filter::RoomFilter,
) -> estafette_service::RoomFilter {
    estafette_service::RoomFilter {
        rooms: filter.rooms.clone(),
        not_rooms: filter.not_rooms.clone(),
        include_leave: filter.include_leave,
        timeline: event_filter(&filter.timeline),
        state: event_filter(&filter.state),
    }
}
