//! The Matrix Content Scanner API served by Estafette itself (TCHAP.md §5), with a real clamd:
//! plain media of this server and of another, encrypted attachments sent by matrix-sdk
//! clients in an encrypted room, request bodies encrypted to the server's key, and every
//! route behind an access token.

use std::sync::{Arc, Mutex};

use estafette_tests::{Clamd, EICAR, TestServer};
use matrix_sdk::Client;
use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
use matrix_sdk::ruma::events::room::MediaSource;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent};
use serde_json::{Value, json};
use vodozemac::pk_encryption::{PkDecryption, PkEncryption};
use vodozemac::{Curve25519PublicKey, base64_encode};

use crate::antivirus::{detections, scanning_server};
use crate::encryption::create_encrypted_room;
use crate::media::{dimensions, png, upload};
use crate::room_helpers::user;

const PREFIX: &str = "/_matrix/media_proxy/unstable";

fn assert_reason(response: &estafette_tests::RawResponse, status: u16, reason: &str) {
    assert_eq!(
        (response.status, response.body["reason"].as_str()),
        (status, Some(reason)),
        "{:?}",
        response.body
    );
    assert!(
        response.body["info"]
            .as_str()
            .is_some_and(|info| !info.is_empty()),
        "{:?}",
        response.body
    );
}

#[tokio::test]
async fn plain_media_is_scanned_downloaded_and_thumbnailed_through_the_scanner() {
    let mut clamd = Clamd::start().await;
    let home = scanning_server(&clamd, true).await;
    // Another server that does not scan holds an infected file.
    let remote = TestServer::builder().federation().start().await;
    let (_, alice) = user(home.raw(), "alice").await;
    let (_, bob) = user(remote.raw(), "bob").await;
    let (origin, infected) = crate::antivirus::upload_file(&bob, EICAR).await;
    let (_, picture) = upload(&bob, png(30, 20)).await;

    let scan = alice
        .get(&format!("{PREFIX}/scan/{origin}/{picture}"))
        .await;
    assert_eq!(scan.body, json!({"clean": true, "info": "File is clean"}));
    let (status, _, bytes) = alice
        .get_bytes(&format!("{PREFIX}/download/{origin}/{picture}"))
        .await;
    assert_eq!((status, bytes), (200, png(30, 20)));
    let (status, content_type, bytes) = alice
        .get_bytes(&format!(
            "{PREFIX}/thumbnail/{origin}/{picture}?width=10&height=10&method=crop"
        ))
        .await;
    assert_eq!((status, content_type.as_deref()), (200, Some("image/png")));
    assert_eq!(dimensions(&bytes), (10, 10));

    let scan = alice
        .get(&format!("{PREFIX}/scan/{origin}/{infected}"))
        .await;
    assert_eq!(
        scan.body,
        json!({"clean": false, "info": "***VIRUS DETECTED***"})
    );
    for path in [
        format!("{PREFIX}/download/{origin}/{infected}"),
        format!("{PREFIX}/thumbnail/{origin}/{infected}?width=10&height=10"),
    ] {
        assert_reason(&alice.get(&path).await, 403, "MCS_MEDIA_NOT_CLEAN");
    }
    assert_reason(
        &alice.get(&format!("{PREFIX}/scan/{origin}/nothing")).await,
        404,
        "M_NOT_FOUND",
    );
    assert_reason(
        &alice
            .get(&format!("{PREFIX}/thumbnail/{origin}/{picture}?width=0"))
            .await,
        400,
        "M_INVALID_PARAM",
    );

    // A token is needed everywhere, for results already cached too.
    let anonymous = home.raw();
    let stranger = home.raw().with_token("not-a-token");
    for path in [
        format!("{PREFIX}/scan/{origin}/{picture}"),
        format!("{PREFIX}/download/{origin}/{picture}"),
        format!("{PREFIX}/thumbnail/{origin}/{picture}?width=10&height=10"),
        format!("{PREFIX}/public_key"),
    ] {
        assert_reason(&anonymous.get(&path).await, 401, "M_MISSING_TOKEN");
        assert_reason(&stranger.get(&path).await, 401, "M_UNKNOWN_TOKEN");
    }
    // Query-string tokens are not taken, as in the reference scanner.
    let token = alice.token_for_tests().to_owned();
    assert_reason(
        &anonymous
            .get(&format!(
                "{PREFIX}/scan/{origin}/{picture}?access_token={token}"
            ))
            .await,
        401,
        "M_MISSING_TOKEN",
    );

    // With clamd down a file never scanned gets no verdict, and says to retry.
    let (_, unscanned) = upload(&bob, png(5, 5)).await;
    clamd.stop();
    let refused = alice
        .get(&format!("{PREFIX}/scan/{origin}/{unscanned}"))
        .await;
    assert_reason(&refused, 503, "M_UNKNOWN");
    assert!(refused.headers.contains_key("retry-after"));
    clamd.start_again().await;
    let scan = alice
        .get(&format!("{PREFIX}/scan/{origin}/{unscanned}"))
        .await;
    assert_eq!(scan.body["clean"], true);
}

/// The files (with their sources) a client receives in its rooms.
fn received_files(client: &Client) -> Arc<Mutex<Vec<(String, MediaSource)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent| {
        let sink = sink.clone();
        async move {
            if let MessageType::File(file) = event.content.msgtype {
                sink.lock().unwrap().push((file.body.clone(), file.source));
            }
        }
    });
    seen
}

/// An encrypted room of `alice` that `bob` joined, and the files `bob` receives in it.
async fn room_sharing_files(
    alice: &Client,
    bob: &Client,
) -> (matrix_sdk::Room, Arc<Mutex<Vec<(String, MediaSource)>>>) {
    for client in [alice, bob] {
        client.sync_once(SyncSettings::default()).await.unwrap();
    }
    let room = create_encrypted_room(alice, bob).await;
    bob.sync_once(SyncSettings::default()).await.unwrap();
    bob.join_room_by_id(room.room_id()).await.unwrap();
    let files = received_files(bob);
    for client in [alice, bob] {
        client.sync_once(SyncSettings::default()).await.unwrap();
    }
    (room, files)
}

/// Syncs `client` until it has received the file named `name`; its source.
async fn receive_file(
    client: &Client,
    seen: &Arc<Mutex<Vec<(String, MediaSource)>>>,
    name: &str,
) -> MediaSource {
    for _ in 0..10 {
        client
            .sync_once(SyncSettings::default().timeout(std::time::Duration::from_millis(500)))
            .await
            .unwrap();
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(body, _)| body == name)
            .map(|(_, source)| source.clone());
        if let Some(source) = found {
            return source;
        }
    }
    panic!("{name} never arrived");
}

/// `{"encrypted_body": …}`: `body` encrypted to `public_key` as Olm's PkEncryption does.
fn encrypted_body(public_key: &str, body: &Value) -> Value {
    let key = Curve25519PublicKey::from_base64(public_key).expect("a curve25519 key");
    let message = PkEncryption::from_key(key)
        .encrypt(body.to_string().as_bytes())
        .expect("encrypted");
    json!({"encrypted_body": {
        "ciphertext": base64_encode(&message.ciphertext),
        "mac": base64_encode(&message.mac),
        "ephemeral": message.ephemeral_key.to_base64(),
    }})
}

#[tokio::test]
async fn encrypted_attachments_are_decrypted_and_their_plaintext_scanned() {
    let clamd = Clamd::start().await;
    let server = scanning_server(&clamd, false).await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let (room, files) = room_sharing_files(&alice.client, &bob.client).await;

    let report = b"the quarterly report, in confidence".to_vec();
    for (name, bytes) in [
        ("report.txt", report.clone()),
        ("eicar.com", EICAR.to_vec()),
    ] {
        room.send_attachment(name, &mime::TEXT_PLAIN, bytes, AttachmentConfig::new())
            .await
            .expect("the ciphertext is accepted: only its plaintext is infected");
    }
    let clean = receive_file(&bob.client, &files, "report.txt").await;
    let infected = receive_file(&bob.client, &files, "eicar.com").await;
    let request = MediaRequestParameters {
        source: clean.clone(),
        format: MediaFormat::File,
    };
    let decrypted = bob
        .client
        .media()
        .get_media_content(&request, false)
        .await
        .unwrap();
    assert_eq!(decrypted, report, "bob decrypts what alice sent");

    let file = |source: &MediaSource| match source {
        MediaSource::Encrypted(file) => serde_json::to_value(file).unwrap(),
        MediaSource::Plain(uri) => panic!("{uri} was sent in clear in an encrypted room"),
    };
    let (clean_file, infected_file) = (file(&clean), file(&infected));
    let raw = server.raw().with_token(bob.client.access_token().unwrap());

    let scan = raw
        .post(
            &format!("{PREFIX}/scan_encrypted"),
            json!({"file": clean_file}),
        )
        .await;
    assert_eq!(scan.body, json!({"clean": true, "info": "File is clean"}));
    let scan = raw
        .post(
            &format!("{PREFIX}/scan_encrypted"),
            json!({"file": infected_file}),
        )
        .await;
    assert_eq!(
        scan.body,
        json!({"clean": false, "info": "***VIRUS DETECTED***"})
    );
    let download = raw
        .post(
            &format!("{PREFIX}/download_encrypted"),
            json!({"file": infected_file}),
        )
        .await;
    assert_reason(&download, 403, "MCS_MEDIA_NOT_CLEAN");
    let download = raw
        .send(
            http::Method::POST,
            &format!("{PREFIX}/download_encrypted"),
            Some(json!({"file": clean_file}).to_string().into_bytes()),
        )
        .await;
    assert_eq!(download.status, 200);

    // The same requests, encrypted to the server's key.
    let public_key = raw.get(&format!("{PREFIX}/public_key")).await.body["public_key"]
        .as_str()
        .expect("a public key")
        .to_owned();
    assert_eq!(public_key.len(), 43, "unpadded base64 of 32 bytes");
    for (file, clean) in [(&clean_file, true), (&infected_file, false)] {
        let body = encrypted_body(&public_key, &json!({"file": file}));
        let scan = raw.post(&format!("{PREFIX}/scan_encrypted"), body).await;
        assert_eq!(scan.body["clean"], clean, "{:?}", scan.body);
    }
    let other_key = PkDecryption::new().public_key().to_base64();
    let body = encrypted_body(&other_key, &json!({"file": clean_file}));
    assert_reason(
        &raw.post(&format!("{PREFIX}/scan_encrypted"), body).await,
        403,
        "MCS_BAD_DECRYPTION",
    );

    // A description the ciphertext does not match, or no description at all.
    let mut tampered = clean_file.clone();
    tampered["hashes"]["sha256"] = json!("5qG4fFnbbVdlAB1Q72JDKwCagV6Dbkx9uds4rSak37c");
    assert_reason(
        &raw.post(
            &format!("{PREFIX}/scan_encrypted"),
            json!({"file": tampered}),
        )
        .await,
        400,
        "MCS_MEDIA_FAILED_TO_DECRYPT",
    );
    for body in [json!([1]), json!({"file": {"v": "v1"}}), json!({})] {
        assert_reason(
            &raw.post(&format!("{PREFIX}/download_encrypted"), body)
                .await,
            400,
            "MCS_MALFORMED_JSON",
        );
    }
    assert_reason(
        &server
            .raw()
            .post(
                &format!("{PREFIX}/scan_encrypted"),
                json!({"file": clean_file}),
            )
            .await,
        401,
        "M_MISSING_TOKEN",
    );

    let detections = detections(&server).await;
    assert!(
        detections.iter().any(|d| d.source == "encrypted_attachment"
            && d.requester.as_deref() == Some(bob.client.user_id().unwrap().as_str())),
        "{detections:?}"
    );
}

/// A server without antivirus offers no scanner: nothing is ever called clean unscanned.
#[tokio::test]
async fn without_an_antivirus_there_is_no_scanner_to_call_files_clean() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (origin, id) = upload(&alice, png(8, 8)).await;
    for path in [
        format!("{PREFIX}/scan/{origin}/{id}"),
        format!("{PREFIX}/download/{origin}/{id}"),
        format!("{PREFIX}/public_key"),
    ] {
        let response = alice.get(&path).await;
        assert_reason(&response, 404, "M_UNRECOGNIZED");
        assert_eq!(response.body.get("clean"), None);
    }
    let body = json!({"file": {"url": format!("mxc://{origin}/{id}")}});
    let response = alice.post(&format!("{PREFIX}/scan_encrypted"), body).await;
    assert_reason(&response, 404, "M_UNRECOGNIZED");
}

/// The operator's file type policy, applied to the detected type of plain media and of the
/// plaintext of encrypted attachments: a refused type is never called clean.
#[tokio::test]
async fn file_types_the_operator_refuses_are_never_called_clean() {
    let clamd = Clamd::start().await;
    let address = clamd.address();
    let server = TestServer::builder()
        .configure(move |config| {
            config.antivirus.clamd = Some(address);
            config.antivirus.allowed_mime_types =
                vec!["image/*".to_owned(), "text/plain".to_owned()];
            config.antivirus.blocked_mime_types = vec!["image/gif".to_owned()];
        })
        .start()
        .await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let raw = server.raw().with_token(bob.client.access_token().unwrap());

    // Plain media: the type comes from the bytes, whatever the uploader declared.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\n".to_vec();
    let (origin, picture) = upload(&raw, png(8, 8)).await;
    let (_, declared_png) = upload(&raw, gif).await;
    let uploaded = raw.upload("text/plain", "notes.txt", pdf).await;
    let document = uploaded.body["content_uri"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let scan = raw.get(&format!("{PREFIX}/scan/{origin}/{picture}")).await;
    assert_eq!(scan.body, json!({"clean": true, "info": "File is clean"}));
    for id in [&declared_png, &document] {
        for path in [
            format!("{PREFIX}/scan/{origin}/{id}"),
            format!("{PREFIX}/download/{origin}/{id}"),
        ] {
            let response = raw.get(&path).await;
            assert_reason(&response, 403, "MCS_MIME_TYPE_FORBIDDEN");
            let info = response.body["info"].as_str().unwrap_or_default();
            assert!(info.contains("not allowed"), "{info}");
        }
    }

    // Encrypted attachments: the plaintext's type, found once decrypted.
    let (room, files) = room_sharing_files(&alice.client, &bob.client).await;
    for (name, bytes) in [
        ("minutes.txt", b"minutes of the meeting".to_vec()),
        ("contract.pdf", b"%PDF-1.4\n%secret\n".to_vec()),
    ] {
        room.send_attachment(name, &mime::TEXT_PLAIN, bytes, AttachmentConfig::new())
            .await
            .unwrap();
    }
    for (name, clean) in [("minutes.txt", true), ("contract.pdf", false)] {
        let MediaSource::Encrypted(file) = receive_file(&bob.client, &files, name).await else {
            panic!("{name} was sent in clear");
        };
        let body = json!({"file": file});
        for _ in 0..2 {
            let scan = raw
                .post(&format!("{PREFIX}/scan_encrypted"), body.clone())
                .await;
            if clean {
                assert_eq!(scan.body["clean"], true, "{name}: {:?}", scan.body);
            } else {
                assert_reason(&scan, 403, "MCS_MIME_TYPE_FORBIDDEN");
            }
        }
        let download = raw
            .post(&format!("{PREFIX}/download_encrypted"), body)
            .await;
        assert_eq!(download.status == 200, clean, "{name}: {}", download.status);
    }
}
