//! The media repository: uploads, authenticated downloads and thumbnails, locally and of
//! another server's media fetched over authenticated federation (Estafette and Synapse).

use estafette_tests::{RawClient, SynapseServer, TestServer};

use crate::room_helpers::user;

/// A `width`×`height` PNG, red.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 20, 20]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// Uploads and returns `(server, media id)` of the `mxc://` URI.
pub(crate) async fn upload(client: &RawClient, bytes: Vec<u8>) -> (String, String) {
    let uploaded = client.upload("image/png", "red.png", bytes).await;
    uploaded.assert_ok();
    let uri = uploaded.body["content_uri"].as_str().unwrap();
    let (server, id) = uri.trim_start_matches("mxc://").split_once('/').unwrap();
    (server.to_owned(), id.to_owned())
}

/// The size of a PNG the server sent.
pub(crate) fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("an image");
    (image.width(), image.height())
}

#[tokio::test]
async fn uploads_are_downloaded_and_thumbnailed_by_authenticated_users() {
    let server = TestServer::builder()
        .configure(|config| config.media.max_upload_bytes = 100_000)
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let original = png(64, 32);
    let (origin, id) = upload(&alice, original.clone()).await;
    assert_eq!(origin, server.server_name());

    let download = format!("/_matrix/client/v1/media/download/{origin}/{id}");
    let (status, content_type, bytes) = alice.get_bytes(&download).await;
    assert_eq!((status, content_type.as_deref()), (200, Some("image/png")));
    assert_eq!(bytes, original);
    // A browser never runs what users uploaded as this server's page.
    let headers = alice.get(&download).await.headers;
    let policy = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(policy.starts_with("sandbox;"), "{policy}");
    let (status, _, _) = server.raw().get_bytes(&download).await;
    assert_eq!(status, 401, "downloads need an access token");
    alice
        .get(&format!(
            "/_matrix/client/v1/media/download/{origin}/nothing"
        ))
        .await
        .assert_error(404, "M_NOT_FOUND");

    let thumbnail = |w: u32, h: u32, method: &str| {
        format!(
            "/_matrix/client/v1/media/thumbnail/{origin}/{id}?width={w}&height={h}&method={method}"
        )
    };
    let (status, _, cropped) = alice.get_bytes(&thumbnail(16, 16, "crop")).await;
    assert_eq!(status, 200);
    assert_eq!(dimensions(&cropped), (16, 16));
    let (_, _, scaled) = alice.get_bytes(&thumbnail(16, 16, "scale")).await;
    assert_eq!(
        dimensions(&scaled),
        (16, 8),
        "scaling keeps the aspect ratio"
    );

    let config = alice.get("/_matrix/client/v1/media/config").await;
    assert_eq!(config.body["m.upload.size"], 100_000);
    alice
        .upload("application/octet-stream", "big.bin", vec![0; 150_000])
        .await
        .assert_error(413, "M_TOO_LARGE");
    // Text is not an image: no thumbnail, but the file itself is there.
    let (_, text_id) = {
        let uploaded = alice
            .upload("text/plain", "note.txt", b"hello".to_vec())
            .await;
        let uri = uploaded.body["content_uri"].as_str().unwrap().to_owned();
        let (s, i) = uri.trim_start_matches("mxc://").split_once('/').unwrap();
        (s.to_owned(), i.to_owned())
    };
    alice
        .get(&format!(
            "/_matrix/client/v1/media/thumbnail/{origin}/{text_id}?width=8&height=8"
        ))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn another_servers_media_is_fetched_over_federation() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let original = png(40, 40);
    let (origin, id) = upload(&bob, original.clone()).await;
    let (status, content_type, bytes) = alice
        .get_bytes(&format!("/_matrix/client/v1/media/download/{origin}/{id}"))
        .await;
    assert_eq!((status, content_type.as_deref()), (200, Some("image/png")));
    assert_eq!(bytes, original);
    let (status, _, thumbnail) = alice
        .get_bytes(&format!(
            "/_matrix/client/v1/media/thumbnail/{origin}/{id}?width=10&height=10"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(dimensions(&thumbnail), (10, 10));
    // Kept here: the remote server going away does not lose it.
    remote.stop().await;
    let (status, _, again) = alice
        .get_bytes(&format!("/_matrix/client/v1/media/download/{origin}/{id}"))
        .await;
    assert_eq!((status, again), (200, original));
}

/// Other servers' media nobody asks for within the retention period is deleted by the
/// server's own periodic purge (record, thumbnails, bytes unless a local upload shares them),
/// and fetched again when asked; media still asked for, and local media, stay.
#[tokio::test]
async fn other_servers_media_not_asked_for_is_deleted_and_fetched_again() {
    let remote = TestServer::builder().federation().start().await;
    let home = TestServer::builder()
        .federation()
        .configure(|config| config.media.remote_retention_secs = Some(1))
        .start()
        .await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (remote_origin, forgotten) = upload(&bob, png(10, 10)).await;
    let (_, popular) = upload(&bob, png(11, 11)).await;
    let (_, shared) = upload(&bob, png(12, 12)).await;
    let (origin, local) = upload(&alice, png(12, 12)).await;
    let download =
        |origin: &str, id: &str| format!("/_matrix/client/v1/media/download/{origin}/{id}");
    for id in [&forgotten, &popular, &shared] {
        let (status, _, _) = alice.get_bytes(&download(&remote_origin, id)).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = alice
        .get_bytes(&format!(
            "/_matrix/client/v1/media/thumbnail/{remote_origin}/{forgotten}?width=4&height=4"
        ))
        .await;
    assert_eq!(status, 200);

    let storage = &home.services().context.storage;
    let remote_name = &*ruma::ServerName::parse(&remote_origin).unwrap();
    let record = |id: String| async move { storage.media.get(remote_name, &id).await.unwrap() };
    let popular_fetched = record(popular.clone()).await.unwrap().created_ts;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _, _) = alice.get_bytes(&download(&remote_origin, &popular)).await;
        assert_eq!(status, 200);
        // The record goes first, then its files: the purge is over when both are gone.
        let forgotten_hash = estafette::service::content_hash(&png(10, 10));
        let content = storage.media_files.read_content(&forgotten_hash).await;
        if record(forgotten.clone()).await.is_none() && content.unwrap().is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never purged");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let hash = |bytes: &[u8]| estafette::service::content_hash(bytes);
    let files = &storage.media_files;
    assert_eq!(files.read_content(&hash(&png(10, 10))).await.unwrap(), None);
    let thumbnail = files
        .read(remote_name, &forgotten, "thumbnail-4x4-crop")
        .await
        .unwrap();
    assert_eq!(thumbnail, None, "its thumbnails went with it");
    let popular_now = record(popular.clone()).await.map(|r| r.created_ts);
    assert_eq!(
        popular_now,
        Some(popular_fetched),
        "kept all along, never fetched again"
    );
    assert!(record(shared.clone()).await.is_none());
    let (status, _, bytes) = alice.get_bytes(&download(&origin, &local)).await;
    assert_eq!(
        (status, bytes),
        (200, png(12, 12)),
        "a local upload keeps the bytes another server's media shared"
    );

    let (status, _, bytes) = alice.get_bytes(&download(&remote_origin, &forgotten)).await;
    assert_eq!((status, bytes), (200, png(10, 10)), "fetched again");
    assert!(record(forgotten).await.is_some());
}

/// The deprecated endpoints without access token serve nothing unless the operator allows
/// them; allowed, they serve local media, and other servers' media unless the client asks
/// not to fetch it.
#[tokio::test]
async fn unauthenticated_downloads_are_served_only_when_the_operator_allows_them() {
    let remote = TestServer::builder().federation().start().await;
    let home = TestServer::builder().federation().start().await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (remote_origin, remote_id) = upload(&bob, png(12, 6)).await;
    let (origin, id) = upload(&alice, png(20, 10)).await;
    let legacy = |origin: &str, id: &str| format!("/_matrix/media/v3/download/{origin}/{id}");
    home.raw()
        .get(&legacy(&origin, &id))
        .await
        .assert_error(404, "M_NOT_FOUND");

    let home = home
        .go_offline()
        .await
        .configure(|config| config.media.unauthenticated_downloads = true)
        .start()
        .await;
    let anonymous = home.raw();
    let (status, content_type, bytes) = anonymous.get_bytes(&legacy(&origin, &id)).await;
    assert_eq!((status, content_type.as_deref()), (200, Some("image/png")));
    assert_eq!(bytes, png(20, 10));
    let named = anonymous
        .get(&format!("/_matrix/media/v3/download/{origin}/{id}/red.png"))
        .await;
    assert_eq!(named.status, 200);
    let disposition = named.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains("red.png"), "{disposition}");
    let (status, _, thumbnail) = anonymous
        .get_bytes(&format!(
            "/_matrix/media/v3/thumbnail/{origin}/{id}?width=8&height=8&method=scale"
        ))
        .await;
    assert_eq!((status, dimensions(&thumbnail)), (200, (8, 4)));

    let not_fetched = format!("{}?allow_remote=false", legacy(&remote_origin, &remote_id));
    anonymous
        .get(&not_fetched)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let (status, _, bytes) = anonymous
        .get_bytes(&legacy(&remote_origin, &remote_id))
        .await;
    assert_eq!(
        (status, bytes),
        (200, png(12, 6)),
        "fetched over federation"
    );
    let (status, _, bytes) = anonymous.get_bytes(&not_fetched).await;
    assert_eq!((status, bytes), (200, png(12, 6)), "kept here since");
}

#[tokio::test]
async fn media_crosses_between_estafette_and_synapse_both_ways() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let (_, alice) = user(estafette.raw(), "alice").await;
    let (_, bob) = user(synapse.raw(), "bob").await;

    let from_synapse = png(20, 20);
    let (origin, id) = upload(&bob, from_synapse.clone()).await;
    let (status, _, bytes) = alice
        .get_bytes(&format!("/_matrix/client/v1/media/download/{origin}/{id}"))
        .await;
    assert_eq!((status, bytes), (200, from_synapse));

    let from_estafette = png(30, 10);
    let (origin, id) = upload(&alice, from_estafette.clone()).await;
    let (status, _, bytes) = bob
        .get_bytes(&format!("/_matrix/client/v1/media/download/{origin}/{id}"))
        .await;
    assert_eq!(
        (status, bytes),
        (200, from_estafette),
        "Synapse fetched it from Estafette"
    );
}

/// A PNG whose header declares `width`×`height` pixels but holds almost nothing: what a
/// decompression bomb looks like before it is decoded.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let crc = crc32fast::hash(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        chunk
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn images_declaring_too_many_pixels_are_not_thumbnailed() {
    let server = TestServer::builder()
        .configure(|config| config.media.max_image_pixels = 1_000)
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let thumbnail = |origin: &str, id: &str| {
        format!("/_matrix/client/v1/media/thumbnail/{origin}/{id}?width=8&height=8")
    };
    let (origin, small) = upload(&alice, png(30, 30)).await;
    let (status, _, bytes) = alice.get_bytes(&thumbnail(&origin, &small)).await;
    assert_eq!((status, dimensions(&bytes)), (200, (8, 8)));
    let (_, large) = upload(&alice, png(64, 48)).await;
    alice
        .get(&thumbnail(&origin, &large))
        .await
        .assert_error(413, "M_TOO_LARGE");
    // The bomb is refused from its header, whatever the limit.
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (origin, bomb) = upload(&alice, png_declaring(100_000, 100_000)).await;
    alice
        .get(&thumbnail(&origin, &bomb))
        .await
        .assert_error(413, "M_TOO_LARGE");
    // The file itself is still there for whoever wants it.
    let (status, _, bytes) = alice
        .get_bytes(&format!(
            "/_matrix/client/v1/media/download/{origin}/{bomb}"
        ))
        .await;
    assert_eq!((status, bytes), (200, png_declaring(100_000, 100_000)));
}
