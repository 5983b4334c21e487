//! HTTPS served by golive itself (`[server] tls`): the certificate chain and private key are read
//! from PEM files at start and again by [`TlsCertificate::reload_tls`] (on SIGHUP), so a renewed
//! certificate needs no restart.
//!
//! The certificate lives behind a lock that rustls asks on every handshake
//! ([`ResolvesServerCert`]): a reload swaps it, handshakes after the swap get the new one, and
//! connections already open keep theirs. A reload that cannot read the files, or whose key does
//! not fit the certificate, changes nothing: the old certificate is served on.
//!
//! Handshakes run in their own tasks with a time limit, so one slow or silent client never holds
//! up the accept loop; a client speaking plain HTTP to the TLS port fails its handshake and is
//! closed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::plan::TlsFiles;

/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many finished handshakes may wait for the HTTP server to take them.
const ACCEPTED_QUEUE: usize = 64;

/// Why the certificate or key could not be used. Each names the plan key and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read [server] tls.{key} `{}`: {source}; check the path (relative to the plan's folder) and that golive may read the file",
        path.display()
    )]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "[server] tls.cert `{}` holds no PEM certificate ({reason}); give the certificate chain in PEM, leaf first (`-----BEGIN CERTIFICATE-----`)",
        path.display()
    )]
    Certificate { path: PathBuf, reason: String },
    #[error(
        "[server] tls.key `{}` holds no usable PEM private key ({reason}); give the key in PEM (`BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`), unencrypted",
        path.display()
    )]
    Key { path: PathBuf, reason: String },
    #[error(
        "[server] tls.key `{}` does not fit tls.cert `{}`: {reason}; give the key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate golive serves, swappable while it runs.
#[derive(Debug)]
pub struct TlsCertificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl TlsCertificate {
    /// Reads the certificate and key named by `[server] tls`.
    pub fn load(files: &TlsFiles) -> Result<Arc<TlsCertificate>, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let certified = read_certified_key(files, &provider)?;
        Ok(Arc::new(TlsCertificate {
            files: files.clone(),
            provider,
            current: RwLock::new(Arc::new(certified)),
        }))
    }

    /// Re-reads the certificate and key files and serves them from the next handshake on. On
    /// failure the certificate served so far stays.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let certified = read_certified_key(&self.files, &self.provider)?;
        let fingerprint = fingerprint(&certified);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
        tracing::info!(
            cert = %self.files.cert.display(),
            sha256 = %fingerprint,
            "TLS certificate reloaded"
        );
        Ok(())
    }

    /// The SHA-256 fingerprint of the certificate served now (hex), for the log.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.served())
    }

    fn served(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A TLS acceptor that asks this certificate on every handshake; HTTP/1.1 only (ALPN).
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// rustls asks this on every handshake: the certificate current at that moment.
#[derive(Debug)]
struct Resolver(Arc<TlsCertificate>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.served())
    }
}

fn read_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| TlsError::Key {
            path: files.key.clone(),
            reason: error.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(error) => Err(TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason: error.to_string(),
        }),
    }
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file("cert", path)?;
    let bad = |reason: String| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if chain.is_empty() {
        return Err(bad("no certificate found".to_string()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file("key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| TlsError::Key {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

fn fingerprint(certified: &CertifiedKey) -> String {
    certified.cert.first().map_or_else(String::new, |leaf| {
        Sha256::digest(leaf.as_ref())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    })
}

/// Serves `router` on `listener` until `stop` is cancelled (then lets in-flight requests finish):
/// over TLS when a certificate is given (the SIGHUP handler in `app` reloads it with the plan).
pub fn serve(
    listener: TcpListener,
    certificate: Option<&Arc<TlsCertificate>>,
    router: axum::Router,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<std::io::Result<()>>> {
    let Some(certificate) = certificate else {
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        return Ok(tokio::spawn(async move { server.await }));
    };
    tracing::info!(sha256 = %certificate.fingerprint(), "serving HTTPS");
    let listener = TlsListener::new(listener, certificate.acceptor()?)?;
    let server =
        axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await });
    Ok(tokio::spawn(async move { server.await }))
}

/// Accepted TCP connections after their TLS handshake, for `axum::serve`.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; handshakes run in their own tasks. Accepting stops when the
    /// listener is dropped (the server has shut down).
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(accept_loop(tcp, acceptor, sender));
        Ok(TlsListener { accepted, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept loop ends only when this listener is gone; never reached.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            () = sender.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // As axum's own listener: a failed connection is skipped, anything else (too
                // many open files) is waited out briefly instead of spinning.
                if !is_connection_error(&error) {
                    tracing::error!(%error, "cannot accept connections");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = sender.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
