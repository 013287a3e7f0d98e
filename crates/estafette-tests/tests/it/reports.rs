//! Reporting content (spec v1.13–v1.14): events of rooms the reporter is in, rooms and users,
//! recorded for the administrators; what the reporter may not see is not found.

use estafette_tests::{TestServer, run_js_sdk};
use serde_json::json;

use crate::room_helpers::{create_room, send_text, user};

#[tokio::test]
async fn events_rooms_and_users_are_reported_to_the_administrators() {
    let server = TestServer::start().await;
    let versions = server.raw().get("/_matrix/client/versions").await;
    assert!(
        versions.body["versions"]
            .as_array()
            .unwrap()
            .contains(&json!("v1.15"))
    );
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let (_, carol) = user(server.raw(), "carol").await;
    let room = create_room(&alice, json!({"preset": "public_chat", "name": "Forum"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let event = send_text(&bob, &room, "t1", "du spam").await;
    let reports = || async {
        server
            .services()
            .context
            .storage
            .reports
            .latest(50)
            .await
            .unwrap()
    };

    // Element Web's library reports the event.
    let reported = run_js_sdk(
        "report",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "alice's password",
               "roomId": room, "eventId": event, "reason": "publicité"}),
    )
    .await;
    assert_eq!(reported["error"], serde_json::Value::Null, "{reported}");
    let latest = reports().await;
    assert_eq!(latest.len(), 1);
    let report = &latest[0];
    assert_eq!(
        (report.kind.as_str(), report.reason.as_str()),
        ("event", "publicité")
    );
    assert_eq!(report.reporter.as_str(), alice_id);
    assert_eq!(
        report.reported_user.as_deref().map(|u| u.as_str()),
        Some(bob_id.as_str())
    );
    assert_eq!(
        report.event_id.as_deref().map(|e| e.as_str()),
        Some(event.as_str())
    );

    // Someone outside the room, an unknown event, a redacted one: not found, nothing kept.
    let path = |event: &str| format!("/_matrix/client/v3/rooms/{room}/report/{event}");
    carol
        .post(&path(&event), json!({"reason": "x"}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .post(&path("$unknown"), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let gone = send_text(&bob, &room, "t2", "effacé").await;
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room}/redact/{gone}/r1"),
        json!({}),
    )
    .await
    .assert_ok();
    alice
        .post(&path(&gone), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .post(&path(&event), json!({"reason": "x".repeat(2001)}))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    assert_eq!(reports().await.len(), 1);

    // Rooms: any room this server knows, member or not.
    carol
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/report"),
            json!({"reason": "forum douteux"}),
        )
        .await
        .assert_ok();
    carol
        .post(
            "/_matrix/client/v3/rooms/!nowhere:example.org/report",
            json!({"reason": "?"}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    // Users: this server's who exist, and anyone elsewhere.
    carol
        .post(
            &format!("/_matrix/client/v3/users/{bob_id}/report"),
            json!({"reason": "harcèlement"}),
        )
        .await
        .assert_ok();
    let nobody = format!("@nobody:{}", server.server_name());
    carol
        .post(
            &format!("/_matrix/client/v3/users/{nobody}/report"),
            json!({"reason": "?"}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    carol
        .post(
            "/_matrix/client/v3/users/@someone:elsewhere.example/report",
            json!({"reason": "spam"}),
        )
        .await
        .assert_ok();
    let kinds: Vec<String> = reports().await.iter().map(|r| r.kind.clone()).collect();
    assert_eq!(kinds, ["user", "user", "room", "event"]);
    server
        .raw()
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/report"),
            json!({"reason": "?"}),
        )
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}
