//! The spec's common errors, discovery endpoints and CORS, checked over raw HTTP.

use estafette_tests::TestServer;
use serde_json::json;

#[tokio::test]
async fn unknown_endpoints_and_wrong_methods_are_unrecognized() {
    let server = TestServer::start().await;
    let raw = server.raw();
    raw.get("/_matrix/client/v3/no/such/endpoint")
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    raw.get("/not-matrix")
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    raw.delete("/_matrix/client/versions", json!({}))
        .await
        .assert_error(405, "M_UNRECOGNIZED");
    raw.put("/_matrix/client/v3/login", json!({}))
        .await
        .assert_error(405, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn malformed_bodies_are_not_json_or_bad_json() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let send = |body: &'static [u8]| {
        let raw = server.raw();
        async move {
            raw.send(
                reqwest::Method::POST,
                "/_matrix/client/v3/login",
                Some(body.to_vec()),
            )
            .await
        }
    };
    send(b"{\"type\":").await.assert_error(400, "M_NOT_JSON");
    send(b"not json at all")
        .await
        .assert_error(400, "M_NOT_JSON");
    send(b"{\"type\": 5}").await.assert_error(400, "M_BAD_JSON");
    // ruma's login parser would panic on a body without a type: it is bad JSON instead.
    send(b"{}").await.assert_error(400, "M_BAD_JSON");
    send(b"{\"identifier\": {\"type\": \"m.id.user\", \"user\": \"x\"}, \"password\": \"y\"}")
        .await
        .assert_error(400, "M_BAD_JSON");
    raw.post("/_matrix/client/v3/register", json!({"username": 12}))
        .await
        .assert_error(400, "M_BAD_JSON");
}

#[tokio::test]
async fn missing_and_unknown_tokens() {
    let server = TestServer::start().await;
    let raw = server.raw();
    raw.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    let unknown = raw
        .clone_with("eat_not_a_token")
        .get("/_matrix/client/v3/account/whoami")
        .await;
    unknown.assert_error(401, "M_UNKNOWN_TOKEN");
    assert_ne!(
        unknown.body["soft_logout"], true,
        "an unknown token is a hard logout"
    );
    let (_, token, _) = raw.register("quinn", "quinn's password").await;
    // The deprecated query parameter still works.
    raw.get(&format!(
        "/_matrix/client/v3/account/whoami?access_token={token}"
    ))
    .await
    .assert_ok();
}

#[tokio::test]
async fn rate_limited_clients_are_told_when_to_retry() {
    let server = TestServer::builder()
        .configure(|config| {
            config.rate_limit.enabled = true;
            config.rate_limit.per_second = 0.5;
            config.rate_limit.burst = 3;
        })
        .start()
        .await;
    let raw = server.raw();
    let (_, token, _) = raw.register("rae", "rae's password").await;
    let raw = raw.with_token(token);
    for _ in 0..3 {
        raw.get("/_matrix/client/v3/account/whoami")
            .await
            .assert_ok();
    }
    let limited = raw.get("/_matrix/client/v3/account/whoami").await;
    limited.assert_error(429, "M_LIMIT_EXCEEDED");
    assert_eq!(limited.body["retry_after_ms"], 2000);
    assert_eq!(limited.headers["retry-after"], "2");
    // Endpoints the spec does not rate-limit still answer.
    raw.get("/_matrix/client/v3/devices").await.assert_ok();
    server.advance_clock(2_000);
    raw.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
}

#[tokio::test]
async fn login_attempts_have_their_own_stricter_limit() {
    let server = TestServer::builder()
        .configure(|config| {
            config.rate_limit.enabled = true;
            config.rate_limit.login_burst = 2;
        })
        .start()
        .await;
    let raw = server.raw();
    let attempt = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}, "password": "y"});
    raw.post("/_matrix/client/v3/login", attempt.clone())
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.post("/_matrix/client/v3/login", attempt.clone())
        .await
        .assert_error(403, "M_FORBIDDEN");
    let limited = raw.post("/_matrix/client/v3/login", attempt).await;
    limited.assert_error(429, "M_LIMIT_EXCEEDED");
    assert!(
        limited.body["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
}

#[tokio::test]
async fn oversized_bodies_are_too_large_and_change_nothing() {
    let server = TestServer::builder()
        .configure(|config| config.limits.max_request_body_bytes = 4096)
        .start()
        .await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("sam", "sam's password").await;
    let raw = raw.with_token(token);
    let path = format!("/_matrix/client/v3/user/{user_id}/account_data/org.example.big");
    raw.put(&path, json!({"blob": "x".repeat(5000)}))
        .await
        .assert_error(413, "M_TOO_LARGE");
    raw.get(&path).await.assert_error(404, "M_NOT_FOUND");
    raw.put(&path, json!({"blob": "x".repeat(100)}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn events_over_the_spec_size_are_too_large_and_change_nothing() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("sam", "sam's password").await;
    let raw = raw.with_token(token);
    let room = raw.post("/_matrix/client/v3/createRoom", json!({})).await;
    let room_id = room.body["room_id"].as_str().unwrap();
    let send = |txn: usize, size: usize| {
        let raw = raw.clone();
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{txn}");
        async move {
            raw.put(
                &path,
                json!({"msgtype": "m.text", "body": "x".repeat(size)}),
            )
            .await
        }
    };
    send(0, 70_000).await.assert_error(413, "M_TOO_LARGE");
    let topic = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic/");
    raw.put(&topic, json!({"topic": "y".repeat(70_000)}))
        .await
        .assert_error(413, "M_TOO_LARGE");
    // Around the bound, signatures and hashes tip the event over: never a 400 or a 500.
    let mut sizes = Vec::new();
    for (txn, size) in (64_500..65_600).step_by(50).enumerate() {
        let response = send(txn + 1, size).await;
        match response.status {
            200 => sizes.push(size),
            _ => {
                response.assert_error(413, "M_TOO_LARGE");
            }
        }
    }
    assert!(
        !sizes.is_empty() && *sizes.last().unwrap() < 65_600,
        "{sizes:?}"
    );
    let messages = raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100"
        ))
        .await;
    let stored = messages.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .count();
    assert_eq!(
        stored,
        sizes.len(),
        "only the accepted events are in the room"
    );
}

#[tokio::test]
async fn discovery_endpoints_describe_the_server() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let versions = raw.get("/_matrix/client/versions").await;
    versions.assert_ok();
    assert!(
        versions.body["versions"]
            .as_array()
            .unwrap()
            .contains(&json!("v1.3")),
        "refresh tokens need v1.3"
    );
    let well_known = raw.get("/.well-known/matrix/client").await;
    assert_eq!(
        well_known.body["m.homeserver"]["base_url"],
        server.base_url()
    );
    let (_, token, _) = raw.register("tia", "tia's password").await;
    let capabilities = raw
        .clone_with(&token)
        .get("/_matrix/client/v3/capabilities")
        .await;
    assert_eq!(
        capabilities.body["capabilities"]["m.room_versions"]["default"],
        "12"
    );
    raw.get("/_matrix/client/v3/capabilities")
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn browsers_get_cors_headers_and_preflight_answers() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let preflight = raw
        .send(reqwest::Method::OPTIONS, "/_matrix/client/v3/login", None)
        .await;
    assert!(
        preflight.status == 200 || preflight.status == 204,
        "{preflight:?}"
    );
    for response in [
        preflight,
        raw.get("/_matrix/client/versions").await,
        raw.get("/nowhere").await,
    ] {
        assert_eq!(response.headers["access-control-allow-origin"], "*");
        let methods = response.headers["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(
            ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
                .iter()
                .all(|m| methods.contains(m)),
            "{methods}"
        );
        let headers = response.headers["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(
            headers.contains("Authorization") && headers.contains("Content-Type"),
            "{headers}"
        );
    }
}

#[tokio::test]
async fn support_contacts_are_served_when_configured() {
    let unconfigured = TestServer::start().await;
    unconfigured
        .raw()
        .get("/.well-known/matrix/support")
        .await
        .assert_error(404, "M_NOT_FOUND");
    let server = TestServer::builder()
        .configure(|config| {
            config.support.contacts = vec![
                estafette::core::SupportContact {
                    role: "m.role.admin".into(),
                    matrix_id: Some("@admin:example.gouv.fr".into()),
                    email_address: Some("admin@example.gouv.fr".into()),
                },
                estafette::core::SupportContact {
                    role: "m.role.security".into(),
                    matrix_id: None,
                    email_address: Some("securite@example.gouv.fr".into()),
                },
            ];
            config.support.page = Some("https://example.gouv.fr/aide".into());
        })
        .start()
        .await;
    let support = server.raw().get("/.well-known/matrix/support").await;
    support.assert_ok();
    assert_eq!(
        support.body,
        json!({
            "contacts": [
                {"role": "m.role.admin", "matrix_id": "@admin:example.gouv.fr",
                 "email_address": "admin@example.gouv.fr"},
                {"role": "m.role.security", "email_address": "securite@example.gouv.fr"}
            ],
            "support_page": "https://example.gouv.fr/aide"
        })
    );
}
