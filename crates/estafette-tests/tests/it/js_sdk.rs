//! matrix-js-sdk (Element Web's library) against Estafette: the calls and shapes it makes
//! that matrix-sdk never does.

use estafette_tests::{TestServer, run_js_sdk};
use serde_json::json;

use crate::room_helpers::{create_room, send_text};

#[tokio::test]
async fn element_web_s_library_uses_tags_push_rules_search_dates_and_mutual_rooms() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob_token, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&token), raw.clone_with(&bob_token));
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let mut first = None;
    for (i, text) in [
        "budget prévisionnel",
        "point divers",
        "budget voté",
        "budget clos",
    ]
    .iter()
    .enumerate()
    {
        server.advance_clock(60_000);
        let event_id = send_text(&alice, &room, &format!("m{i}"), text).await;
        first.get_or_insert(event_id);
    }
    let first = first.unwrap();
    let ts = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{first}"))
        .await
        .body["origin_server_ts"]
        .as_u64()
        .unwrap();

    let out = run_js_sdk(
        "client_features",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "alice's password",
               "roomId": room, "otherUserId": bob_id, "term": "budget", "ts": ts - 1}),
    )
    .await;
    assert_eq!(out["tags"], json!({"m.favourite": {"order": 0.5}}));
    assert_eq!(
        out["ruleKinds"],
        json!(["content", "override", "room", "sender", "underride"])
    );
    assert_eq!(out["masterRule"], true);
    assert_eq!(out["searchCount"], 3);
    assert_eq!(
        out["searchBodies"],
        json!(["budget clos", "budget voté", "budget prévisionnel"]),
        "three pages of one, newest first"
    );
    assert!(
        out["searchContextSizes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.as_u64().unwrap() >= 2),
        "each result comes with its neighbours: {out}"
    );
    assert_eq!(out["highlights"], json!(["budget"]));
    assert_eq!(out["jumped"], first.as_str());
    assert_eq!(out["shared"], json!([room]));
}

#[tokio::test]
async fn element_web_s_sync_loop_reads_history_sends_and_sees_changes() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob_token, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&token), raw.clone_with(&bob_token));
    let room = create_room(&alice, json!({"preset": "public_chat", "name": "Bureau"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let history: Vec<String> = (0..12).map(|i| format!("message {i}")).collect();
    for (i, text) in history.iter().enumerate() {
        let sender = if i % 2 == 0 { &alice } else { &bob };
        send_text(sender, &room, &format!("h{i}"), text).await;
    }

    let out = run_js_sdk(
        "sync_client",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "alice's password",
               "roomId": room}),
    )
    .await;
    assert_eq!(out["name"], "Bureau");
    assert_eq!(out["initialTimeline"], json!(history[history.len() - 5..]));
    assert_eq!(out["afterScrollback"], json!(history));
    assert_eq!(out["echoMatches"], true);
    assert_eq!(out["displayName"], "Alice JS");
    let whoami = alice.get("/_matrix/client/v3/account/whoami").await;
    let mut members = vec![whoami.body["user_id"].as_str().unwrap().to_owned(), bob_id];
    members.sort();
    assert_eq!(out["members"], json!(members));
}

/// Element Web's library uploads, builds authenticated media URLs, meets the antivirus and
/// previews a link.
#[tokio::test]
async fn element_web_s_library_uploads_and_fetches_authenticated_media() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use estafette_tests::{Clamd, EICAR, EICAR_SIGNATURE, TestServer};

    let clamd = Clamd::start().await;
    let site = crate::url_previews::Site::start("127.0.0.2:9".parse().unwrap()).await;
    let address = clamd.address();
    let server = TestServer::builder()
        .configure(move |config| {
            config.antivirus.clamd = Some(address);
            crate::url_previews::previews_of_the_site(config);
        })
        .start()
        .await;
    server.raw().register("alice", "alice's password").await;
    let picture = crate::media::png(40, 20);
    let out = run_js_sdk(
        "media",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "alice's password",
               "file": STANDARD.encode(&picture), "infected": STANDARD.encode(EICAR),
               "previewUrl": format!("{}/docs/article", site.base)}),
    )
    .await;
    assert_eq!(
        out["preview"]["og:title"], "Décret n° 2026-1 & annexes",
        "{out}"
    );
    let image = out["preview"]["og:image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with(&format!("mxc://{}/", server.server_name())),
        "{out}"
    );
    assert_eq!(out["uploadLimit"], 50 * 1024 * 1024);
    let uri = out["contentUri"].as_str().unwrap();
    assert!(uri.starts_with(&format!("mxc://{}/", server.server_name())));
    assert!(
        out["downloadUrl"]
            .as_str()
            .unwrap()
            .contains("/_matrix/client/v1/media/download/"),
        "{out}"
    );
    assert_eq!(
        (&out["downloadStatus"], &out["downloadEqual"]),
        (&json!(200), &json!(true))
    );
    assert_eq!(out["thumbnailStatus"], 200);
    assert_eq!(out["thumbnailType"], "image/png");
    let thumbnail = STANDARD.decode(out["thumbnail"].as_str().unwrap()).unwrap();
    assert_eq!(crate::media::dimensions(&thumbnail), (16, 16));
    assert_eq!(out["infected"]["status"], 403, "{out}");
    assert_eq!(out["infected"]["errcode"], "M_FORBIDDEN");
    assert!(
        out["infected"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(EICAR_SIGNATURE),
        "{out}"
    );
}
