//! The public room directory's wire format, shared by the client `/publicRooms` and the
//! federation `/publicRooms`.

use estafette_service::{DirectoryQuery, PublicRoom, PublicRoomsPage};
use ruma::directory::{Filter, PublicRoomsChunk, PublicRoomsChunkInit, RoomTypeFilter};
use ruma::room::JoinRuleKind;
use ruma::{OwnedServerName, UInt, room::RoomType};

fn to_chunk(room: PublicRoom) -> PublicRoomsChunk {
    let mut chunk: PublicRoomsChunk = PublicRoomsChunkInit {
        num_joined_members: UInt::new_saturating(room.num_joined_members),
        room_id: room.room_id,
        world_readable: room.world_readable,
        guest_can_join: room.guest_can_join,
    }
    .into();
    chunk.name = room.name;
    chunk.topic = room.topic;
    chunk.canonical_alias = room.canonical_alias;
    chunk.avatar_url = room.avatar_url.map(Into::into);
    chunk.join_rule = JoinRuleKind::from(room.join_rule.as_str());
    chunk.room_type = room.room_type.map(|t| RoomType::from(t.as_str()));
    chunk
}

fn limit(limit: Option<UInt>) -> Option<usize> {
    limit.map(|l| usize::try_from(u64::from(l)).unwrap_or(usize::MAX))
}

/// A query without a filter (the `GET` forms).
pub(crate) fn query(
    since: Option<String>,
    max: Option<UInt>,
    server: Option<OwnedServerName>,
) -> DirectoryQuery {
    DirectoryQuery {
        since,
        limit: limit(max),
        server,
        ..Default::default()
    }
}

/// A query with a search term and room types (the `POST` forms).
pub(crate) fn filtered_query(
    filter: &Filter,
    since: Option<String>,
    max: Option<UInt>,
    server: Option<OwnedServerName>,
) -> DirectoryQuery {
    let room_types = (!filter.room_types.is_empty()).then(|| {
        filter
            .room_types
            .iter()
            .map(|t| match t {
                RoomTypeFilter::Default => None,
                other => other.as_str().map(ToOwned::to_owned),
            })
            .collect()
    });
    DirectoryQuery {
        search: filter.generic_search_term.clone(),
        room_types,
        ..query(since, max, server)
    }
}

/// Every `/publicRooms` response has the same fields.
pub(crate) trait PublicRoomsResponse {
    fn build(page: PublicRoomsPage) -> Self;
}

macro_rules! public_rooms_response {
    ($($response:ty => $new:expr),* $(,)?) => {$(
        impl PublicRoomsResponse for $response {
            fn build(page: PublicRoomsPage) -> Self {
                let mut response: Self = $new;
                response.total_room_count_estimate = UInt::new(page.total);
                response.next_batch = page.next_batch;
                response.prev_batch = page.prev_batch;
                response.chunk = page.chunk.into_iter().map(to_chunk).collect();
                response
            }
        }
    )*};
}

use ruma::api::client::directory as client;
use ruma::api::federation::directory as federation;
public_rooms_response!(
    client::get_public_rooms::v3::Response => client::get_public_rooms::v3::Response::new(Vec::new()),
    client::get_public_rooms_filtered::v3::Response => client::get_public_rooms_filtered::v3::Response::new(),
    federation::get_public_rooms::v1::Response => federation::get_public_rooms::v1::Response::new(),
    federation::get_public_rooms_filtered::v1::Response => federation::get_public_rooms_filtered::v1::Response::new(),
);
