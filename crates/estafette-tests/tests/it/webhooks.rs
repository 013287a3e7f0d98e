//! Incoming webhooks (BRIDGES.md §4.3): a member creates a hook bound to a room; tools post to
//! its secret URL — curl, and Slack's own SDK (`slack-sdk`'s WebhookClient, PyPI) — and the
//! message lands as the hook's own visible user, formatted, sanitised, in the sender's
//! dialect; revoked, rotated, oversized, flooding and encrypted-room posts are refused.

use std::process::Command;

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::{create_room, user};

const HOOKS: &str = "/_estafette/hooks/v1";

async fn create_hook(client: &RawClient, room: &str, body: Value) -> Value {
    let created = client.post(&format!("{HOOKS}/rooms/{room}"), body).await;
    created.assert_ok();
    created.body
}

/// Posts `body` with `content_type` to a hook's URL, as curl would.
async fn post_raw(
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the hook answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap_or_default(), headers)
}

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let (status, text, _) = post_raw(url, "application/json", body.to_string().into_bytes()).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The room's latest message event, as a member reads it.
async fn latest_message(client: &RawClient, room: &str) -> Value {
    let page = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"
        ))
        .await;
    page.body["chunk"]
        .as_array()
        .and_then(|chunk| {
            chunk
                .iter()
                .find(|e| e["type"] == "m.room.message")
                .cloned()
        })
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_member_s_hook_posts_as_its_own_user_formatted_and_sanitised() {
    let server = TestServer::start().await;
    let (alice_id, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"preset": "private_chat", "name": "Alertes"})).await;
    let hook = create_hook(&alice, &room, json!({"name": "Grafana"})).await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let hook_id = hook["hook_id"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}{HOOKS}/", server.base_url())),
        "{url}"
    );
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 32, "at least 128 random bits");
    assert_eq!(hook["format"], "generic");
    assert_eq!(hook["msgtype"], "m.notice");
    let sender = hook["sender"].as_str().unwrap().to_owned();

    // Members see that it exists, never its secret: not in the list, not in room state.
    let listed = alice.get(&format!("{HOOKS}/rooms/{room}")).await;
    listed.assert_ok();
    assert_eq!(listed.body["hooks"][0]["hook_id"], hook_id);
    assert_eq!(listed.body["hooks"][0]["creator"], alice_id);
    let state = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"))
        .await;
    let described = state
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "im.estafette.webhook");
    assert_eq!(described.unwrap()["content"]["name"], "Grafana");
    assert!(!listed.body.to_string().contains(&token));
    assert!(!state.body.to_string().contains(&token));

    // hookshot's generic format: Markdown text, a username, HTML sanitised.
    let (status, answer) = post_json(
        &url,
        json!({"text": "Disk **93 %** on `db-1`", "username": "Prometheus"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true);
    let event = latest_message(&alice, &room).await;
    assert_eq!(event["event_id"], answer["event_id"]);
    assert_eq!(event["sender"], sender);
    assert_eq!(event["content"]["msgtype"], "m.notice");
    assert_eq!(
        event["content"]["body"],
        "**Prometheus**: Disk **93 %** on `db-1`"
    );
    assert_eq!(
        event["content"]["formatted_body"],
        "<strong>Prometheus</strong>: Disk <strong>93 %</strong> on <code>db-1</code>"
    );
    let (status, _) = post_json(
        &url,
        json!({"text": "fallback", "html": "<b>ok</b><script>alert(1)</script><a href=\"javascript:steal()\">x</a><img src=x onerror=y>"}),
    )
    .await;
    assert_eq!(status, 200);
    let html = latest_message(&alice, &room).await["content"]["formatted_body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(html.contains("<b>ok</b>"), "{html}");
    for forbidden in ["script", "javascript", "onerror", "<img"] {
        assert!(!html.contains(forbidden), "{forbidden} in {html}");
    }
    // Anything else is shown as JSON, and kept under the event.
    let (status, _) = post_json(&url, json!({"status": "firing", "value": 0.93})).await;
    assert_eq!(status, 200);
    let event = latest_message(&alice, &room).await;
    assert!(
        event["content"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Received webhook data:")
    );
    assert_eq!(
        event["content"]["im.estafette.webhook_data"]["value"],
        "0.93"
    );
    // Plain text.
    let (status, _, _) = post_raw(&url, "text/plain", b"backup done".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(
        latest_message(&alice, &room).await["content"]["body"],
        "Received webhook data: backup done"
    );
    // The hook's user shows as the hook in the room.
    let profile = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/joined_members"))
        .await;
    assert_eq!(
        profile.body["joined"][sender.as_str()]["display_name"],
        "Grafana"
    );
}

#[tokio::test]
async fn slack_s_sdk_curl_forms_and_broadcasts_land_formatted() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"preset": "private_chat"})).await;
    let hook = create_hook(
        &alice,
        &room,
        json!({"name": "CI", "format": "slack", "msgtype": "m.text"}),
    )
    .await;
    let url = hook["url"].as_str().unwrap().to_owned();

    // Slack's own Python SDK, as a CI job would use it.
    let python = std::env::var("ESTAFETTE_SYNAPSE_PYTHON").expect(
        "ESTAFETTE_SYNAPSE_PYTHON must name the Python that has slack-sdk: run ./scripts/test",
    );
    let script = r#"
import json, sys
from slack_sdk.webhook import WebhookClient
response = WebhookClient(sys.argv[1]).send(
    text="fallback",
    blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": "Pipeline #42"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*build* <https://ci.example/42|#42> _failed_ on `main`"}},
    ],
    attachments=[{"color": "danger", "title": "Logs", "title_link": "https://ci.example/42/logs"}],
)
print(json.dumps({"status": response.status_code, "body": response.body}))
"#;
    let python_url = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", script, &python_url])
            .output()
    })
    .await
    .unwrap()
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer, json!({"status": 200, "body": "ok"}));
    let event = latest_message(&alice, &room).await;
    assert_eq!(event["content"]["msgtype"], "m.text");
    let html = event["content"]["formatted_body"].as_str().unwrap();
    assert!(
        html.starts_with("<h4>Pipeline #42</h4><p><strong>build</strong> <a href=\"https://ci.example/42\">#42</a> <em>failed</em> on <code>main</code></p>"),
        "{html}"
    );
    assert!(html.contains("data-mx-color=\"#a30200\""), "{html}");
    assert!(
        event["content"]["body"]
            .as_str()
            .unwrap()
            .contains("#42 (https://ci.example/42)")
    );

    // The legacy form encoding, with curl.
    let curl_url = url.clone();
    let curl = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--data-urlencode"])
            .arg(r#"payload={"text":"deploy <!here> &lt;ok&gt;"}"#)
            .arg(&curl_url)
            .output()
    })
    .await
    .unwrap()
    .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "ok\n200");
    let event = latest_message(&alice, &room).await;
    // The hook's user may not notify the whole room: @room in text, no room mention.
    assert_eq!(event["content"]["body"], "deploy @room <ok>");
    assert!(event["content"].get("m.mentions").is_none(), "{event}");
    // Slack's error strings.
    let (status, text, _) =
        post_raw(&url, "application/json", br#"{"username": "x"}"#.to_vec()).await;
    assert_eq!((status, text.as_str()), (400, "no_text"));
    let (status, text, _) = post_raw(&url, "application/json", b"{not json".to_vec()).await;
    assert_eq!((status, text.as_str()), (400, "invalid_payload"));
}

#[tokio::test]
async fn revoked_rotated_oversized_flooding_and_encrypted_posts_are_refused() {
    let server = TestServer::builder()
        .configure(|config| {
            config.webhooks.burst = 2;
            config.webhooks.per_second = 0.01;
            config.webhooks.max_body_bytes = 4096;
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    // Bob is a member without the power to change state; bad names and formats.
    bob.post(&format!("{HOOKS}/rooms/{room}"), json!({"name": "mine"}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .post(
            &format!("{HOOKS}/rooms/{room}"),
            json!({"name": "x", "format": "teams"}),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    alice
        .post(&format!("{HOOKS}/rooms/{room}"), json!({"name": ""}))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .raw()
        .post(&format!("{HOOKS}/rooms/{room}"), json!({"name": "anon"}))
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    let hook = create_hook(&alice, &room, json!({"name": "Zabbix"})).await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let hook_id = hook["hook_id"].as_str().unwrap().to_owned();

    // GET never fires a hook (link previews); unknown tokens are not found.
    let get = reqwest::get(&url).await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let (status, answer) = post_json(
        &format!("{}{HOOKS}/not-a-token", server.base_url()),
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("Webhook not found"))
    );
    // The token may also come as a bearer token.
    let token = url.rsplit('/').next().unwrap().to_owned();
    let bearer = reqwest::Client::new()
        .post(format!("{}{HOOKS}", server.base_url()))
        .bearer_auth(&token)
        .json(&json!({"text": "by header"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    // Too large: 413, nothing posted.
    let (status, _, _) = post_raw(
        &url,
        "application/json",
        json!({"text": "x".repeat(5000)}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 413);
    // The burst is 2: the third post waits.
    let (status, _) = post_json(&url, json!({"text": "second"})).await;
    assert_eq!(status, 200);
    let (status, _, headers) =
        post_raw(&url, "application/json", br#"{"text": "third"}"#.to_vec()).await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
    server.advance_clock(200_000);

    // Rotation: the old URL stops, the new one works.
    let rotated = alice
        .post(&format!("{HOOKS}/{hook_id}/rotate"), json!({}))
        .await;
    rotated.assert_ok();
    let new_url = rotated.body["url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, url);
    assert_eq!(post_json(&url, json!({"text": "old"})).await.0, 404);
    assert_eq!(post_json(&new_url, json!({"text": "new"})).await.0, 200);

    // Encryption: no new hooks, and the existing one stops posting, saying why.
    crate::room_helpers::encrypt_room(&alice, &room).await;
    let (status, answer) = post_json(&new_url, json!({"text": "in clear?"})).await;
    assert_eq!(status, 403);
    assert!(
        answer["error"].as_str().unwrap().contains("encrypted"),
        "{answer}"
    );
    let refused = alice
        .post(&format!("{HOOKS}/rooms/{room}"), json!({"name": "again"}))
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("encrypted")
    );
    let bodies: Vec<Value> = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"
        ))
        .await
        .body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        vec![json!("new"), json!("second"), json!("by header")]
    );

    // Revocation, by the creator: the URL is gone, the hook's user left.
    bob.delete(&format!("{HOOKS}/{hook_id}"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .delete(&format!("{HOOKS}/{hook_id}"), json!({}))
        .await
        .assert_ok();
    assert_eq!(post_json(&new_url, json!({"text": "after"})).await.0, 404);
    let listed = alice.get(&format!("{HOOKS}/rooms/{room}")).await;
    assert_eq!(listed.body["hooks"], json!([]));
}

#[tokio::test]
async fn a_hook_takes_posts_only_from_its_addresses_until_it_expires_or_its_creator_leaves() {
    let server = TestServer::builder()
        .configure(|config| {
            config.webhooks.per_ip_per_second = 0.01;
            config.webhooks.per_ip_burst = 30;
            // Any member may make a hook here.
            config.webhooks.power_level = Some(0);
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    let bad = alice
        .post(
            &format!("{HOOKS}/rooms/{room}"),
            json!({"name": "CI", "allowed_ips": ["10.0.0.0/8", "intranet"]}),
        )
        .await;
    bad.assert_error(400, "M_INVALID_PARAM");
    let bad = alice
        .post(
            &format!("{HOOKS}/rooms/{room}"),
            json!({"name": "CI", "expires_in_secs": 0}),
        )
        .await;
    bad.assert_error(400, "M_INVALID_PARAM");

    // The build servers' network only: loopback is not in it.
    let elsewhere = create_hook(
        &alice,
        &room,
        json!({"name": "CI", "allowed_ips": ["10.0.0.0/8", "192.0.2.7"]}),
    )
    .await;
    assert_eq!(
        elsewhere["allowed_ips"],
        json!(["10.0.0.0/8", "192.0.2.7/32"])
    );
    let url = elsewhere["url"].as_str().unwrap();
    let (status, answer) = post_json(url, json!({"text": "from outside"})).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "{answer}"
    );
    let here = create_hook(
        &alice,
        &room,
        json!({"name": "Local", "allowed_ips": ["127.0.0.0/8"], "expires_in_secs": 3600}),
    )
    .await;
    let url = here["url"].as_str().unwrap().to_owned();
    assert_eq!(post_json(&url, json!({"text": "from here"})).await.0, 200);
    assert_eq!(
        latest_message(&bob, &room).await["content"]["body"],
        "from here"
    );

    // An hour later it is gone, and listed no more.
    server.advance_clock(3_600_000);
    assert_eq!(post_json(&url, json!({"text": "late"})).await.0, 404);
    let listed = alice.get(&format!("{HOOKS}/rooms/{room}")).await;
    let names: Vec<&Value> = listed.body["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| &hook["name"])
        .collect();
    assert_eq!(names, [&json!("CI")]);

    // Bob's hook dies when Bob leaves the room.
    let bobs = create_hook(&bob, &room, json!({"name": "Bob's cron"})).await;
    let url = bobs["url"].as_str().unwrap().to_owned();
    assert_eq!(post_json(&url, json!({"text": "cron ok"})).await.0, 200);
    bob.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), json!({}))
        .await
        .assert_ok();
    assert_eq!(post_json(&url, json!({"text": "cron again"})).await.0, 404);
    let members = alice
        .get(&format!("/_matrix/client/v3/rooms/{room}/joined_members"))
        .await;
    let hook_user = bobs["sender"].as_str().unwrap();
    assert!(
        members.body["joined"].get(hook_user).is_none(),
        "its user left"
    );
    assert!(members.body["joined"].get(&bob_id).is_none());

    // One address guessing URLs is held back too.
    let mut statuses = Vec::new();
    for n in 0..30 {
        let guess = format!("{}{HOOKS}/guess{n:034}", server.base_url());
        statuses.push(post_json(&guess, json!({"text": "?"})).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.contains(&404));
}
