//! Server-side search (`POST /search`) over the rooms a user may read: ordering, filters,
//! context, groupings, pagination, state, redactions and history visibility.

use std::collections::BTreeSet;

use estafette_tests::{RawClient, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::{create_room, send_text, user};

async fn search(client: &RawClient, criteria: Value) -> Value {
    let response = client
        .post(
            "/_matrix/client/v3/search",
            json!({"search_categories": {"room_events": criteria}}),
        )
        .await;
    response.assert_ok();
    response.body["search_categories"]["room_events"].clone()
}

/// The bodies (or names and topics) of the results, in order.
fn texts(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let content = &r["result"]["content"];
            content["body"]
                .as_str()
                .or(content["topic"].as_str())
                .or(content["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn sorted(texts: Vec<String>) -> BTreeSet<String> {
    texts.into_iter().collect()
}

#[tokio::test]
async fn search_finds_what_the_user_may_read_in_the_order_asked() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let (_, carol) = user(server.raw(), "carol").await;
    let shared = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{shared}"), json!({}))
        .await
        .assert_ok();
    let own = create_room(&alice, json!({"topic": "Budget annuel"})).await;
    let elsewhere = create_room(&carol, json!({})).await;
    send_text(&alice, &shared, "a1", "Réunion budgétaire lundi").await;
    let voted = send_text(&bob, &shared, "b1", "Le budget est voté").await;
    send_text(&alice, &shared, "a2", "Rien à voir").await;
    send_text(&alice, &own, "a3", "Le budget de mon bureau").await;
    send_text(&carol, &elsewhere, "c1", "Le budget de Carol").await;

    let everything = search(
        &alice,
        json!({"search_term": "budget", "order_by": "recent"}),
    )
    .await;
    assert_eq!(
        texts(&everything),
        [
            "Le budget de mon bureau",
            "Le budget est voté",
            "Réunion budgétaire lundi",
            "Budget annuel"
        ],
        "newest first, accents ignored, words as prefixes, Carol's room left out"
    );
    assert_eq!(everything["count"], 4);
    assert_eq!(everything["highlights"], json!(["budget"]));

    let ranked = search(&alice, json!({"search_term": "budget"})).await;
    assert_eq!(sorted(texts(&ranked)), sorted(texts(&everything)));
    let ranks: Vec<f64> = ranked["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rank"].as_f64().unwrap())
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "best first: {ranks:?}"
    );

    // Filters: rooms, senders, keys.
    let in_shared = search(
        &alice,
        json!({"search_term": "budget", "filter": {"rooms": [shared]}}),
    )
    .await;
    assert_eq!(
        sorted(texts(&in_shared)),
        sorted(vec![
            "Réunion budgétaire lundi".into(),
            "Le budget est voté".into()
        ])
    );
    let by_bob = search(
        &alice,
        json!({"search_term": "budget", "filter": {"senders": [bob_id]}}),
    )
    .await;
    assert_eq!(texts(&by_bob), ["Le budget est voté"]);
    let topics = search(
        &alice,
        json!({"search_term": "budget", "keys": ["content.topic"]}),
    )
    .await;
    assert_eq!(texts(&topics), ["Budget annuel"]);

    // Context with profiles, groups by room, the rooms' state.
    let detailed = search(
        &alice,
        json!({"search_term": "voté", "include_state": true,
               "event_context": {"before_limit": 1, "after_limit": 1, "include_profile": true},
               "groupings": {"group_by": [{"key": "room_id"}]}}),
    )
    .await;
    let result = &detailed["results"][0];
    assert_eq!(result["result"]["event_id"], voted.as_str());
    assert_eq!(result["result"]["room_id"], shared.as_str());
    let context = &result["context"];
    assert_eq!(
        context["events_before"][0]["content"]["body"],
        "Réunion budgétaire lundi"
    );
    assert_eq!(context["events_after"][0]["content"]["body"], "Rien à voir");
    assert_eq!(context["profile_info"][&bob_id]["displayname"], "bob");
    assert!(context["start"].is_string() && context["end"].is_string());
    assert_eq!(
        detailed["groups"]["room_id"][&shared]["results"],
        json!([voted])
    );
    let state_types: Vec<&str> = detailed["state"][&shared]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(state_types.contains(&"m.room.create"), "{state_types:?}");

    // One result a page, following next_batch, gives every result once.
    let mut seen = Vec::new();
    let mut next_batch: Option<String> = None;
    for _ in 0..10 {
        let body = json!({"search_categories": {"room_events":
            {"search_term": "budget", "order_by": "recent", "filter": {"limit": 1}}}});
        let path = match &next_batch {
            Some(token) => format!("/_matrix/client/v3/search?next_batch={token}"),
            None => "/_matrix/client/v3/search".to_owned(),
        };
        let page = alice.post(&path, body).await;
        page.assert_ok();
        let events = &page.body["search_categories"]["room_events"];
        seen.extend(texts(events));
        match events["next_batch"].as_str() {
            Some(token) => next_batch = Some(token.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, texts(&everything));

    // A redacted message is no longer found.
    bob.put(
        &format!("/_matrix/client/v3/rooms/{shared}/redact/{voted}/r1"),
        json!({}),
    )
    .await
    .assert_ok();
    let after = search(&alice, json!({"search_term": "voté"})).await;
    assert_eq!(after["results"], json!([]));
    assert_eq!(after["count"], 0);
}

#[tokio::test]
async fn history_visibility_decides_what_a_late_joiner_finds() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, dave) = user(server.raw(), "dave").await;
    let room = create_room(
        &alice,
        json!({"preset": "public_chat", "initial_state": [{"type": "m.room.history_visibility",
               "state_key": "", "content": {"history_visibility": "joined"}}]}),
    )
    .await;
    send_text(&alice, &room, "a1", "Dossier confidentiel avant").await;
    dave.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    send_text(&alice, &room, "a2", "Dossier partagé après").await;
    let found = search(&dave, json!({"search_term": "dossier"})).await;
    assert_eq!(texts(&found), ["Dossier partagé après"]);
    let found = search(
        &alice,
        json!({"search_term": "dossier", "order_by": "recent"}),
    )
    .await;
    assert_eq!(
        texts(&found),
        ["Dossier partagé après", "Dossier confidentiel avant"]
    );
}

#[tokio::test]
async fn bad_searches_get_the_spec_errors() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let post = |body: Value| {
        let alice = alice.clone();
        async move { alice.post("/_matrix/client/v3/search", body).await }
    };
    let criteria = |criteria: Value| json!({"search_categories": {"room_events": criteria}});
    post(criteria(json!({"search_term": "x".repeat(2_000)})))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    post(criteria(
        json!({"search_term": "x", "keys": ["content.secret"]}),
    ))
    .await
    .assert_error(400, "M_INVALID_PARAM");
    post(criteria(json!({"keys": ["content.body"]})))
        .await
        .assert_error(400, "M_BAD_JSON");
    post(criteria(json!({"search_term": 5})))
        .await
        .assert_error(400, "M_BAD_JSON");
    alice
        .post(
            "/_matrix/client/v3/search?next_batch=garbage",
            criteria(json!({"search_term": "x"})),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    // Nothing found still has the shape clients read; no category, an empty answer.
    let empty = post(criteria(json!({"search_term": "nothing"}))).await;
    empty.assert_ok();
    assert_eq!(
        empty.body,
        json!({"search_categories": {"room_events": {"results": [], "count": 0, "highlights": ["nothing"]}}})
    );
    let none = post(json!({"search_categories": {}})).await;
    none.assert_ok();
    assert_eq!(none.body, json!({"search_categories": {}}));
}
