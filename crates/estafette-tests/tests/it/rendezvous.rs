//! The rendezvous sessions behind sign-in by QR code, on the wire: MSC4388's JSON form and
//! MSC4108's earlier ETag form; turns, conflicts, limits, expiry and who may open one.

use estafette_core::QrLogin;
use estafette_tests::{RawResponse, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

const MSC4388: &str = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const MSC4108: &str = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";

async fn server(qr_login: QrLogin) -> TestServer {
    TestServer::builder()
        .configure(move |config| config.oauth.qr_login = qr_login)
        .start()
        .await
}

/// A request of MSC4108's form: `text/plain` bodies and conditional headers.
async fn plain(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (RawResponse, String) {
    let mut request = reqwest::Client::new().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "text/plain")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let text_plain = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "text/plain");
    if text_plain {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let raw = RawResponse {
            status,
            headers,
            body: Value::Null,
        };
        return (raw, text);
    }
    (RawResponse::read(response).await, String::new())
}

fn header<'a>(response: &'a RawResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {response:?}"))
}

#[tokio::test]
async fn msc4388_sessions_take_turns_and_expire() {
    let server = server(QrLogin::Anyone).await;
    let raw = server.raw();
    let versions = raw.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["io.element.msc4388"],
        true
    );
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4108"],
        true
    );
    assert_eq!(
        raw.get(MSC4388).await.body,
        json!({"create_available": true})
    );

    let created = raw.post(MSC4388, json!({"data": "hello"})).await;
    created.assert_ok();
    assert_eq!(created.body["expires_in_ms"], 300_000);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let first = created.body["sequence_token"].as_str().unwrap().to_owned();
    let session = format!("{MSC4388}/{id}");
    let read = raw.get(&session).await;
    assert_eq!(read.body["data"], "hello");
    assert_eq!(read.body["sequence_token"], first.as_str());

    let reply = raw
        .put(&session, json!({"sequence_token": first, "data": "pong"}))
        .await;
    reply.assert_ok();
    let second = reply.body["sequence_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    raw.put(&session, json!({"sequence_token": first, "data": "other"}))
        .await
        .assert_error(409, "IO_ELEMENT_MSC4388_CONCURRENT_WRITE");
    let retried = raw
        .put(&session, json!({"sequence_token": first, "data": "pong"}))
        .await;
    assert_eq!(
        retried.body["sequence_token"],
        second.as_str(),
        "a repeated write changes nothing and succeeds again"
    );
    let read = raw.get(&session).await;
    assert_eq!(
        (&read.body["data"], &read.body["sequence_token"]),
        (&json!("pong"), &json!(second))
    );

    let big = "x".repeat(4_097);
    raw.put(&session, json!({"sequence_token": second, "data": big}))
        .await
        .assert_error(413, "M_TOO_LARGE");
    raw.post(MSC4388, json!({"data": big}))
        .await
        .assert_error(413, "M_TOO_LARGE");
    raw.post(MSC4388, json!({"payload": "x"}))
        .await
        .assert_error(400, "M_BAD_JSON");
    let (opened_as_page, _) = plain(
        Method::GET,
        &format!("{}{session}", server.base_url()),
        &[
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ],
        None,
    )
    .await;
    opened_as_page.assert_error(403, "M_FORBIDDEN");
    raw.get(&format!("{MSC4388}/nope"))
        .await
        .assert_error(404, "M_NOT_FOUND");
    assert_eq!(raw.get(&session).await.body["data"], "pong", "unchanged");

    server.advance_clock(240_000);
    assert_eq!(raw.get(&session).await.body["expires_in_ms"], 60_000);
    server.advance_clock(60_000);
    raw.get(&session).await.assert_error(404, "M_NOT_FOUND");
    raw.put(&session, json!({"sequence_token": second, "data": "late"}))
        .await
        .assert_error(404, "M_NOT_FOUND");

    let other = raw.post(MSC4388, json!({"data": ""})).await;
    let other = format!("{MSC4388}/{}", other.body["id"].as_str().unwrap());
    raw.delete(&other, json!({})).await.assert_ok();
    raw.get(&other).await.assert_error(404, "M_NOT_FOUND");
    raw.delete(&other, json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn msc4108_sessions_speak_etags() {
    let server = server(QrLogin::Anyone).await;
    let base = server.base_url();
    let (created, _) = plain(Method::POST, &format!("{base}{MSC4108}"), &[], Some("")).await;
    assert_eq!(created.status, 201, "{created:?}");
    let url = created.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}{MSC4108}/")), "{url}");
    let first = header(&created, "etag").to_owned();
    assert_eq!(header(&created, "cache-control"), "no-store");
    assert!(header(&created, "expires").ends_with("GMT"));
    assert!(header(&created, "last-modified").ends_with("GMT"));

    let (read, text) = plain(Method::GET, &url, &[], None).await;
    assert_eq!((read.status, text.as_str()), (200, ""));
    assert_eq!(header(&read, "etag"), first);
    let (unchanged, _) = plain(Method::GET, &url, &[("if-none-match", &first)], None).await;
    assert_eq!(unchanged.status, 304);

    let (sent, _) = plain(Method::PUT, &url, &[("if-match", &first)], Some("hello")).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let second = header(&sent, "etag").to_owned();
    assert_ne!(second, first);
    let (read, text) = plain(Method::GET, &url, &[("if-none-match", &first)], None).await;
    assert_eq!((read.status, text.as_str()), (200, "hello"));
    assert_eq!(header(&read, "content-type"), "text/plain");
    assert_eq!(header(&read, "etag"), second);

    let (stale, _) = plain(Method::PUT, &url, &[("if-match", &first)], Some("other")).await;
    stale.assert_error(412, "M_CONCURRENT_WRITE");
    assert_eq!(
        header(&stale, "etag"),
        second,
        "the current ETag comes back"
    );
    let (unconditional, _) = plain(Method::PUT, &url, &[], Some("other")).await;
    unconditional.assert_error(400, "M_MISSING_PARAM");
    let not_text = reqwest::Client::new()
        .put(&url)
        .header("if-match", &second)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    RawResponse::read(not_text)
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let big = "x".repeat(10_241);
    let (too_large, _) = plain(Method::PUT, &url, &[("if-match", &second)], Some(&big)).await;
    too_large.assert_error(413, "M_TOO_LARGE");
    let (_, text) = plain(Method::GET, &url, &[], None).await;
    assert_eq!(text, "hello", "nothing refused was written");

    let (bad_token, _) = plain(
        Method::POST,
        &format!("{base}{MSC4108}"),
        &[("authorization", "Bearer not-a-token")],
        Some(""),
    )
    .await;
    bad_token.assert_error(401, "M_UNKNOWN_TOKEN");

    let (deleted, _) = plain(Method::DELETE, &url, &[], None).await;
    assert_eq!(deleted.status, 204);
    let (gone, _) = plain(Method::GET, &url, &[], None).await;
    gone.assert_error(404, "M_NOT_FOUND");

    let (created, _) = plain(Method::POST, &format!("{base}{MSC4108}"), &[], Some("")).await;
    let url = created.body["url"].as_str().unwrap().to_owned();
    server.advance_clock(300_000);
    let (expired, _) = plain(Method::GET, &url, &[], None).await;
    expired.assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn only_users_open_sessions_when_so_configured_and_none_when_off() {
    let server = server(QrLogin::Users).await;
    let base = server.base_url();
    let anonymous = server.raw();
    let (_, token, _) = anonymous.register("alice", "alice's password").await;
    let alice = anonymous.clone_with(&token);
    assert_eq!(
        anonymous.get(MSC4388).await.body,
        json!({"create_available": false})
    );
    assert_eq!(
        alice.get(MSC4388).await.body,
        json!({"create_available": true})
    );
    anonymous
        .post(MSC4388, json!({"data": "x"}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    let created = alice.post(MSC4388, json!({"data": "x"})).await;
    created.assert_ok();
    // The other device has no account: it reads and writes without one.
    let session = format!("{MSC4388}/{}", created.body["id"].as_str().unwrap());
    let token_now = anonymous.get(&session).await.body["sequence_token"].clone();
    anonymous
        .put(&session, json!({"sequence_token": token_now, "data": "y"}))
        .await
        .assert_ok();
    let (refused, _) = plain(Method::POST, &format!("{base}{MSC4108}"), &[], Some("")).await;
    refused.assert_error(403, "M_FORBIDDEN");
    let bearer = format!("Bearer {token}");
    let (created, _) = plain(
        Method::POST,
        &format!("{base}{MSC4108}"),
        &[("authorization", &bearer)],
        Some(""),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");

    let server = self::server(QrLogin::Off).await;
    let raw = server.raw();
    let versions = raw.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["io.element.msc4388"],
        false
    );
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4108"],
        false
    );
    raw.get(MSC4388).await.assert_error(404, "M_UNRECOGNIZED");
    raw.post(MSC4388, json!({"data": "x"}))
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    raw.get(&format!("{MSC4388}/abc"))
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    let (off, _) = plain(
        Method::POST,
        &format!("{}{MSC4108}", server.base_url()),
        &[],
        Some(""),
    )
    .await;
    off.assert_error(404, "M_UNRECOGNIZED");
}
