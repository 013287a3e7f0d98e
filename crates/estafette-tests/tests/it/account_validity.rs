//! Accounts that expire (TCHAP.md §6): renewal emails before expiry through a real SMTP
//! server, never twice (not even across a restart), `ORG_MATRIX_EXPIRED_ACCOUNT` once expired,
//! renewal through the emailed link or a new one asked for, an operator setting expiries, and
//! deactivation after the grace period, but never for exempt accounts.

use std::time::Duration;

use estafette_tests::{RawClient, SmtpSink, TestServer};
use serde_json::json;

use crate::email_addresses::register_agent;
use crate::registration_by_email::ministry_configured;

const DAY: u64 = 24 * 60 * 60 * 1000;
const PASSWORD: &str = "Str0ng-Passw0rd!";
const SEND_MAIL: &str = "/_synapse/client/email_account_validity/send_mail";
const ADMIN: &str = "/_synapse/client/email_account_validity/admin";

/// A ministry whose accounts are valid 395 days, renewal emails from 60 days before expiry,
/// deactivated 120 days after it; `@bot…` accounts never expire. Checked every second.
async fn expiring_ministry(sink: &SmtpSink) -> (TestServer, tempfile::TempDir) {
    ministry_configured(sink, |config| {
        config.policy.email_registration = true;
        let validity = &mut config.account_validity;
        validity.enabled = true;
        validity.period_days = 395;
        validity.renewal_email_days_before = 60;
        validity.grace_period_days = 120;
        validity.exempt_patterns = vec!["@bot[^:]*:.*".to_owned()];
        validity.check_interval_secs = 1;
    })
    .await
}

/// An account created by the operator, logged in.
pub(crate) async fn created_and_logged_in(
    server: &TestServer,
    localpart: &str,
    is_admin: bool,
) -> RawClient {
    let account = estafette::service::NewAccount {
        localpart: Some(localpart.to_owned()),
        password: Some(PASSWORD.to_owned()),
        is_admin,
        ..Default::default()
    };
    server.services().accounts.create(account).await.unwrap();
    let client = server.raw();
    let login = client
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "user": localpart, "password": PASSWORD}),
        )
        .await;
    login.assert_ok();
    client.clone_with(login.body["access_token"].as_str().unwrap())
}

/// The renewal emails `address` has received.
pub(crate) fn renewal_emails(
    sink: &SmtpSink,
    address: &str,
) -> Vec<estafette_tests::ReceivedEmail> {
    sink.received()
        .into_iter()
        .filter(|email| email.recipients.iter().any(|r| r == address))
        .filter(|email| email.header("subject") == Some("Renew your account"))
        .collect()
}

/// Waits (a few passes of the background work) for `address` to have `count` renewal emails.
pub(crate) async fn wait_for_renewals(sink: &SmtpSink, address: &str, count: usize) {
    for _ in 0..100 {
        if renewal_emails(sink, address).len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(renewal_emails(sink, address).len(), count);
}

/// Lets a few passes of the background work run.
async fn passes() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn an_expired_account_is_refused_until_renewed_through_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = expiring_ministry(&sink).await;
    let client = server.raw();
    let email = "jean.martin@finances.example";
    let (user_id, token) = register_agent(&sink, &client, email).await;
    let jean = client.clone_with(&token);
    jean.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();

    // Nothing before the first email is due; then one, and one only, restart or not.
    server.advance_clock(334 * DAY);
    passes().await;
    assert!(renewal_emails(&sink, email).is_empty());
    server.advance_clock(DAY);
    wait_for_renewals(&sink, email, 1).await;
    let first_link = renewal_emails(&sink, email)[0]
        .first_link()
        .expect("a renewal link");
    assert!(first_link.contains("/_synapse/client/email_account_validity/renew?token="));
    let server = server.go_offline().await.start().await;
    passes().await;
    assert_eq!(renewal_emails(&sink, email).len(), 1, "never twice");
    // Reminders 30 and 45 days after the first.
    server.advance_clock(30 * DAY);
    wait_for_renewals(&sink, email, 2).await;
    server.advance_clock(15 * DAY);
    wait_for_renewals(&sink, email, 3).await;
    jean.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();

    // Expired: refused everywhere, but for renewing (and signing out).
    server.advance_clock(15 * DAY);
    for path in [
        "/_matrix/client/v3/account/whoami",
        "/_matrix/client/v3/sync",
        "/_matrix/client/v3/joined_rooms",
    ] {
        jean.get(path)
            .await
            .assert_error(403, "ORG_MATRIX_EXPIRED_ACCOUNT");
    }
    jean.post("/_matrix/client/v3/createRoom", json!({}))
        .await
        .assert_error(403, "ORG_MATRIX_EXPIRED_ACCOUNT");
    passes().await;
    assert_eq!(renewal_emails(&sink, email).len(), 3, "none once expired");
    let asked = jean.post(SEND_MAIL, json!({})).await;
    asked.assert_ok();
    assert_eq!(asked.body, json!({}));
    wait_for_renewals(&sink, email, 4).await;
    let link = renewal_emails(&sink, email)[3].first_link().unwrap();
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("renewed"));
    jean.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    // Every link of the period is used up; a made-up one is not a link.
    for used in [&link, &first_link] {
        let page = reqwest::get(used).await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("already renewed"));
    }
    let bogus = format!(
        "{}/_synapse/client/email_account_validity/renew?token=made-up",
        server.base_url()
    );
    assert_eq!(reqwest::get(&bogus).await.unwrap().status(), 404);
    // A full period again: nothing due for 335 days.
    server.advance_clock(300 * DAY);
    passes().await;
    assert_eq!(renewal_emails(&sink, email).len(), 4);

    // An operator sets expiries; users cannot.
    jean.post(ADMIN, json!({"user_id": user_id, "expiration_ts": 0}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    let admin = created_and_logged_in(&server, "operator", true).await;
    let set = admin
        .post(ADMIN, json!({"user_id": user_id, "expiration_ts": 1}))
        .await;
    set.assert_ok();
    assert_eq!(set.body["expiration_ts"], 1);
    jean.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(403, "ORG_MATRIX_EXPIRED_ACCOUNT");
    admin
        .post(ADMIN, json!({"user_id": "@nobody:elsewhere.example"}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    admin
        .post(ADMIN, json!({"expiration_ts": 1}))
        .await
        .assert_error(400, "M_BAD_JSON");
    let renewed = admin.post(ADMIN, json!({"user_id": user_id})).await;
    renewed.assert_ok();
    assert!(renewed.body["expiration_ts"].as_u64().unwrap() > 395 * DAY);
    jean.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    // An expired user may still sign out.
    admin
        .post(ADMIN, json!({"user_id": user_id, "expiration_ts": 1}))
        .await
        .assert_ok();
    jean.post("/_matrix/client/v3/logout", json!({}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn accounts_expired_past_the_grace_period_are_deactivated_but_exempt_ones_never_expire() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = expiring_ministry(&sink).await;
    let client = server.raw();
    let email = "paul@finances.example";
    let (_, token) = register_agent(&sink, &client, email).await;
    // Its client starts right away: the period runs from then.
    client
        .clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    let bot = created_and_logged_in(&server, "bot-finances", false).await;
    bot.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();

    // Expired, within the grace period: refused, not deactivated.
    server.advance_clock(395 * DAY + 119 * DAY);
    passes().await;
    client
        .clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(403, "ORG_MATRIX_EXPIRED_ACCOUNT");
    let login = |password: &str| {
        client.post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": password,
                   "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                  "address": email}}),
        )
    };
    login(PASSWORD).await.assert_ok();

    // Past it: deactivated.
    server.advance_clock(2 * DAY);
    let mut deactivated = false;
    for _ in 0..50 {
        if login(PASSWORD).await.status == 403 {
            deactivated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(deactivated, "still active past the grace period");
    client
        .clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    // The exempt account works on.
    bot.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
}
