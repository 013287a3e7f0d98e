//! Push rules, unread notification counts and pushers.

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

struct Room {
    id: String,
}

impl Room {
    fn path(&self, rest: &str) -> String {
        format!("/_matrix/client/v3/rooms/{}/{rest}", self.id)
    }
}

fn counts(sync: &Value, room: &Room) -> (u64, u64) {
    let unread = &sync["rooms"]["join"][&room.id]["unread_notifications"];
    (
        unread["notification_count"].as_u64().unwrap_or(0),
        unread["highlight_count"].as_u64().unwrap_or(0),
    )
}

/// Alice's public room, which Bob joined; Bob's user ID with his client.
async fn alice_and_bob_in_a_room(server: &TestServer) -> (RawClient, (String, RawClient), Room) {
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
    let created = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat"}),
        )
        .await;
    let room = Room {
        id: created.body["room_id"].as_str().unwrap().to_owned(),
    };
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    (alice, (bob_id, bob), room)
}

#[tokio::test]
async fn mentions_highlight_and_receipts_clear_the_counts() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), room) = alice_and_bob_in_a_room(&server).await;

    alice
        .put(
            &room.path("send/m.room.message/1"),
            json!({"msgtype": "m.text", "body": "hello"}),
        )
        .await
        .assert_ok();
    let mention = alice
        .put(
            &room.path("send/m.room.message/2"),
            json!({"msgtype": "m.text", "body": "bob, see this", "m.mentions": {"user_ids": [bob_id]}}),
        )
        .await;
    let mention_id = mention.body["event_id"].as_str().unwrap().to_owned();
    let sync = bob.get("/_matrix/client/v3/sync").await;
    assert_eq!(
        counts(&sync.body, &room),
        (2, 1),
        "one-to-one rooms notify, mentions highlight"
    );
    let since = sync.body["next_batch"].as_str().unwrap().to_owned();

    bob.post(
        &room.path(&format!("receipt/m.read/{mention_id}")),
        json!({}),
    )
    .await
    .assert_ok();
    let after = bob
        .get(&format!("/_matrix/client/v3/sync?since={since}"))
        .await;
    assert_eq!(counts(&after.body, &room), (0, 0), "{after:?}");
    // Alice's own messages never count for her.
    let alice_sync = alice.get("/_matrix/client/v3/sync").await;
    assert_eq!(counts(&alice_sync.body, &room), (0, 0));
}

#[tokio::test]
async fn the_sdk_reads_default_rules_and_users_add_their_own() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let rules = alice.client.account().push_rules().await.unwrap();
    assert!(
        rules
            .override_
            .iter()
            .any(|r| r.rule_id == ".m.rule.master"),
        "the spec's defaults are served"
    );
    assert!(
        rules
            .underride
            .iter()
            .any(|r| r.rule_id == ".m.rule.message")
    );

    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let rule = "/_matrix/client/v3/pushrules/global/content/budget";
    raw.put(
        rule,
        json!({"pattern": "budget", "actions": ["notify", {"set_tweak": "highlight"}]}),
    )
    .await
    .assert_ok();
    let stored = raw.get(rule).await;
    assert_eq!(stored.body["pattern"], "budget");
    assert_eq!(stored.body["enabled"], true);
    raw.put(&format!("{rule}/enabled"), json!({"enabled": false}))
        .await
        .assert_ok();
    assert_eq!(
        raw.get(&format!("{rule}/enabled")).await.body["enabled"],
        false
    );
    raw.put(&format!("{rule}/actions"), json!({"actions": ["notify"]}))
        .await
        .assert_ok();
    assert_eq!(
        raw.get(&format!("{rule}/actions")).await.body["actions"],
        json!(["notify"])
    );

    // The rules arrive as account data too.
    let sync = raw.get("/_matrix/client/v3/sync").await;
    let events = sync.body["account_data"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.push_rules" && e.to_string().contains("budget"))
    );

    raw.delete(rule, json!({})).await.assert_ok();
    raw.get(rule).await.assert_error(404, "M_NOT_FOUND");
    raw.delete(
        "/_matrix/client/v3/pushrules/global/override/.m.rule.master",
        json!({}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    raw.put(
        "/_matrix/client/v3/pushrules/global/content/x?before=nonexistent",
        json!({"pattern": "x", "actions": []}),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn pushers_are_set_listed_and_removed() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let raw = raw.with_token(token);
    let pusher = |url: &str| {
        json!({"kind": "http", "app_id": "fr.gouv.tchap", "pushkey": "device-key", "app_display_name": "Tchap",
               "device_display_name": "Phone", "lang": "fr", "data": {"url": url, "format": "event_id_only"}})
    };
    raw.post(
        "/_matrix/client/v3/pushers/set",
        pusher("https://push.example.org/elsewhere"),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    raw.post(
        "/_matrix/client/v3/pushers/set",
        pusher("https://push.example.org/_matrix/push/v1/notify"),
    )
    .await
    .assert_ok();
    let listed = raw.get("/_matrix/client/v3/pushers").await;
    assert_eq!(listed.body["pushers"][0]["app_id"], "fr.gouv.tchap");
    assert_eq!(listed.body["pushers"][0]["data"]["format"], "event_id_only");
    raw.post(
        "/_matrix/client/v3/pushers/set",
        json!({"kind": null, "app_id": "fr.gouv.tchap", "pushkey": "device-key"}),
    )
    .await
    .assert_ok();
    assert_eq!(
        raw.get("/_matrix/client/v3/pushers").await.body["pushers"],
        json!([])
    );
}

#[tokio::test]
async fn every_rule_kind_is_answered_even_when_empty_and_rules_are_bounded() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let raw = raw.with_token(token);
    let kinds = ["content", "override", "room", "sender", "underride"];
    let all = raw.get("/_matrix/client/v3/pushrules/").await;
    let global = raw.get("/_matrix/client/v3/pushrules/global/").await;
    let sync = raw.get("/_matrix/client/v3/sync?timeout=0").await;
    let synced = sync.body["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.push_rules")
        .map(|e| e["content"]["global"].clone())
        .expect("push rules in the sync");
    for kind in kinds {
        assert!(
            all.body["global"][kind].is_array(),
            "{kind} in /pushrules/: {}",
            all.body
        );
        assert!(global.body[kind].is_array(), "{kind} in /pushrules/global/");
        assert!(synced[kind].is_array(), "{kind} in the synced rules");
    }
    assert_eq!(all.body["global"]["room"], json!([]));
    assert_eq!(all.body["global"]["sender"], json!([]));

    // A pattern beyond the bound is refused and stores nothing.
    let rule = "/_matrix/client/v3/pushrules/global/content/huge";
    raw.put(
        rule,
        json!({"pattern": "x".repeat(20_000), "actions": ["notify"]}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    raw.get(rule).await.assert_error(404, "M_NOT_FOUND");
}

/// Counts follow where the reader's receipts are, not only whether they read the newest
/// event: a receipt on an older event leaves what came after it, a receipt in a thread
/// clears that thread only, and what arrives after a receipt counts again.
#[tokio::test]
async fn receipts_on_older_events_and_in_threads_leave_what_follows_them() {
    let server = TestServer::start().await;
    let (alice, (_, bob), room) = alice_and_bob_in_a_room(&server).await;
    let mut sent = Vec::new();
    for n in 0..3 {
        let response = alice
            .put(
                &room.path(&format!("send/m.room.message/main{n}")),
                json!({"msgtype": "m.text", "body": format!("message {n}")}),
            )
            .await;
        sent.push(response.body["event_id"].as_str().unwrap().to_owned());
    }
    let root = &sent[0];
    let mut replies = Vec::new();
    for n in 0..2 {
        let response = alice
            .put(
                &room.path(&format!("send/m.room.message/thread{n}")),
                json!({"msgtype": "m.text", "body": format!("reply {n}"),
                       "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
            )
            .await;
        replies.push(response.body["event_id"].as_str().unwrap().to_owned());
    }
    let filter: String = url::form_urlencoded::byte_serialize(
        json!({"room": {"timeline": {"unread_thread_notifications": true}}})
            .to_string()
            .as_bytes(),
    )
    .collect();
    let sync_counts = || async {
        let body = bob
            .get(&format!("/_matrix/client/v3/sync?filter={filter}"))
            .await
            .body;
        let thread = &body["rooms"]["join"][&room.id]["unread_thread_notifications"][root];
        (
            counts(&body, &room).0,
            thread["notification_count"].as_u64().unwrap_or(0),
        )
    };
    assert_eq!(
        sync_counts().await,
        (3, 2),
        "three in the main timeline, two in the thread"
    );

    // An unthreaded receipt on the first message: the two after it still count.
    bob.post(
        &room.path(&format!("receipt/m.read/{}", sent[0])),
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(sync_counts().await, (2, 2));
    // A receipt in the thread on its first reply: the thread's second reply still counts.
    bob.post(
        &room.path(&format!("receipt/m.read/{}", replies[0])),
        json!({"thread_id": root}),
    )
    .await
    .assert_ok();
    assert_eq!(sync_counts().await, (2, 1));
    // A new message after the receipts counts on top.
    alice
        .put(
            &room.path("send/m.room.message/main3"),
            json!({"msgtype": "m.text", "body": "one more"}),
        )
        .await
        .assert_ok();
    assert_eq!(sync_counts().await, (3, 1));
    // The main timeline read to its end clears it, and (unthreaded) the thread too.
    let newest = bob.get(&room.path("messages?dir=b&limit=1")).await.body["chunk"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.post(&room.path(&format!("receipt/m.read/{newest}")), json!({}))
        .await
        .assert_ok();
    assert_eq!(sync_counts().await, (0, 0));
}

#[tokio::test]
async fn the_notification_list_pages_back_with_read_marks_and_highlights() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), room) = alice_and_bob_in_a_room(&server).await;
    let mut sent = Vec::new();
    for (n, body) in ["one", "two", "bob, three"].into_iter().enumerate() {
        let mut content = json!({"msgtype": "m.text", "body": body});
        if body.starts_with("bob") {
            content["m.mentions"] = json!({"user_ids": [bob_id]});
        }
        let response = alice
            .put(&room.path(&format!("send/m.room.message/n{n}")), content)
            .await;
        sent.push(response.body["event_id"].as_str().unwrap().to_owned());
    }
    bob.post(
        &room.path(&format!("receipt/m.read/{}", sent[1])),
        json!({}),
    )
    .await
    .assert_ok();

    let page = bob.get("/_matrix/client/v3/notifications?limit=2").await;
    page.assert_ok();
    let entries = page.body["notifications"].as_array().unwrap();
    let ids: Vec<&str> = entries
        .iter()
        .map(|n| n["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [sent[2].as_str(), sent[1].as_str()], "latest first");
    assert_eq!(entries[0]["room_id"], room.id.as_str());
    assert_eq!(entries[0]["read"], false);
    assert_eq!(
        entries[0]["actions"],
        json!(["notify", {"set_tweak": "highlight"}])
    );
    assert_eq!(entries[0]["event"]["content"]["body"], "bob, three");
    assert!(entries[0]["ts"].as_u64().is_some());
    assert_eq!(entries[1]["read"], true, "the receipt covers it");
    assert_eq!(entries[1]["actions"], json!(["notify"]));
    let next = page.body["next_token"].as_str().expect("more");
    let rest = bob
        .get(&format!(
            "/_matrix/client/v3/notifications?limit=2&from={next}"
        ))
        .await;
    let rest_ids: Vec<&str> = rest.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest_ids, [sent[0].as_str()]);
    assert!(rest.body.get("next_token").is_none(), "{:?}", rest.body);
    let highlights = bob
        .get("/_matrix/client/v3/notifications?only=highlight")
        .await;
    assert_eq!(
        highlights.body["notifications"].as_array().map(Vec::len),
        Some(1)
    );
    let own = alice.get("/_matrix/client/v3/notifications").await;
    assert_eq!(
        own.body["notifications"],
        json!([]),
        "nobody is notified of their own"
    );
    bob.get("/_matrix/client/v3/notifications?from=zz")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    bob.get("/_matrix/client/v3/notifications?only=everything")
        .await
        .assert_error(400, "M_INVALID_PARAM");
}
