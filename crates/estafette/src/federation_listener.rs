//! The federation listener: TLS with the configured certificate, or a self-signed one generated
//! into the data directory on first start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use estafette_core::Config;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// Why the federation listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("invalid certificate or key: {0}")]
    Config(String),
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The certificate and key paths: configured, or generated self-signed into the data directory.
fn certificate_files(config: &Config) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(cert), Some(key)) = (
        &config.federation.tls_certificate,
        &config.federation.tls_private_key,
    ) {
        return Ok((cert.clone(), key.clone()));
    }
    let cert = config.data_dir.join("federation.crt");
    let key = config.data_dir.join("federation.key");
    if !cert.exists() || !key.exists() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| file_error(&config.data_dir, e))?;
        let host = config
            .server_name
            .rsplit_once(':')
            .map_or(config.server_name.as_str(), |(host, _)| host)
            .to_owned();
        let generated = rcgen::generate_simple_self_signed(vec![host, "localhost".to_owned()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        std::fs::write(&cert, generated.cert.pem()).map_err(|e| file_error(&cert, e))?;
        write_private(&key, &generated.signing_key.serialize_pem())
            .map_err(|e| file_error(&key, e))?;
        tracing::info!(path = %cert.display(), "generated a self-signed federation certificate");
    }
    Ok((cert, key))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

pub(crate) fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let (cert_path, key_path) = certificate_files(config)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| file_error(&cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(&cert_path, e))?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_error(&key_path, e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Accepts TLS connections and serves `app` on them until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "federation accept failed");
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(err) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            // A stopped server closes its open connections too, not only its listener.
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "federation connection ended");
                    }
                }
                _ = stop.changed() => {}
            }
        });
    }
}
