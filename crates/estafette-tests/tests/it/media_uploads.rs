//! Uploads beyond one request: an `mxc://` URI created first and its content sent later, once,
//! by its creator (matrix-sdk and raw), downloads that wait for it, expiry, the limit on
//! URIs waiting for content, storage quotas, and the antivirus on content sent later.

use estafette_tests::{Clamd, EICAR, RawClient, TestServer};
use reqwest::Method;

use crate::antivirus::scanning_server;
use crate::media::png;
use crate::room_helpers::user;

/// `POST /_matrix/media/v1/create`: `(server, media id, unused_expires_at)`.
async fn create(client: &RawClient) -> (String, String, u64) {
    let created = create_raw(client).await;
    created.assert_ok();
    let uri = created.body["content_uri"].as_str().unwrap();
    let (server, id) = uri.trim_start_matches("mxc://").split_once('/').unwrap();
    let expires = created.body["unused_expires_at"].as_u64().unwrap();
    (server.to_owned(), id.to_owned(), expires)
}

async fn put_content(
    client: &RawClient,
    server: &str,
    id: &str,
    bytes: Vec<u8>,
) -> estafette_tests::RawResponse {
    client
        .send_file(
            Method::PUT,
            &format!("/_matrix/media/v3/upload/{server}/{id}?filename=later.png"),
            "image/png",
            bytes,
        )
        .await
}

fn download_path(server: &str, id: &str, timeout_ms: u64) -> String {
    format!("/_matrix/client/v1/media/download/{server}/{id}?timeout_ms={timeout_ms}")
}

#[tokio::test]
async fn a_created_uri_takes_its_content_once_from_its_creator() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let now = server.services().context.now();
    let (origin, id, expires) = create(&alice).await;
    assert_eq!(origin, server.server_name());
    assert!(
        expires > now + 3_600_000,
        "a day to upload, not {}",
        expires - now
    );

    alice
        .get(&download_path(&origin, &id, 300))
        .await
        .assert_error(504, "M_NOT_YET_UPLOADED");
    put_content(&bob, &origin, &id, png(4, 4))
        .await
        .assert_error(403, "M_FORBIDDEN");
    // A download already waiting gets the content the moment it comes.
    let waiting = {
        let bob = bob.clone();
        let path = download_path(&origin, &id, 10_000);
        tokio::spawn(async move { bob.get_bytes(&path).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    put_content(&alice, &origin, &id, png(8, 8))
        .await
        .assert_ok();
    let (status, content_type, bytes) = waiting.await.unwrap();
    assert_eq!(
        (status, content_type.as_deref(), bytes),
        (200, Some("image/png"), png(8, 8))
    );
    put_content(&alice, &origin, &id, png(9, 9))
        .await
        .assert_error(409, "M_CANNOT_OVERWRITE_MEDIA");
    let (_, _, bytes) = alice.get_bytes(&download_path(&origin, &id, 0)).await;
    assert_eq!(bytes, png(8, 8), "the first content stays");

    put_content(&alice, &origin, "neverCreated", png(2, 2))
        .await
        .assert_error(404, "M_NOT_FOUND");
    put_content(&alice, "elsewhere.example", &id, png(2, 2))
        .await
        .assert_error(404, "M_NOT_FOUND");

    // A URI left without content expires.
    let (_, late, expires) = create(&alice).await;
    server.advance_clock(expires - server.services().context.now() + 1);
    put_content(&alice, &origin, &late, png(2, 2))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .get(&download_path(&origin, &late, 0))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn matrix_sdk_preallocates_then_uploads() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let media = alice.client.media();
    let preallocated = media.create_content_uri().await.unwrap();
    let uri = preallocated.uri.clone();
    media
        .upload_preallocated(preallocated, &mime::IMAGE_PNG, png(6, 6))
        .await
        .unwrap();
    let request = matrix_sdk::media::MediaRequestParameters {
        source: matrix_sdk::ruma::events::room::MediaSource::Plain(uri),
        format: matrix_sdk::media::MediaFormat::File,
    };
    assert_eq!(
        media.get_media_content(&request, false).await.unwrap(),
        png(6, 6)
    );
}

#[tokio::test]
async fn waiting_uris_and_stored_bytes_are_limited_per_user() {
    let server = TestServer::builder()
        .configure(|config| {
            config.media.max_pending_uploads = 2;
            config.media.user_quota_bytes = Some(1_000);
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let (origin, first, _) = create(&alice).await;
    create(&alice).await;
    alice
        .post("/_matrix/media/v1/create", serde_json::json!({}))
        .await
        .assert_error(429, "M_LIMIT_EXCEEDED");
    create(&bob).await;
    put_content(&alice, &origin, &first, vec![1; 600])
        .await
        .assert_ok();
    create(&alice).await;

    alice
        .upload("application/octet-stream", "b.bin", vec![2; 500])
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .upload("application/octet-stream", "c.bin", vec![3; 400])
        .await
        .assert_ok();
    bob.upload("application/octet-stream", "d.bin", vec![4; 900])
        .await
        .assert_ok();
}

#[tokio::test]
async fn content_sent_later_is_scanned_before_it_is_accepted() {
    let clamd = Clamd::start().await;
    let server = scanning_server(&clamd, false).await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (origin, id, _) = create(&alice).await;
    put_content(&alice, &origin, &id, EICAR.to_vec())
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .get(&download_path(&origin, &id, 0))
        .await
        .assert_error(504, "M_NOT_YET_UPLOADED");
    put_content(&alice, &origin, &id, png(3, 3))
        .await
        .assert_ok();
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &id, 0)).await;
    assert_eq!((status, bytes), (200, png(3, 3)));
}

#[tokio::test]
async fn uploads_are_rate_limited_per_user() {
    let server = TestServer::builder()
        .configure(|config| {
            config.rate_limit.enabled = true;
            config.rate_limit.per_second = 1_000.0;
            config.rate_limit.burst = 1_000;
            config.rate_limit.login_burst = 1_000;
            config.rate_limit.upload_per_second = 0.5;
            config.rate_limit.upload_burst = 2;
        })
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    upload_bytes(&alice, 1).await.assert_ok();
    create_raw(&alice).await.assert_ok();
    let refused = upload_bytes(&alice, 2).await;
    refused.assert_error(429, "M_LIMIT_EXCEEDED");
    assert_eq!(refused.body["retry_after_ms"], 2_000, "{:?}", refused.body);
    create_raw(&alice)
        .await
        .assert_error(429, "M_LIMIT_EXCEEDED");
    upload_bytes(&bob, 3).await.assert_ok();
    server.advance_clock(2_000);
    upload_bytes(&alice, 4).await.assert_ok();
}

async fn upload_bytes(client: &RawClient, byte: u8) -> estafette_tests::RawResponse {
    client
        .upload("application/octet-stream", "f.bin", vec![byte; 10])
        .await
}

async fn create_raw(client: &RawClient) -> estafette_tests::RawResponse {
    client
        .post("/_matrix/media/v1/create", serde_json::json!({}))
        .await
}
