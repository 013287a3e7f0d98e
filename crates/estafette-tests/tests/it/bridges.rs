//! Real application services against Estafette: echo bridges on mautrix-python's AppService
//! (PyPI) and on bot-sdk's Appservice (npm), started as bridges are — registering their bot and
//! a ghost, mautrix pinging itself — then bridging a matrix-sdk user's messages both ways and
//! seeing her type. Both run against one server, each with its own namespace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_tests::{BridgeKind, BridgeProcess, TestServer};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};

#[tokio::test]
async fn mautrix_and_bot_sdk_bridges_bring_their_ghosts_in_and_answer_as_them() {
    let mut mautrix = BridgeProcess::prepare(BridgeKind::Mautrix);
    let mut bot_sdk = BridgeProcess::prepare(BridgeKind::BotSdk);
    let files = vec![mautrix.registration.clone(), bot_sdk.registration.clone()];
    let server = TestServer::builder()
        .configure(move |config| config.appservices.files = files)
        .start()
        .await;
    let ts = 1_600_000_000_000_u64;
    mautrix
        .run(&server.base_url(), &server.server_name(), ts)
        .await;
    let ping = mautrix
        .wait_for("its ping", |line| line["kind"] == "ready")
        .await;
    assert!(ping["ping_ms"].is_u64(), "{ping}");
    bot_sdk
        .run(&server.base_url(), &server.server_name(), ts)
        .await;
    let ready = bot_sdk
        .wait_for("its whoami", |line| line["kind"] == "ready")
        .await;
    assert_eq!(ready["bot"], format!("@nodebot:{}", server.server_name()));

    let alice = server.register_user("alice").await;
    bridge_both_ways(&server, &alice, &mautrix, "Echo (bridge)", Some(ts)).await;
    bridge_both_ways(&server, &alice, &bot_sdk, "Echo (bot-sdk)", None).await;
}

/// Alice invites the bridge's ghost into a room of her own, talks, and types; the ghost
/// joins, answers (at `ts` when the bridge massages time) and sees her typing.
async fn bridge_both_ways(
    server: &TestServer,
    alice: &estafette_tests::User,
    bridge: &BridgeProcess,
    ghost_name: &str,
    ts: Option<u64>,
) {
    let ghost = bridge.ghost(&server.server_name());
    let mut request = create_room::v3::Request::new();
    request.invite = vec![ghost.as_str().try_into().unwrap()];
    request.name = Some("Pont WhatsApp".to_owned());
    let room = alice.client.create_room(request).await.unwrap();
    bridge
        .wait_for("its ghost joining", |line| line["kind"] == "joined")
        .await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    alice
        .client
        .add_event_handler(move |event: OriginalSyncRoomMessageEvent| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((
                    event.sender.to_string(),
                    event.content.body().to_owned(),
                    u64::from(event.origin_server_ts.0),
                ));
            }
        });
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    room.send(RoomMessageEventContent::text_plain("bonjour le pont"))
        .await
        .unwrap();
    bridge
        .wait_for("Alice's message", |line| {
            line["kind"] == "echoed" && line["body"] == "bonjour le pont"
        })
        .await;
    let mut echo = None;
    for _ in 0..20 {
        alice
            .client
            .sync_once(SyncSettings::default().timeout(Duration::from_millis(500)))
            .await
            .unwrap();
        echo = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(_, body, _)| body == "echo: bonjour le pont")
            .cloned();
        if echo.is_some() {
            break;
        }
    }
    let (sender, _, origin_ts) = echo.expect("the ghost's answer reaches Alice");
    assert_eq!(sender, ghost);
    if let Some(ts) = ts {
        assert_eq!(origin_ts, ts, "the bridge's massaged timestamp");
    }
    let member = room
        .get_member(ghost.as_str().try_into().unwrap())
        .await
        .unwrap()
        .expect("the ghost is a member");
    assert_eq!(member.display_name(), Some(ghost_name));
    // Ephemeral data reaches the bridge too (`receive_ephemeral`): Alice typing.
    room.typing_notice(true).await.unwrap();
    let alice_id = alice.client.user_id().unwrap().to_string();
    bridge
        .wait_for("Alice typing", |line| {
            line["kind"] == "typing" && line["user_ids"][0] == alice_id.as_str()
        })
        .await;
}
