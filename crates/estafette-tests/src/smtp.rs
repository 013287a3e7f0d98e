//! A real SMTP server for the email tests: aiosmtpd (from PyPI, installed beside Synapse by
//! `scripts/synapse-venv`, found through `ESTAFETTE_SYNAPSE_PYTHON`) on a loopback port, keeping
//! every message it accepts in a maildir that tests read.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

/// One message as the sink received it, its body decoded.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    /// The envelope's recipients, as the SMTP client gave them.
    pub recipients: Vec<String>,
    /// Every header, names lowercase, values decoded.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ReceivedEmail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first `http(s)://` URL of the text: the link to follow.
    pub fn first_link(&self) -> Option<String> {
        let start = self
            .body
            .find("https://")
            .into_iter()
            .chain(self.body.find("http://"))
            .min()?;
        let link: String = self.body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '"'))
            .collect();
        Some(link)
    }
}

pub struct SmtpSink {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    maildir: PathBuf,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let python = std::env::var("ESTAFETTE_SYNAPSE_PYTHON").expect(
            "ESTAFETTE_SYNAPSE_PYTHON must name the Python that has aiosmtpd: run ./scripts/test, \
             or scripts/synapse-venv",
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let maildir = dir.path().join("mail");
        let port = estafette::storage::sql::testing::free_port();
        let log = std::fs::File::create(dir.path().join("smtp.out")).expect("log file");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    port,
                    _dir: dir,
                    maildir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd never listened on port {port}");
    }

    /// The URL a server sends through.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read(path).ok())
            .map(|raw| parse(&String::from_utf8_lossy(&raw)))
            .collect()
    }

    /// Waits (a few seconds at most) for a message to `address`, and returns the latest.
    pub async fn wait_for(&self, address: &str) -> ReceivedEmail {
        self.wait_for_after(address, 0).await
    }

    /// How many messages `address` has received.
    pub fn count_to(&self, address: &str) -> usize {
        self.to(address).len()
    }

    /// Waits (a few seconds at most) for `address` to have received more than `already`
    /// messages, and returns the latest.
    pub async fn wait_for_after(&self, address: &str, already: usize) -> ReceivedEmail {
        for _ in 0..100 {
            let mut received = self.to(address);
            if received.len() > already
                && let Some(latest) = received.pop()
            {
                return latest;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new email reached {address}: {:?}", self.received());
    }

    fn to(&self, address: &str) -> Vec<ReceivedEmail> {
        self.received()
            .into_iter()
            .filter(|email| email.recipients.iter().any(|r| r == address))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(raw: &str) -> ReceivedEmail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line.trim_start());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = decode_words(value);
    }
    let encoding = headers
        .iter()
        .find(|(name, _)| name == "content-transfer-encoding")
        .map(|(_, value)| value.to_ascii_lowercase());
    let body = match encoding.as_deref() {
        Some("base64") => {
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Some("quoted-printable") => quoted_printable(body),
        _ => body.to_owned(),
    };
    let recipients = headers
        .iter()
        .filter(|(name, _)| name == "x-rcptto")
        .flat_map(|(_, value)| value.split(',').map(|r| r.trim().to_owned()))
        .collect();
    ReceivedEmail {
        recipients,
        headers,
        body,
    }
}

fn quoted_printable(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut input = text.as_bytes().iter().copied().peekable();
    while let Some(byte) = input.next() {
        if byte != b'=' {
            bytes.push(byte);
            continue;
        }
        let (Some(high), Some(low)) = (input.next(), input.peek().copied()) else {
            continue;
        };
        if high == b'\n' {
            continue;
        }
        input.next();
        let hex = [high, low];
        if let Ok(value) = u8::from_str_radix(&String::from_utf8_lossy(&hex), 16) {
            bytes.push(value);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header value.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let Some(end) = rest[start + 2..].find("?=").map(|end| start + 2 + end) else {
            break;
        };
        let word = &rest[start + 2..end];
        let mut parts = word.splitn(3, '?');
        let (Some(_charset), Some(kind), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let before = &rest[..start];
        if !before.trim().is_empty() || out.is_empty() {
            out.push_str(before);
        }
        match kind.to_ascii_lowercase().as_str() {
            "b" => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            _ => out.push_str(&quoted_printable(&text.replace('_', " "))),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}
