//! ClamAV's daemon over its socket: `zVERSION` names the signature database, `zINSTREAM` scans
//! bytes sent in length-prefixed chunks. One connection per command, so a clamd that restarts
//! is simply used again.

use std::time::Duration;

use estafette_core::ClamdAddress;

use super::Verdict;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;
/// clamd's answers are one short line; anything longer is not clamd.
const MAX_REPLY: u64 = 4096;

#[derive(Debug, Clone)]
pub(crate) struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
}

impl Clamd {
    pub(crate) fn new(address: ClamdAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }

    /// clamd's `VERSION`, e.g. `ClamAV 1.4.3/27001/Mon Dec  1 07:30:01 2025`.
    pub(crate) async fn version(&self) -> Result<String, String> {
        self.command(b"zVERSION\0", None).await
    }

    pub(crate) async fn scan(&self, bytes: &[u8]) -> Result<Verdict, String> {
        let reply = self.command(b"zINSTREAM\0", Some(bytes)).await?;
        let result = reply.strip_prefix("stream:").unwrap_or(&reply).trim();
        if result == "OK" {
            Ok(Verdict::Clean)
        } else if let Some(signature) = result.strip_suffix(" FOUND") {
            Ok(Verdict::Infected {
                signature: signature.trim().to_owned(),
            })
        } else {
            Err(format!("clamd could not scan the file: {reply}"))
        }
    }

    async fn command(&self, command: &[u8], stream: Option<&[u8]>) -> Result<String, String> {
        let exchange = async {
            match &self.address {
                ClamdAddress::Unix(path) => {
                    let socket = tokio::net::UnixStream::connect(path).await?;
                    exchange(socket, command, stream).await
                }
                ClamdAddress::Tcp(address) => {
                    let socket = tokio::net::TcpStream::connect(address.as_str()).await?;
                    exchange(socket, command, stream).await
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(format!("clamd at {:?}: {err}", self.address)),
            Err(_) => Err(format!(
                "clamd at {:?} did not answer within {:?}",
                self.address, self.timeout
            )),
        }
    }
}

/// Sends `command` (followed by `stream` in INSTREAM's chunks, when there is one) and reads
/// the NUL-terminated reply.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: S,
    command: &[u8],
    stream: Option<&[u8]>,
) -> std::io::Result<String> {
    socket.write_all(command).await?;
    if let Some(stream) = stream {
        for chunk in stream.chunks(CHUNK) {
            let length = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            socket.write_all(&length.to_be_bytes()).await?;
            socket.write_all(chunk).await?;
        }
        socket.write_all(&0u32.to_be_bytes()).await?;
    }
    socket.flush().await?;
    let mut reply = Vec::new();
    (&mut socket)
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .await?;
    let text = String::from_utf8_lossy(&reply);
    Ok(text.trim_end_matches(['\0', '\n']).to_owned())
}
