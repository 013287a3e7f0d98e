//! Signing a new device in by QR code (MSC4108), as matrix-sdk (Element X) runs it on both
//! devices: the two meet in a rendezvous session on the server, set up a secure channel, the
//! new device asks for a device authorization grant the user approves in a browser on the
//! signed-in device, then receives the cross-signing and backup secrets, so that it is
//! verified at once and reads the history.

use std::future::IntoFuture;
use std::time::Duration;

use estafette_core::QrLogin;
use estafette_tests::{TestServer, User, register_user_at};
use futures_util::{Stream, StreamExt};
use matrix_sdk::Client;
use matrix_sdk::authentication::oauth::ClientRegistrationData;
use matrix_sdk::authentication::oauth::qrcode::{
    GeneratedQrProgress, GrantLoginProgress, LoginProgress, Msc4108IntentData,
    QRCodeGrantLoginError, QRCodeLoginError, QrCodeData, QrCodeIntentData, QrProgress,
};
use matrix_sdk::authentication::oauth::registration::{
    ApplicationType, ClientMetadata, Localized, OAuthGrantType,
};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};
use tokio::task::JoinHandle;
use url::Url;

use crate::oauth::{FormBody, browser, query_param};

const PATIENCE: Duration = Duration::from_secs(90);

/// What Element X registers as: a native app that signs in by device code.
fn registration() -> ClientRegistrationData {
    let metadata = ClientMetadata::new(
        ApplicationType::Native,
        vec![OAuthGrantType::DeviceCode],
        Localized::new(Url::parse("https://app.example.org/").unwrap(), []),
    );
    Raw::new(&metadata).unwrap().into()
}

/// The clients wait in real time between polls, so the server keeps real time too.
async fn server(qr_login: QrLogin) -> TestServer {
    TestServer::builder()
        .real_time()
        .configure(move |config| config.oauth.qr_login = qr_login)
        .start()
        .await
}

/// Alice's phone: cross-signed, with a key backup, and a message in an encrypted room sent
/// before any other device exists.
async fn signed_in_phone(base_url: &str) -> (User, OwnedRoomId, OwnedEventId) {
    let alice = register_user_at(base_url, "alice").await;
    let client = &alice.client;
    client.sync_once(SyncSettings::default()).await.unwrap();
    client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .unwrap();
    client.encryption().recovery().enable().await.unwrap();
    let mut request = create_room::v3::Request::new();
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = client.create_room(request).await.unwrap();
    client.sync_once(SyncSettings::default()).await.unwrap();
    let sent = room
        .send(RoomMessageEventContent::text_plain("agenda of the meeting"))
        .await
        .unwrap()
        .response
        .event_id;
    client
        .encryption()
        .backups()
        .wait_for_steady_state()
        .await
        .unwrap();
    (alice, room.room_id().to_owned(), sent)
}

/// The next progress state `pick` accepts.
async fn reached<S, P, T>(progress: &mut S, what: &str, pick: impl Fn(P) -> Option<T>) -> T
where
    S: Stream<Item = P> + Unpin,
{
    let wait = async {
        while let Some(state) = progress.next().await {
            if let Some(found) = pick(state) {
                return found;
            }
        }
        panic!("the progress ended before {what}");
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
}

/// On the phone, the browser opens the verification URI: the page shows the code the new
/// device shows; the user approves with the password.
async fn approve_in_browser(verification_uri: &Url, user: &User, user_code: &str) {
    let page = browser()
        .get(verification_uri.as_str())
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(user_code),
        "the page shows {user_code}: {html}"
    );
    let code = query_param(verification_uri, "user_code").expect("the code is in the URI");
    let mut action = verification_uri.clone();
    action.set_query(None);
    let approved = browser()
        .post(action.as_str())
        .form_body(&[
            ("user_code", code.as_str()),
            ("action", "approve"),
            ("username", user.username.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
}

/// The phone opens the consent page, the user approves the code the laptop shows, and both
/// devices finish: the laptop signed in, the phone's secrets handed over.
async fn approve_and_finish<P, L, PQ, LQ>(
    (phone_progress, laptop_progress): (&mut P, &mut L),
    user: &User,
    logging_in: JoinHandle<Result<(), QRCodeLoginError>>,
    granting: JoinHandle<Result<(), QRCodeGrantLoginError>>,
) where
    P: Stream<Item = GrantLoginProgress<PQ>> + Unpin,
    L: Stream<Item = LoginProgress<LQ>> + Unpin,
{
    let verification_uri = reached(phone_progress, "the consent page", |state| match state {
        GrantLoginProgress::WaitingForAuth { verification_uri } => Some(verification_uri),
        _ => None,
    })
    .await;
    let user_code = reached(laptop_progress, "a user code", |state| match state {
        LoginProgress::WaitingForToken { user_code } => Some(user_code),
        _ => None,
    })
    .await;
    approve_in_browser(&verification_uri, user, &user_code).await;
    tokio::time::timeout(PATIENCE, logging_in)
        .await
        .expect("the laptop signs in in time")
        .unwrap()
        .expect("the laptop signs in");
    tokio::time::timeout(PATIENCE, granting)
        .await
        .expect("the phone finishes in time")
        .unwrap()
        .expect("the phone hands its secrets over");
}

/// What the user checks on the new device: same account, verified by the phone, and the
/// history before it existed readable.
async fn check_new_device(
    phone: &User,
    laptop: &Client,
    room_id: &OwnedRoomId,
    old: &OwnedEventId,
) {
    assert_eq!(laptop.user_id(), phone.client.user_id());
    let device_id = laptop.device_id().unwrap().to_owned();
    assert_ne!(Some(&*device_id), phone.client.device_id());
    let whoami = laptop.whoami().await.unwrap();
    assert_eq!(whoami.device_id.as_ref(), Some(&device_id));

    let status = laptop.encryption().cross_signing_status().await.unwrap();
    assert!(status.is_complete(), "the secrets came over: {status:?}");
    phone
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let seen = phone
        .client
        .encryption()
        .get_device(phone.client.user_id().unwrap(), &device_id)
        .await
        .unwrap()
        .expect("the phone sees the new device");
    assert!(
        seen.is_cross_signed_by_owner(),
        "the new device is cross-signed"
    );

    laptop.sync_once(SyncSettings::default()).await.unwrap();
    laptop
        .encryption()
        .backups()
        .download_room_keys_for_room(room_id)
        .await
        .unwrap();
    let room = laptop.get_room(room_id).expect("the laptop is in the room");
    let mut body = None;
    for _ in 0..50 {
        let event = room.event(old, None).await.unwrap();
        if let Ok(Some(content)) = event.raw().get_field::<serde_json::Value>("content")
            && let Some(text) = content.get("body")
        {
            body = Some(text.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        body,
        Some(serde_json::json!("agenda of the meeting")),
        "the laptop reads what was said before it existed"
    );
}

#[tokio::test]
async fn a_new_device_scans_the_code_the_signed_in_phone_shows() {
    let server = server(QrLogin::Anyone).await;
    let base_url = server.base_url();
    let (alice, room_id, old) = signed_in_phone(&base_url).await;

    let phone = alice.client.clone();
    let (progress_tx, progress_rx) = tokio::sync::oneshot::channel();
    let granting = tokio::spawn(async move {
        let oauth = phone.oauth();
        let grant = oauth.grant_login_with_qr_code().generate();
        let _ = progress_tx.send(grant.subscribe_to_progress());
        grant.await
    });
    let mut phone_progress = Box::pin(progress_rx.await.unwrap());
    let qr = reached(&mut phone_progress, "a QR code", |state| match state {
        GrantLoginProgress::EstablishingSecureChannel(GeneratedQrProgress::QrReady(qr)) => Some(qr),
        _ => None,
    })
    .await;
    // The camera reads the bytes: they name this server, so the laptop needs no address.
    let scanned = QrCodeData::from_bytes(&qr.to_bytes()).unwrap();
    let QrCodeIntentData::Msc4108 {
        data: Msc4108IntentData::Reciprocate { server_name },
        ..
    } = scanned.intent_data()
    else {
        panic!("a code shown by a signed-in device names its homeserver");
    };
    assert_eq!(
        server_name.trim_end_matches('/'),
        base_url.trim_end_matches('/')
    );
    let laptop = Client::builder()
        .server_name_or_homeserver_url(server_name)
        .handle_refresh_tokens()
        .build()
        .await
        .unwrap();

    let new_device = laptop.clone();
    let (progress_tx, progress_rx) = tokio::sync::oneshot::channel();
    let logging_in = tokio::spawn(async move {
        let registration = registration();
        let oauth = new_device.oauth();
        let login = oauth.login_with_qr_code(Some(&registration)).scan(&scanned);
        let _ = progress_tx.send(login.subscribe_to_progress());
        login.await
    });
    let mut laptop_progress = Box::pin(progress_rx.await.unwrap());
    let check_code = reached(&mut laptop_progress, "a check code", |state| match state {
        LoginProgress::EstablishingSecureChannel(QrProgress { check_code }) => {
            Some(check_code.to_digit())
        }
        _ => None,
    })
    .await;
    let sender = reached(
        &mut phone_progress,
        "the code scanned",
        |state| match state {
            GrantLoginProgress::EstablishingSecureChannel(GeneratedQrProgress::QrScanned(
                sender,
            )) => Some(sender),
            _ => None,
        },
    )
    .await;
    sender.send(check_code).await.unwrap();

    let devices = (&mut phone_progress, &mut laptop_progress);
    approve_and_finish(devices, &alice, logging_in, granting).await;
    check_new_device(&alice, &laptop, &room_id, &old).await;
}

#[tokio::test]
async fn the_signed_in_phone_scans_the_code_a_new_device_shows() {
    let server = server(QrLogin::Anyone).await;
    phone_scans_the_code_a_new_device_shows(&server.base_url()).await;
}

/// The laptop shows the code, the phone scans it, on the server at `base_url`.
pub(crate) async fn phone_scans_the_code_a_new_device_shows(base_url: &str) {
    let (alice, room_id, old) = signed_in_phone(base_url).await;

    // The laptop has no account yet: it opens the rendezvous session without a token.
    let laptop = Client::builder()
        .homeserver_url(base_url)
        .handle_refresh_tokens()
        .build()
        .await
        .unwrap();
    let new_device = laptop.clone();
    let (progress_tx, progress_rx) = tokio::sync::oneshot::channel();
    let logging_in = tokio::spawn(async move {
        let registration = registration();
        let oauth = new_device.oauth();
        let login = oauth.login_with_qr_code(Some(&registration)).generate();
        let _ = progress_tx.send(login.subscribe_to_progress());
        login.await
    });
    let mut laptop_progress = Box::pin(progress_rx.await.unwrap());
    let qr = reached(&mut laptop_progress, "a QR code", |state| match state {
        LoginProgress::EstablishingSecureChannel(GeneratedQrProgress::QrReady(qr)) => Some(qr),
        _ => None,
    })
    .await;
    let scanned = QrCodeData::from_bytes(&qr.to_bytes()).unwrap();

    let phone = alice.client.clone();
    let (progress_tx, progress_rx) = tokio::sync::oneshot::channel();
    let granting = tokio::spawn(async move {
        let oauth = phone.oauth();
        let grant = oauth.grant_login_with_qr_code().scan(&scanned);
        let _ = progress_tx.send(grant.subscribe_to_progress());
        grant.await
    });
    let mut phone_progress = Box::pin(progress_rx.await.unwrap());
    let check_code = reached(&mut phone_progress, "a check code", |state| match state {
        GrantLoginProgress::EstablishingSecureChannel(QrProgress { check_code }) => {
            Some(check_code.to_digit())
        }
        _ => None,
    })
    .await;
    let sender = reached(
        &mut laptop_progress,
        "the code scanned",
        |state| match state {
            LoginProgress::EstablishingSecureChannel(GeneratedQrProgress::QrScanned(sender)) => {
                Some(sender)
            }
            _ => None,
        },
    )
    .await;
    sender.send(check_code).await.unwrap();

    let devices = (&mut phone_progress, &mut laptop_progress);
    approve_and_finish(devices, &alice, logging_in, granting).await;
    check_new_device(&alice, &laptop, &room_id, &old).await;
}

#[tokio::test]
async fn a_new_device_cannot_show_a_code_where_only_users_open_sessions() {
    let server = server(QrLogin::Users).await;
    let laptop = server.sdk_client().await;
    let registration = registration();
    let oauth = laptop.oauth();
    let login = oauth.login_with_qr_code(Some(&registration)).generate();
    let err = tokio::time::timeout(PATIENCE, login.into_future())
        .await
        .expect("the refusal comes at once")
        .expect_err("no session for a device without an account");
    assert!(
        matches!(err, QRCodeLoginError::SecureChannel(_)),
        "the rendezvous session was refused: {err:?}"
    );
    assert!(laptop.user_id().is_none());
}
