//! The antivirus with a real clamd: uploads scanned before they are acknowledged, other servers'
//! media scanned before it is kept, nothing infected ever served, verdicts redone when the
//! signatures change, and nothing unscanned accepted or served while clamd is down.

use estafette_tests::{Clamd, EICAR, EICAR_SIGNATURE, RawClient, SynapseServer, TestServer};
use matrix_sdk::media::{MediaFormat, MediaRequestParameters, MediaThumbnailSettings};
use matrix_sdk::ruma::UInt;
use matrix_sdk::ruma::events::room::MediaSource;

use crate::media::{dimensions, png, upload};
use crate::room_helpers::user;

/// A server scanning with `clamd`, asking its version on every check, and serving the
/// unauthenticated endpoints too, so that every path is seen to refuse what it must.
pub(crate) async fn scanning_server(clamd: &Clamd, federation: bool) -> TestServer {
    let address = clamd.address();
    let builder = TestServer::builder().configure(move |config| {
        config.antivirus.clamd = Some(address);
        config.antivirus.version_check_secs = 0;
        config.media.unauthenticated_downloads = true;
    });
    if federation {
        builder.federation().start().await
    } else {
        builder.start().await
    }
}

/// What the operator reads: the server's latest detections.
pub(crate) async fn detections(server: &TestServer) -> Vec<estafette::storage::Detection> {
    server
        .services()
        .context
        .storage
        .antivirus_detections
        .latest(10)
        .await
        .unwrap()
}

fn download_path(origin: &str, id: &str) -> String {
    format!("/_matrix/client/v1/media/download/{origin}/{id}")
}

fn thumbnail_path(origin: &str, id: &str) -> String {
    format!("/_matrix/client/v1/media/thumbnail/{origin}/{id}?width=8&height=8")
}

/// Uploads raw bytes; `(server, media id)` when accepted.
pub(crate) async fn upload_file(client: &RawClient, bytes: &[u8]) -> (String, String) {
    let uploaded = client
        .upload("application/octet-stream", "file.bin", bytes.to_vec())
        .await;
    uploaded.assert_ok();
    let uri = uploaded.body["content_uri"].as_str().unwrap();
    let (server, id) = uri.trim_start_matches("mxc://").split_once('/').unwrap();
    (server.to_owned(), id.to_owned())
}

/// Neither the download nor the thumbnail of this media answers with its bytes, with an access
/// token or without.
async fn assert_refused(client: &RawClient, origin: &str, id: &str, status: u16) {
    let anonymous = client.anonymous();
    let paths = [
        (client, download_path(origin, id)),
        (client, thumbnail_path(origin, id)),
        (
            &anonymous,
            format!("/_matrix/media/v3/download/{origin}/{id}"),
        ),
        (
            &anonymous,
            format!("/_matrix/media/v3/thumbnail/{origin}/{id}?width=8&height=8"),
        ),
    ];
    for (client, path) in paths {
        let response = client.get(&path).await;
        assert_eq!(response.status, status, "{path}: {:?}", response.body);
        let (_, _, bytes) = client.get_bytes(&path).await;
        assert!(
            !bytes.windows(EICAR.len()).any(|w| w == EICAR),
            "{path} served the infected file"
        );
    }
}

#[tokio::test]
async fn clean_files_pass_and_infected_uploads_are_refused_and_recorded() {
    let clamd = Clamd::start().await;
    let server = scanning_server(&clamd, false).await;
    let (alice_id, alice) = user(server.raw(), "alice").await;

    // A real client uploads, downloads and thumbnails a clean picture.
    let sdk = server.login("alice", "alice's password").await;
    let picture = png(64, 48);
    let uploaded = sdk
        .media()
        .upload(&mime::IMAGE_PNG, picture.clone(), None)
        .await
        .expect("a clean picture is accepted");
    let source = MediaSource::Plain(uploaded.content_uri.clone());
    let file = MediaRequestParameters {
        source: source.clone(),
        format: MediaFormat::File,
    };
    let downloaded = sdk.media().get_media_content(&file, false).await.unwrap();
    assert_eq!(downloaded, picture);
    let thumbnail = MediaRequestParameters {
        source,
        format: MediaFormat::Thumbnail(MediaThumbnailSettings::new(
            UInt::from(16u32),
            UInt::from(16u32),
        )),
    };
    let thumbnail = sdk
        .media()
        .get_media_content(&thumbnail, false)
        .await
        .unwrap();
    assert_eq!(dimensions(&thumbnail), (16, 12), "scaled, as the SDK asks");

    // EICAR is refused with a clear error, through the SDK and raw alike.
    let refused = sdk
        .media()
        .upload(&mime::APPLICATION_OCTET_STREAM, EICAR.to_vec(), None)
        .await
        .expect_err("an infected upload is refused");
    let text = refused.to_string();
    assert!(
        text.contains("M_FORBIDDEN") || text.contains("403"),
        "{text}"
    );
    let response = alice
        .upload("application/octet-stream", "eicar.com", EICAR.to_vec())
        .await;
    response.assert_error(403, "M_FORBIDDEN");
    let message = response.body["error"].as_str().unwrap_or_default();
    assert!(message.contains(EICAR_SIGNATURE), "{message}");

    // The operator's record: who, when, which signature.
    let detections = detections(&server).await;
    assert_eq!(detections.len(), 2, "{detections:?}");
    for detection in &detections {
        assert_eq!(detection.signature, EICAR_SIGNATURE);
        assert_eq!(detection.requester.as_deref(), Some(alice_id.as_str()));
        assert_eq!(detection.source, "upload");
        assert!(detection.detected_ts > 0);
    }
    // Nothing of it was kept: the refused uploads have no media.
    let infected_uri = detections[0].media.clone().unwrap();
    let (origin, id) = infected_uri
        .trim_start_matches("mxc://")
        .split_once('/')
        .unwrap();
    alice
        .get(&download_path(origin, id))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_file_are_scanned_once() {
    let clamd = Clamd::start().await;
    let server = scanning_server(&clamd, false).await;
    let (_, alice) = user(server.raw(), "alice").await;
    let antivirus = server.services().antivirus.clone();
    let before = antivirus.scans_performed();
    let file = b"the same report, sent by everyone at once".repeat(10_000);
    let uploads = (0..8).map(|_| upload_file(&alice, &file));
    let uploaded = futures_util::future::join_all(uploads).await;
    assert_eq!(antivirus.scans_performed() - before, 1);
    for (origin, id) in uploaded {
        let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &id)).await;
        assert_eq!((status, bytes.len()), (200, file.len()));
    }
    assert_eq!(
        antivirus.scans_performed() - before,
        1,
        "downloads reuse the verdict"
    );
    // Eight uploads of the same bytes are one file on disk.
    let contents = server
        .services()
        .context
        .config
        .data_dir
        .join("media/_content");
    let stored: usize = std::fs::read_dir(&contents)
        .unwrap()
        .map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(stored, 1);
    // An infected file, uploaded concurrently, is refused every time after one scan.
    let before = antivirus.scans_performed();
    let uploads = (0..4).map(|_| alice.upload("text/plain", "e.txt", EICAR.to_vec()));
    for response in futures_util::future::join_all(uploads).await {
        response.assert_error(403, "M_FORBIDDEN");
    }
    assert_eq!(antivirus.scans_performed() - before, 1);
}

/// A file that passed is scanned again once clamd's signatures change, and refused everywhere
/// (to local users and to other servers) when the new signatures name it.
#[tokio::test]
async fn new_signatures_catch_files_that_passed_before() {
    let mut clamd = Clamd::start().await;
    let home = scanning_server(&clamd, true).await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let sneaky = b"a macro that no signature knows yet".to_vec();
    let (origin, id) = upload_file(&alice, &sneaky).await;
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &id)).await;
    assert_eq!((status, bytes), (200, sneaky.clone()));

    clamd.add_signature(&sneaky, "Estafette-Sneaky-Macro").await;
    for client in [&alice, &bob] {
        let (status, _, bytes) = client.get_bytes(&download_path(&origin, &id)).await;
        assert_ne!(status, 200, "served after the signatures named it");
        assert_ne!(bytes, sneaky);
    }
    let detections = detections(&home).await;
    let sources: Vec<_> = detections.iter().map(|d| d.source.as_str()).collect();
    assert!(sources.contains(&"download"), "{sources:?}");
    assert!(
        sources.contains(&"federation_download"),
        "the remote server's request was refused too: {sources:?}"
    );
    assert!(
        detections
            .iter()
            .all(|d| d.signature == "Estafette-Sneaky-Macro.UNOFFICIAL")
    );
}

/// Another server's infected file is refused, and not kept, whichever server holds it.
#[tokio::test]
async fn infected_media_of_another_estafette_is_never_fetched_in() {
    let clamd = Clamd::start().await;
    let home = scanning_server(&clamd, true).await;
    // The remote server does not scan: it accepts EICAR from its user.
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let (origin, infected) = upload_file(&bob, EICAR).await;
    let (_, clean) = upload(&bob, png(20, 20)).await;

    assert_refused(&alice, &origin, &infected, 403).await;
    let kept = home
        .services()
        .context
        .storage
        .media_files
        .read_content(&estafette::service::content_hash(EICAR))
        .await
        .unwrap();
    assert_eq!(kept, None, "an infected file never reaches the disk");
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &clean)).await;
    assert_eq!((status, bytes), (200, png(20, 20)));
    let detections = detections(&home).await;
    assert!(
        detections
            .iter()
            .all(|d| d.source == "remote_fetch" && d.signature == EICAR_SIGNATURE),
        "{detections:?}"
    );
    assert!(!detections.is_empty());
}

#[tokio::test]
async fn infected_media_of_synapse_is_never_fetched_in() {
    let clamd = Clamd::start().await;
    let synapse = SynapseServer::start().await;
    let home = scanning_server(&clamd, true).await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(synapse.raw(), "bob").await;
    let (origin, infected) = upload_file(&bob, EICAR).await;
    let (_, clean) = upload(&bob, png(12, 12)).await;
    assert_refused(&alice, &origin, &infected, 403).await;
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &clean)).await;
    assert_eq!((status, bytes), (200, png(12, 12)));
    // Synapse's users can still fetch what Estafette's users upload, scanned.
    let (origin, id) = upload(&alice, png(6, 6)).await;
    let (status, _, bytes) = bob.get_bytes(&download_path(&origin, &id)).await;
    assert_eq!((status, bytes), (200, png(6, 6)));
}

/// While clamd is down nothing unscanned is accepted or served (503 with Retry-After); files
/// already found clean still are; service comes back by itself with clamd.
#[tokio::test]
async fn while_clamd_is_down_nothing_unscanned_passes() {
    let mut clamd = Clamd::start().await;
    let home = scanning_server(&clamd, true).await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let (origin, scanned) = upload(&alice, png(10, 10)).await;
    let (remote_origin, remote_id) = upload(&bob, png(14, 14)).await;

    clamd.stop();
    let refused = alice.upload("image/png", "new.png", png(11, 11)).await;
    refused.assert_error(503, "M_UNKNOWN");
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_refused(&alice, &remote_origin, &remote_id, 503).await;
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &scanned)).await;
    assert_eq!(
        (status, bytes),
        (200, png(10, 10)),
        "a file found clean is still served"
    );

    clamd.start_again().await;
    upload(&alice, png(11, 11)).await;
    let (status, _, bytes) = alice
        .get_bytes(&download_path(&remote_origin, &remote_id))
        .await;
    assert_eq!((status, bytes), (200, png(14, 14)));
}

/// Files stored before scanning was configured are scanned when first asked for; with clamd
/// down they are not served at all, or, when the operator let files through, served with a
/// warning.
#[tokio::test]
async fn files_kept_before_scanning_began_are_scanned_before_they_are_served() {
    let mut clamd = Clamd::start().await;
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (origin, infected) = upload_file(&alice, EICAR).await;
    let (_, clean) = upload(&alice, png(9, 9)).await;
    let token = alice.token_for_tests().to_owned();

    clamd.stop();
    let address = clamd.address();
    let server = server
        .go_offline()
        .await
        .configure(move |config| {
            config.antivirus.clamd = Some(address);
            config.media.unauthenticated_downloads = true;
        })
        .start()
        .await;
    let alice = server.raw().clone_with(&token);
    assert_refused(&alice, &origin, &clean, 503).await;

    let server = server
        .go_offline()
        .await
        .configure(|config| config.antivirus.fail_closed = false)
        .start()
        .await;
    let alice = server.raw().clone_with(&token);
    let (status, _, _) = alice.get_bytes(&download_path(&origin, &clean)).await;
    assert_eq!(status, 200, "let through unscanned, as configured");

    clamd.start_again().await;
    let (status, _, bytes) = alice.get_bytes(&download_path(&origin, &clean)).await;
    assert_eq!((status, bytes), (200, png(9, 9)));
    assert_refused(&alice, &origin, &infected, 403).await;
}
