//! Switchboard's daemon: the runtime behind a gRPC API and an HTTP endpoint, with graceful shutdown.
//!
//! [`Daemon::start`] binds every listener first (so a busy port fails the start with a clear error,
//! and port 0 gives an ephemeral port that [`Daemon::grpc_addr`] reports), then serves:
//! - gRPC (`switchboard.v1.Router`, standard health `grpc.health.v1`, server reflection v1 and
//!   v1alpha) on TCP and optionally on a Unix socket;
//! - HTTP `/metrics`, `/healthz`, `/readyz`.
//!
//! Shutdown ([`Daemon::shutdown`]): readiness and health turn "not serving", watch streams end, the
//! listeners stop accepting, in-flight calls get `shutdown_grace_ms` to finish, then the shards
//! serve what they already hold and stop.
//!
//! Security (`[security]`, docs/api.md "Security"): TLS on both TCP listeners (`tls.rs`), API
//! tokens with roles and account scopes, and rate limits (`security.rs`, checked in `service.rs`
//! and `http.rs`). Before anything is bound, the start is refused when a TCP listener would be on
//! a non-loopback address without both TLS and tokens, unless `security.insecure` is set.
//! [`Daemon::reload_security`] reads the tokens file and the TLS files again.

mod http;
mod reload;
mod security;
mod service;
mod tls;

pub use reload::{ReloadReport, Reloader};
pub use service::{RouterService, ServiceLimits};

use futures_util::StreamExt;
use security::Security;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchboard_config::{Fsync, Settings};
use switchboard_proto::convert::FieldLimits;
use switchboard_proto::v1;
use switchboard_proto::v1::router_server::RouterServer;
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{Options, Runtime};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {cause}")]
    Bind {
        /// gRPC, HTTP or the Unix socket.
        what: &'static str,
        /// The address.
        addr: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The runtime could not start (configuration, recovery).
    #[error(transparent)]
    Runtime(#[from] switchboard_runtime::StartError),
    /// Server reflection could not be set up.
    #[error("server reflection: {0}")]
    Reflection(String),
    /// A listener would be exposed beyond this machine without TLS and tokens.
    #[error("{0}")]
    Insecure(String),
    /// The tokens file or a TLS file could not be read or used (the message names it).
    #[error("{0}")]
    Security(String),
}

/// A running daemon.
pub struct Daemon {
    runtime: Runtime,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    unix_socket: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    health: tonic_health::server::HealthReporter,
    servers: JoinSet<()>,
    grace: Duration,
    reloader: Reloader,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .finish()
    }
}

/// Effect batches held for the bus publisher before shards wait for it: a few seconds of routing
/// at full speed, so a broker's hiccup does not stall routing.
pub const OUTBOX_BATCHES: usize = 65_536;

/// The runtime's storage for a `[storage]` section (`None` when disabled).
pub fn store_options(s: &switchboard_config::StorageSettings) -> Option<StoreOptions> {
    s.enabled.then(|| StoreOptions {
        dir: s.dir.clone(),
        fsync: match s.fsync {
            Fsync::Always => FsyncPolicy::Always,
            Fsync::Interval => FsyncPolicy::Interval(Duration::from_millis(s.fsync_interval_ms)),
            Fsync::Never => FsyncPolicy::Never,
        },
        segment_bytes: s.segment_bytes,
        snapshot_every_events: s.snapshot_every_events,
        snapshot_every: Duration::from_millis(s.snapshot_every_ms),
        dedup_window_ms: s.dedup_window_ms,
        dedup_max_ids: s.dedup_max_ids,
    })
}

/// The number of shards for a `[runtime] shards` setting (0 = one per CPU core).
pub fn shard_count(configured: usize) -> usize {
    if configured > 0 { configured } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
}

impl Daemon {
    /// Starts the runtime and every listener. The security settings are checked and their files
    /// read first, so that a refusal costs no recovery.
    pub async fn start(settings: &Settings) -> Result<Daemon, StartError> {
        Self::start_from(settings, None).await
    }

    /// Like [`Daemon::start`], for settings read from the file `source`: a reload reads it again.
    pub async fn start_from(settings: &Settings, source: Option<PathBuf>) -> Result<Daemon, StartError> {
        check_exposure(settings)?;
        let security = Arc::new(Security::load(&settings.security).map_err(StartError::Security)?);
        log_security(settings, &security);
        let runtime = Runtime::start(
            settings.engine.clone(),
            Options {
                shards: shard_count(settings.runtime.shards),
                shard_queue: settings.runtime.shard_queue,
                max_future_skew_ms: settings.runtime.max_future_skew_ms,
                watch_buffer: settings.limits.watch_buffer,
                per_account_metrics: settings.metrics.per_account_labels,
                store: store_options(&settings.storage),
                // The bus publisher must lose no effect (crates/switchboard-runtime/src/outbox.rs).
                outbox: (settings.bus.nats.enabled && settings.bus.nats.publish_effects)
                    .then_some(OUTBOX_BATCHES),
            },
        )?;
        let reloader = Reloader::new(source, settings.clone(), runtime.clone(), security.clone());
        match Self::serve(runtime.clone(), settings, security, reloader).await {
            Ok(daemon) => Ok(daemon),
            Err(e) => {
                runtime.shutdown();
                Err(e)
            }
        }
    }

    async fn serve(
        runtime: Runtime,
        settings: &Settings,
        security: Arc<Security>,
        reloader: Reloader,
    ) -> Result<Daemon, StartError> {
        let server = &settings.server;
        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|cause| StartError::Bind {
                what,
                addr: addr.to_string(),
                cause,
            })
        };
        let grpc = bind("gRPC", server.grpc_addr).await?;
        let http = bind("HTTP", server.http_addr).await?;
        let unix = match &server.grpc_unix_socket {
            None => None,
            Some(path) => Some(bind_unix(path)?),
        };
        let local = |l: &TcpListener, what| {
            l.local_addr().map_err(|cause| StartError::Bind { what, addr: String::new(), cause })
        };
        let grpc_addr = local(&grpc, "gRPC")?;
        let http_addr = local(&http, "HTTP")?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let limits = ServiceLimits {
            fields: FieldLimits {
                max_id_bytes: settings.limits.max_id_bytes,
                max_list_len: settings.limits.max_list_len,
            },
            max_watchers: settings.limits.max_watchers,
            max_queue_listing: settings.limits.max_queue_listing,
        };
        let max_message = settings.limits.max_message_bytes;
        let service = RouterService::new(runtime.clone(), limits, shutdown_rx.clone())
            .with_security(security.clone())
            .with_reloader(reloader.clone());
        let router = |service: RouterService, trusted: bool| {
            let server = RouterServer::new(service)
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message.max(4 << 20));
            // Tokens are checked before a message is read.
            tonic::service::interceptor::InterceptedService::new(
                server,
                service::Gate { security: security.clone(), trusted },
            )
        };
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<RouterServer<RouterService>>().await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_err = |e: tonic_reflection::server::Error| StartError::Reflection(e.to_string());
        // Health and reflection need no token: probes and tools use them before anything else.
        let routes = |trusted: bool| -> Result<tonic::service::Routes, StartError> {
            // grpcurl before 1.9 and many tools still speak v1alpha.
            let reflection_v1 = reflection().build_v1().map_err(reflection_err)?;
            let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_err)?;
            Ok(tonic::service::Routes::new(router(service.clone(), trusted))
                .add_service(health_service.clone())
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha))
        };
        let grpc_routes = routes(false)?;
        // The Unix socket's file permissions are its authentication: no token is asked for there.
        let unix_routes = routes(true)?;

        let mut servers = JoinSet::new();
        let stop = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|&s| s).await;
        };
        // Messages the gRPC library refuses (too large, not protobuf) never reach a method: they
        // are counted on their way out.
        let counted = {
            let security = security.clone();
            tower::util::MapResponseLayer::new(move |response: axum::http::Response<tonic::body::Body>| {
                if let Some(status) = response.extensions().get::<tonic::Status>() {
                    security.metrics.refused_message(status);
                }
                response
            })
        };
        {
            let signal = stop(shutdown_rx.clone());
            let incoming = tls::incoming(grpc, tls::Listener::Grpc, security.clone(), shutdown_rx.clone());
            let incoming = ReceiverStream::new(incoming).map(Ok::<_, std::io::Error>);
            let counted = counted.clone();
            servers.spawn(async move {
                let result = grpc_server()
                    .layer(counted)
                    .add_routes(grpc_routes)
                    .serve_with_incoming_shutdown(incoming, signal)
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "gRPC server failed");
                }
            });
        }
        if let Some(listener) = unix {
            let signal = stop(shutdown_rx.clone());
            servers.spawn(async move {
                let result = grpc_server()
                    .layer(counted)
                    .add_routes(unix_routes)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::UnixListenerStream::new(listener),
                        signal,
                    )
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "gRPC server (Unix socket) failed");
                }
            });
        }
        {
            let app = http::router(runtime.clone(), shutdown_rx.clone(), security.clone())
                .into_make_service_with_connect_info::<tls::ConnInfo>();
            let signal = stop(shutdown_rx.clone());
            let listener = tls::HttpListener {
                rx: tls::incoming(http, tls::Listener::Http, security.clone(), shutdown_rx),
                local: http_addr,
            };
            servers.spawn(async move {
                if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            });
        }
        tracing::info!(
            grpc = %grpc_addr,
            http = %http_addr,
            unix = ?server.grpc_unix_socket,
            shards = runtime.shard_count(),
            tls = security.tls.is_some(),
            tokens = security.requires_tokens(),
            "switchboard is serving"
        );
        Ok(Daemon {
            runtime,
            grpc_addr,
            http_addr,
            unix_socket: server.grpc_unix_socket.clone(),
            shutdown,
            health,
            servers,
            grace: Duration::from_millis(server.shutdown_grace_ms),
            reloader,
        })
    }

    /// Reloads the configuration like SIGHUP does (see [`Reloader`]).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The address gRPC listens on (the real port when 0 was configured).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The address of the HTTP endpoints.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The runtime behind the API.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully; reloads on SIGHUP.
    pub async fn run_until_signal(self) {
        self.wait_for_signal().await;
        tracing::info!("signal received: shutting down");
        self.shutdown().await;
    }

    /// Returns at SIGTERM or SIGINT; on SIGHUP meanwhile, reloads the configuration (see
    /// [`Reloader::reload`]; the outcome is logged, and a refusal keeps the daemon as it was).
    pub async fn wait_for_signal(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        {
            (Ok(mut term), Ok(mut int), Ok(mut hup)) => loop {
                tokio::select! {
                    _ = term.recv() => return,
                    _ = int.recv() => return,
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP: reloading the configuration");
                        let _ = self.reloader.reload().await;
                    }
                }
            },
            // Without signal handlers (not expected on Unix), Ctrl-C is still honoured.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }

    /// Stops gracefully: not ready, streams closed, listeners closed, in-flight calls finished (up to
    /// the grace period), shards drained.
    pub async fn shutdown(mut self) {
        self.health.set_not_serving::<RouterServer<RouterService>>().await;
        let _ = self.shutdown.send(true);
        let drained =
            tokio::time::timeout(self.grace, async { while self.servers.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!(
                grace_ms = self.grace.as_millis() as u64,
                "calls still running after the grace period: cut"
            );
            self.servers.shutdown().await;
        }
        let runtime = self.runtime.clone();
        let _ = tokio::task::spawn_blocking(move || runtime.shutdown()).await;
        if let Some(path) = &self.unix_socket {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("switchboard stopped");
    }
}

/// Whether an address is reachable from this machine only.
fn loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => ip.to_canonical().is_loopback(),
    }
}

/// Refuses to expose a listener beyond this machine without both TLS and tokens, unless
/// `security.insecure` is set (then warns).
fn check_exposure(settings: &Settings) -> Result<(), StartError> {
    let sec = &settings.security;
    let missing = match (sec.tls.is_some(), sec.tokens_file.is_some()) {
        (true, true) => return Ok(()),
        (false, false) => "neither TLS ([security.tls]) nor API tokens (security.tokens_file)",
        (false, true) => "no TLS ([security.tls])",
        (true, false) => "no API tokens (security.tokens_file)",
    };
    let exposed =
        [("server.grpc_addr", settings.server.grpc_addr), ("server.http_addr", settings.server.http_addr)]
            .into_iter()
            .find(|(_, addr)| !loopback(addr));
    let Some((key, addr)) = exposed else { return Ok(()) };
    // Without tokens anyone may call; with tokens but no TLS, the tokens cross the network in
    // cleartext for anyone on the path to read and reuse.
    let risk = if sec.tokens_file.is_some() {
        "tokens would cross the network in cleartext"
    } else {
        "anyone who can reach it could use the API"
    };
    if sec.insecure {
        tracing::warn!(
            "INSECURE: {key} = {addr} is not a loopback address and is served with {missing}, because \
             security.insecure = true: {risk}."
        );
        return Ok(());
    }
    Err(StartError::Insecure(format!(
        "{key} = {addr} is not a loopback address, and it would be served with {missing}: {risk}. \
         Configure TLS and tokens (docs/api.md, \"Security\"), listen on 127.0.0.1, \
         or set security.insecure = true to serve this way anyway"
    )))
}

/// Says at start how the daemon is protected.
fn log_security(settings: &Settings, security: &Security) {
    if security.requires_tokens() {
        tracing::info!(
            tokens = security.token_count(),
            file = %settings.security.tokens_file.as_deref().unwrap_or(std::path::Path::new("")).display(),
            "API tokens required"
        );
    } else {
        tracing::warn!(
            "NO AUTHENTICATION: security.tokens_file is not set, so every client that can connect may do \
             anything. Only loopback addresses may be used this way (or security.insecure = true)."
        );
    }
    match &security.tls {
        Some(tls) => tracing::info!(mutual = tls.mutual(), "TLS on gRPC and HTTP"),
        None => tracing::info!("plaintext gRPC and HTTP (no [security.tls])"),
    }
}

/// Binds the Unix socket, replacing a stale socket file left by a previous run.
fn bind_unix(path: &std::path::Path) -> Result<tokio::net::UnixListener, StartError> {
    let err =
        |cause| StartError::Bind { what: "gRPC (Unix socket)", addr: path.display().to_string(), cause };
    if std::fs::symlink_metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }) {
        // Only a live daemon answers on it; a socket nobody listens on is left over from a crash.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process is listening there",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    tokio::net::UnixListener::bind(path).map_err(err)
}

/// A gRPC server with HTTP/2 receive windows sized for streams of events: with the protocol's
/// default of 64 KiB per connection, a client streaming a few MB/s waits for a window update
/// every few hundred events, and any delay in sending one stalls it. At most this much unread
/// data per connection is buffered.
fn grpc_server() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .initial_connection_window_size(4 << 20)
        .initial_stream_window_size(1 << 20)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_addresses() {
        for (addr, expected) in [
            ("127.0.0.1:1", true),
            ("127.1.2.3:1", true),
            ("[::1]:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("0.0.0.0:1", false),
            ("[::]:1", false),
            ("10.0.0.1:1", false),
            ("[::ffff:10.0.0.1]:1", false),
        ] {
            assert_eq!(super::loopback(&addr.parse().unwrap()), expected, "{addr}");
        }
    }
}
