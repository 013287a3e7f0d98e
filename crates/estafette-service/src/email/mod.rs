//! Emails to users (validation links, invitations, renewal reminders) through the operator's
//! SMTP server. Recipients are strict addresses; names and subjects are encoded by the message
//! builder, so that no text a user chose can add a header or a recipient.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::policy::EmailAddress;
use crate::{Context, ServiceError, ServiceResult};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One email: plain text, whose first `http(s)://` URL is the link to follow.
#[derive(Debug, Clone)]
pub struct Email<'a> {
    pub to: &'a EmailAddress,
    pub subject: &'a str,
    pub text: &'a str,
}

#[derive(Clone)]
pub struct EmailService {
    sender: Option<Arc<Sender>>,
}

struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailService {
    pub(crate) fn new(context: &Context) -> ServiceResult<Self> {
        let config = &context.config.email;
        let Some(url) = &config.smtp_url else {
            return Ok(Self { sender: None });
        };
        let invalid = |why: String| ServiceError::Internal(format!("email: {why}"));
        let timeout = match config.timeout_secs {
            0 => DEFAULT_TIMEOUT,
            secs => Duration::from_secs(secs),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| invalid(format!("smtp_url: {e}")))?
            .timeout(Some(timeout))
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| invalid(format!("from {:?}: {e}", config.from)))?;
        Ok(Self {
            sender: Some(Arc::new(Sender { transport, from })),
        })
    }

    /// Whether emails can be sent at all.
    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Sends `email`; an SMTP server that cannot be reached or refuses it is a failure to
    /// report, never a silent loss.
    pub async fn send(&self, email: Email<'_>) -> ServiceResult<()> {
        let Some(sender) = &self.sender else {
            return Err(ServiceError::Forbidden(
                "This server sends no email (no SMTP server is configured)".to_owned(),
            ));
        };
        let to = email
            .to
            .as_str()
            .parse::<Mailbox>()
            .map_err(|e| ServiceError::InvalidParam(format!("{}: {e}", email.to)))?;
        // A subject is one line, whatever it was made of.
        let subject: String = email
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let message = Message::builder()
            .from(sender.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.to_owned())
            .map_err(|e| ServiceError::Internal(format!("cannot build an email: {e}")))?;
        sender.transport.send(message).await.map_err(|e| {
            tracing::warn!(to = %email.to, "an email could not be sent: {e}");
            ServiceError::Unavailable(format!("The email to {} could not be sent", email.to))
        })?;
        Ok(())
    }
}
