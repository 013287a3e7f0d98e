//! Emails through a real SMTP server (aiosmtpd): delivered to the one strict recipient, with
//! the link to follow as the first URL of the text, no header added by what a user wrote, and
//! a failure reported (never a silent loss) when the SMTP server is gone.

use estafette::service::ServiceError;
use estafette::service::email::Email;
use estafette::service::policy::EmailAddress;
use estafette_tests::{SmtpSink, TestServer};

#[tokio::test]
async fn emails_reach_the_smtp_server_with_their_link_and_nothing_injected() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let server = TestServer::builder()
        .configure(move |config| {
            config.email.smtp_url = Some(url);
            config.email.from = "Estafette <noreply@ministere.example>".to_owned();
        })
        .start()
        .await;
    let email = &server.services().email;
    assert!(email.enabled());
    let to = EmailAddress::parse("Jean.Martin@Finances.example").unwrap();
    email
        .send(Email {
            to: &to,
            subject: "Validez votre adresse\r\nBcc: spy@evil.example",
            text: "Bonjour Jérôme,\n\nsuivez https://matrix.example/validate?token=abc&sid=1 \
                   pour valider votre adresse.\n",
        })
        .await
        .expect("sent");
    let received = sink.wait_for("jean.martin@finances.example").await;
    assert_eq!(received.recipients, ["jean.martin@finances.example"]);
    let subject = received.header("subject").unwrap_or_default();
    assert!(subject.starts_with("Validez votre adresse"), "{subject}");
    assert!(received.header("bcc").is_none(), "{:?}", received.headers);
    let from = received.header("from").unwrap_or_default();
    assert!(from.contains("noreply@ministere.example"), "{from}");
    assert!(
        received.body.contains("Bonjour Jérôme"),
        "{}",
        received.body
    );
    assert_eq!(
        received.first_link().as_deref(),
        Some("https://matrix.example/validate?token=abc&sid=1")
    );

    drop(sink);
    let failed = email
        .send(Email {
            to: &to,
            subject: "Lost?",
            text: "https://matrix.example/",
        })
        .await
        .expect_err("the SMTP server is gone");
    assert!(matches!(failed, ServiceError::Unavailable(_)), "{failed:?}");
}

#[tokio::test]
async fn a_server_without_smtp_sends_nothing() {
    let server = TestServer::start().await;
    let email = &server.services().email;
    assert!(!email.enabled());
    let to = EmailAddress::parse("jean@finances.example").unwrap();
    let refused = email
        .send(Email {
            to: &to,
            subject: "x",
            text: "y",
        })
        .await;
    assert!(matches!(refused, Err(ServiceError::Forbidden(_))));
}
