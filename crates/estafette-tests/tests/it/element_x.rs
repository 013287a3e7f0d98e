//! Element X's own client logic over Estafette: matrix-sdk-ui's `SyncService` (the room-list
//! and encryption sliding sync connections) and `RoomListService`, as the apps run them.

use std::time::Duration;

use estafette_tests::{RawClient, TestServer};
use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::sliding_sync::VersionBuilder;
use matrix_sdk_ui::eyeball_im::Vector;
use matrix_sdk_ui::room_list_service::filters::{new_filter_invite, new_filter_non_left};
use matrix_sdk_ui::room_list_service::{RoomListItem, RoomListService};
use matrix_sdk_ui::sync_service::SyncService;
use serde_json::json;

use crate::encryption::create_encrypted_room;
use crate::room_helpers::{create_room, invite, send_text, user};

/// A client as Element X builds it: native sliding sync, found through `/versions`.
pub(crate) async fn element_x(base_url: &str, username: &str, password: &str) -> Client {
    let client = Client::builder()
        .homeserver_url(base_url)
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .handle_refresh_tokens()
        .build()
        .await
        .expect("the server offers simplified sliding sync");
    client
        .matrix_auth()
        .login_username(username, password)
        .initial_device_display_name("Element X")
        .send()
        .await
        .expect("login");
    // The apps keep an event cache, from which the room list takes each room's latest event.
    client.event_cache().subscribe().expect("event cache");
    client
}

/// The room list as the app shows it (rooms not left, sorted by the SDK), updated from the
/// diffs it streams until `done` holds.
pub(crate) async fn room_list_until(
    service: &RoomListService,
    filter: fn() -> matrix_sdk_ui::room_list_service::filters::BoxedFilterFn,
    what: &str,
    done: impl Fn(&[RoomListItem]) -> bool,
) -> Vec<RoomListItem> {
    let all_rooms = service.all_rooms().await.expect("all_rooms list");
    let (stream, controller) = all_rooms.entries_with_dynamic_adapters(100);
    controller.set_filter(filter());
    let mut stream = std::pin::pin!(stream);
    let mut entries: Vector<RoomListItem> = Vector::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rooms: Vec<RoomListItem> = entries.iter().cloned().collect();
        if done(&rooms) {
            return rooms;
        }
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(diffs)) => {
                for diff in diffs {
                    diff.apply(&mut entries);
                }
            }
            _ => panic!(
                "timed out waiting for {what}; the list holds {:?}",
                describe(&rooms)
            ),
        }
    }
}

pub(crate) fn non_left() -> matrix_sdk_ui::room_list_service::filters::BoxedFilterFn {
    Box::new(new_filter_non_left())
}

fn invites() -> matrix_sdk_ui::room_list_service::filters::BoxedFilterFn {
    Box::new(new_filter_invite())
}

pub(crate) fn names(rooms: &[RoomListItem]) -> Vec<String> {
    rooms
        .iter()
        .map(|room| {
            room.clone()
                .into_inner()
                .cached_display_name()
                .map(|name| name.to_string())
                .unwrap_or_else(|| "?".to_owned())
        })
        .collect()
}

/// Each room's name, recency stamp and latest event's time, for failure messages.
fn describe(rooms: &[RoomListItem]) -> Vec<String> {
    rooms
        .iter()
        .map(|room| {
            let room = room.clone().into_inner();
            format!(
                "{:?} {:?} {:?}",
                room.cached_display_name(),
                room.recency_stamp(),
                room.latest_event_timestamp()
            )
        })
        .collect()
}

fn unread(rooms: &[RoomListItem], name: &str) -> Option<u64> {
    rooms
        .iter()
        .map(|room| room.clone().into_inner())
        .find(|room| {
            room.cached_display_name()
                .is_some_and(|n| n.to_string() == name)
        })
        .map(|room| room.unread_notification_counts().notification_count)
}

async fn joined_by(client: &RawClient, room_id: &str) {
    client
        .post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_room_list_is_in_order_with_unread_counts_and_invites() {
    let server = TestServer::start().await;
    let (alice_id, alice_raw) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let mut rooms = Vec::new();
    for name in ["Ateliers", "Budget", "Conseil"] {
        let room = create_room(&bob, json!({"name": name, "preset": "public_chat"})).await;
        joined_by(&alice_raw, &room).await;
        rooms.push(room);
    }
    let [ateliers, budget, conseil] = [&rooms[0], &rooms[1], &rooms[2]];
    // Activity, oldest first: Conseil (1 message), Ateliers (2), Budget (3), each a little
    // later (the test server's clock only moves when told; the SDK takes timestamps ahead of
    // its own clock for now, so the steps stay below the time the test has been running).
    let said = |room: &str, txn: &str, text: &str| {
        let (bob, room, txn, text) = (
            bob.clone(),
            room.to_owned(),
            txn.to_owned(),
            text.to_owned(),
        );
        server.advance_clock(2);
        async move { send_text(&bob, &room, &txn, &text).await }
    };
    said(conseil, "c1", "ordre du jour").await;
    said(ateliers, "a1", "atelier un").await;
    said(ateliers, "a2", "atelier deux").await;
    for n in 0..3 {
        said(budget, &format!("b{n}"), &format!("ligne {n}")).await;
    }
    // Alice read Ateliers up to its first message only.
    let first_in_ateliers = crate::room_helpers::messages(&alice_raw, ateliers).await;
    assert_eq!(first_in_ateliers.len(), 2);

    let client = element_x(&server.base_url(), "alice", "alice's password").await;
    let sync = SyncService::builder(client.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    let service = sync.room_list_service();

    // (The list settles as the SDK works out each room's latest event.)
    let expected = ["Budget", "Ateliers", "Conseil"];
    let listed = room_list_until(&service, non_left, "three rooms in order", |rooms| {
        names(rooms) == expected
    })
    .await;
    let counts: Vec<Option<u64>> = expected.iter().map(|name| unread(&listed, name)).collect();
    assert_eq!(counts, [Some(3), Some(2), Some(1)]);

    // Conseil comes back to the top when someone speaks there; an invite shows up at once.
    said(conseil, "c2", "séance levée").await;
    server.advance_clock(2);
    let party = create_room(&bob, json!({"name": "Pot de départ"})).await;
    invite(&bob, &party, &alice_id).await;
    let listed = room_list_until(
        &service,
        non_left,
        "Conseil first and the invite",
        |rooms| {
            let names = names(rooms);
            names == ["Pot de départ", "Conseil", "Budget", "Ateliers"]
        },
    )
    .await;
    assert_eq!(unread(&listed, "Conseil"), Some(2));
    let invited = room_list_until(&service, invites, "the invite", |rooms| rooms.len() == 1).await;
    assert_eq!(names(&invited), ["Pot de départ"]);

    // Reading Budget on another device clears its count here.
    let budget_events = alice_raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{budget}/messages?dir=b&limit=1"
        ))
        .await;
    let last = budget_events.body["chunk"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice_raw
        .post(
            &format!("/_matrix/client/v3/rooms/{budget}/receipt/m.read/{last}"),
            json!({}),
        )
        .await
        .assert_ok();
    room_list_until(&service, non_left, "Budget read", |rooms| {
        unread(rooms, "Budget") == Some(0)
    })
    .await;

    // Accepting the invite from the app: the room stays, now joined.
    client
        .join_room_by_id(&matrix_sdk::ruma::OwnedRoomId::try_from(party.as_str()).unwrap())
        .await
        .expect("join");
    room_list_until(&service, invites, "no invite left", |rooms| {
        rooms.is_empty()
    })
    .await;
    let listed = room_list_until(&service, non_left, "four joined rooms", |rooms| {
        rooms.len() == 4
            && rooms
                .iter()
                .all(|room| room.clone().into_inner().state() == matrix_sdk::RoomState::Joined)
    })
    .await;
    assert_eq!(names(&listed)[0], "Pot de départ");
    sync.stop().await;
}

#[tokio::test]
async fn messages_sent_while_offline_are_decrypted_after_reconnecting() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    // Alice's phone runs Element X; Bob uses a classic /sync client.
    let phone = element_x(&server.base_url(), "alice", &alice.password).await;
    let sync = SyncService::builder(phone.clone())
        .build()
        .await
        .expect("sync service");
    sync.start().await;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();

    let room = create_encrypted_room(&bob.client, &alice.client).await;
    let room_id = room.room_id().to_owned();
    // The phone sees the invite over sliding sync and joins.
    let service = sync.room_list_service();
    room_list_until(&service, invites, "the invite", |rooms| rooms.len() == 1).await;
    phone.join_room_by_id(&room_id).await.expect("join");
    room.send(RoomMessageEventContent::text_plain("avant la coupure"))
        .await
        .unwrap();

    // The phone goes offline; Bob keeps writing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sync.stop().await;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    for text in ["pendant la coupure 1", "pendant la coupure 2"] {
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .unwrap();
    }

    // Back online: the room keys arrive over the encryption connection, and the history
    // decrypts.
    sync.start().await;
    let mut decrypted = Vec::new();
    for _ in 0..100 {
        if let Some(room) = phone.get_room(&room_id) {
            let page = room
                .messages(MessagesOptions::backward())
                .await
                .expect("history");
            decrypted = page
                .chunk
                .iter()
                .filter_map(|event| {
                    let raw = event.raw().deserialize().ok()?;
                    match raw {
                        matrix_sdk::ruma::events::AnySyncTimelineEvent::MessageLike(
                            matrix_sdk::ruma::events::AnySyncMessageLikeEvent::RoomMessage(m),
                        ) => m.as_original().map(|m| m.content.body().to_owned()),
                        _ => None,
                    }
                })
                .collect();
            decrypted.reverse();
            if decrypted.len() == 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        decrypted,
        [
            "avant la coupure",
            "pendant la coupure 1",
            "pendant la coupure 2"
        ]
    );
    sync.stop().await;
}
