//! TLS on the listeners, and the connections both servers are fed with.
//!
//! The daemon accepts TCP connections itself ([`incoming`]) rather than letting tonic and axum do
//! it, for three reasons: the TLS configuration can be swapped on reload (every new connection
//! reads the one in force), each connection carries what the service needs to know of it
//! ([`ConnInfo`]: its address, whether it showed a client certificate, its rate-limit bucket), and
//! a slow or failed handshake never holds up the accept loop (handshakes run on their own tasks,
//! with a timeout).
//!
//! gRPC and HTTP get configurations of their own from the same files: gRPC offers ALPN `h2` and,
//! with a client CA, requires a client certificate; HTTP offers `http/1.1` and, with a client CA,
//! asks for a certificate and checks any it is shown, but lets probes without one in (`/metrics`
//! then insists on one, see `http.rs`).

use crate::security::{Bucket, Security};
use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use switchboard_config::TlsSettings;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS configurations in force, and the files they come from.
pub(crate) struct Tls {
    settings: TlsSettings,
    grpc: ArcSwap<ServerConfig>,
    http: ArcSwap<ServerConfig>,
}

/// Configurations read from the files, not yet in force.
pub(crate) struct Configs {
    grpc: ServerConfig,
    http: ServerConfig,
}

/// Which listener a connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// The gRPC API.
    Grpc,
    /// `/metrics`, `/healthz`, `/readyz`.
    Http,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Listener::Grpc => "grpc",
            Listener::Http => "http",
        }
    }
}

impl Tls {
    /// Reads the files; an error names the key and the file.
    pub(crate) fn load(settings: &TlsSettings) -> Result<Tls, String> {
        let Configs { grpc, http } = configs(settings)?;
        Ok(Tls {
            settings: settings.clone(),
            grpc: ArcSwap::from_pointee(grpc),
            http: ArcSwap::from_pointee(http),
        })
    }

    /// Reads the files again, without putting them in force.
    pub(crate) fn read(&self) -> Result<Configs, String> {
        configs(&self.settings)
    }

    /// Puts configurations in force for the connections accepted from now on.
    pub(crate) fn install(&self, configs: Configs) {
        self.grpc.store(Arc::new(configs.grpc));
        self.http.store(Arc::new(configs.http));
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub(crate) fn mutual(&self) -> bool {
        self.settings.client_ca_file.is_some()
    }

    fn config(&self, listener: Listener) -> Arc<ServerConfig> {
        match listener {
            Listener::Grpc => self.grpc.load_full(),
            Listener::Http => self.http.load_full(),
        }
    }
}

/// The ring provider, named explicitly so that no process-wide default has to be installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: {}: cannot read the file: {e}", path.display()))
}

fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{key}: {}: no certificate in the file (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// Both listeners' configurations from the files.
fn configs(s: &TlsSettings) -> Result<Configs, String> {
    let certs = certificates(&s.cert_file, "security.tls.cert_file")?;
    let pem = read(&s.key_file, "security.tls.key_file")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "security.tls.key_file: {}: no private key in the file (expected PEM \"BEGIN PRIVATE KEY\", \
             \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\"): {e}",
            s.key_file.display()
        )
    })?;
    let roots = match &s.client_ca_file {
        None => None,
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(path, "security.tls.client_ca_file")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "security.tls.client_ca_file: {}: not a usable CA certificate: {e}",
                        path.display()
                    )
                })?;
            }
            Some(Arc::new(roots))
        }
    };
    let build = |listener: Listener| -> Result<ServerConfig, String> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("security.tls: {e}"))?;
        let builder = match &roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
                // Probes present no certificate: HTTP checks one when shown, and /metrics requires it.
                let verifier =
                    if listener == Listener::Http { verifier.allow_unauthenticated() } else { verifier };
                let verifier = verifier.build().map_err(|e| {
                    format!(
                        "security.tls.client_ca_file: {}: {e}",
                        s.client_ca_file.as_deref().unwrap_or(Path::new("")).display()
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs.clone(), key.clone_key()).map_err(|e| {
            format!(
                "security.tls: the key in {} does not fit the certificate in {}: {e}",
                s.key_file.display(),
                s.cert_file.display()
            )
        })?;
        config.alpn_protocols = match listener {
            Listener::Grpc => vec![b"h2".to_vec()],
            Listener::Http => vec![b"http/1.1".to_vec()],
        };
        Ok(config)
    };
    Ok(Configs { grpc: build(Listener::Grpc)?, http: build(Listener::Http)? })
}

/// What the servers know of a connection; every request on it carries a copy.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The client's address.
    pub(crate) remote: SocketAddr,
    /// Whether the client presented a certificate the client CA signed.
    pub(crate) client_cert: bool,
    /// The connection's rate limit, if there is one.
    pub(crate) bucket: Option<Arc<Bucket>>,
}

/// An accepted connection, plaintext or TLS.
pub(crate) struct Conn {
    io: Io,
    info: ConnInfo,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Accepts connections on `listener` until `shutdown` turns true or the receiver is dropped,
/// completing TLS handshakes (when configured) on tasks of their own. The listener is closed when
/// this stops.
pub(crate) fn incoming(
    listener: TcpListener,
    which: Listener,
    security: Arc<Security>,
    mut shutdown: watch::Receiver<bool>,
) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel::<Conn>(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.wait_for(|&s| s) => break,
                _ = tx.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(listener = which.label(), error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let bucket = if which == Listener::Grpc { security.connection_bucket() } else { None };
            let info = ConnInfo { remote, client_cert: false, bucket };
            let Some(tls) = &security.tls else {
                if tx.send(Conn { io: Io::Plain(tcp), info }).await.is_err() {
                    break;
                }
                continue;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config(which));
            let (tx, security) = (tx.clone(), security.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let client_cert =
                            stream.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                        let info = ConnInfo { client_cert, ..info };
                        let _ = tx.send(Conn { io: Io::Tls(Box::new(stream)), info }).await;
                    }
                    failed => {
                        security.metrics.handshake_failures.with_label_values(&[which.label()]).inc();
                        let error = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::debug!(listener = which.label(), %remote, %error, "TLS handshake failed");
                    }
                }
            });
        }
    });
    rx
}

/// An axum listener over the connections of [`incoming`].
pub(crate) struct HttpListener {
    pub(crate) rx: mpsc::Receiver<Conn>,
    pub(crate) local: SocketAddr,
}

impl axum::serve::Listener for HttpListener {
    type Io = Conn;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Conn, ConnInfo) {
        match self.rx.recv().await {
            Some(conn) => {
                let info = conn.info.clone();
                (conn, info)
            }
            // The accept loop has stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<ConnInfo> {
        Ok(ConnInfo { remote: self.local, client_cert: false, bucket: None })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, HttpListener>> for ConnInfo {
    fn connect_info(stream: axum::serve::IncomingStream<'_, HttpListener>) -> Self {
        stream.remote_addr().clone()
    }
}
