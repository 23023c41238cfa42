//! The daemon's command-line clients: `send`, `agents`, `queue`, `ticket`, `watch` and `stats`.
//!
//! Each command opens one connection to the gRPC API (`--addr`), makes its calls and prints aligned
//! text for people or, with `--json`, JSON for scripts. Errors are one line on stderr. Exit status:
//! 0 on success, 1 when `send` had rejected lines, 2 on errors (bad arguments, unreadable input,
//! daemon unreachable, call refused).
//!
//! A daemon with API tokens wants `--token` (or `SWITCHBOARD_TOKEN`), sent with every call as
//! `authorization: Bearer <token>`; one serving TLS wants an `https://` address, with `--tls-ca`
//! when its certificate is not signed by a CA the system trusts, and `--tls-cert`/`--tls-key` when
//! it requires client certificates (mutual TLS).

mod format;
mod queries;
mod send;
mod watch;

use anyhow::Context;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchboard_proto::code_name;
use switchboard_proto::v1::router_client::RouterClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Commands that talk to a running daemon (`switchboard serve`) over its gRPC API.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Send JSON Lines events to the daemon and report the lines it rejected.
    ///
    /// The input is the replay format (one event a line, see routing.md) except that `at` is
    /// optional: without it the daemon stamps the arrival time. An optional `event_id` is passed on
    /// for safe retries. Events are streamed as they are read, so files of any size work.
    ///
    /// Prints `N accepted, M rejected` and each rejected line as `line L: <error>` on stderr (lines
    /// counted in the input, blank ones included; lines that are not valid events are reported the
    /// same way and not sent). Exit status: 0 when every line was accepted, 1 when any was
    /// rejected, 2 when the input cannot be read or the daemon cannot be reached.
    Send(send::Args),
    /// List an account's agents: groups, skills and, per channel, status and load/capacity.
    Agents(queries::AgentsArgs),
    /// List an account's waiting tickets in queue order, with their wait.
    ///
    /// Positions count from 1 here; the JSON output keeps the API's 0-based `position`.
    Queue(queries::QueueArgs),
    /// Show every field of one ticket; times in UTC, with how long ago they were.
    Ticket(queries::TicketArgs),
    /// Print effects as they happen, until Ctrl-C or until the daemon stops.
    ///
    /// One effect a line: readable (`12:03:04.123 acme offered c#1 -> ana`, times UTC) or, with
    /// `--json`, the replay format's effect objects. When the watcher falls behind and the daemon
    /// drops effects for it, `(lagged: N effects dropped)` goes to stderr.
    Watch(watch::Args),
    /// Show counts for an account, or for every account: tickets, queue, agents and load.
    ///
    /// Per account: tickets by status and the number queued; per channel: agents by status, the
    /// capacity of the online agents, load, offers, queued tickets by priority and the oldest wait.
    /// With `--json`, one object per account per line.
    Stats(queries::StatsArgs),
    /// Make the daemon read its configuration file, tokens and TLS files again (as SIGHUP does).
    ///
    /// Routing settings (styles, rules, modes, timeouts, statuses, assignment method) apply to what
    /// happens next; sections that need a restart are listed. An invalid file is refused with the
    /// reason (exit status 2) and the daemon keeps the configuration in force. Needs an admin
    /// token for every account when the daemon asks for tokens.
    Reload(queries::ReloadArgs),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Send(_) => "send",
            Command::Agents(_) => "agents",
            Command::Queue(_) => "queue",
            Command::Ticket(_) => "ticket",
            Command::Watch(_) => "watch",
            Command::Stats(_) => "stats",
            Command::Reload(_) => "reload",
        }
    }
}

/// Runs a client command. Failures are reported here (one line on stderr, exit status 2); the
/// error result is only for a runtime that cannot start.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    // One connection doing one thing at a time needs no more than one thread.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    let name = c.name();
    let outcome = runtime.block_on(async move {
        match c {
            Command::Send(args) => send::run(args).await,
            Command::Agents(args) => queries::agents(args).await,
            Command::Queue(args) => queries::queue(args).await,
            Command::Ticket(args) => queries::ticket(args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Stats(args) => queries::stats(args).await,
            Command::Reload(args) => queries::reload(args).await,
        }
    });
    // `send` reads its input on a blocking thread that may be parked in a read of a terminal after
    // a failed call; dropping the runtime would wait for it.
    runtime.shutdown_background();
    Ok(outcome.unwrap_or_else(|failure| {
        failure.report(name);
        ExitCode::from(2)
    }))
}

/// Where the daemon is, how to reach it and how to print; every client command takes these.
#[derive(clap::Args)]
pub struct Conn {
    /// The daemon's gRPC address: `http://host:port`, `https://host:port` (TLS), `host:port` or
    /// `unix:/path/to.sock`.
    #[arg(long, env = "SWITCHBOARD_ADDR", default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// API token, sent with every call (`authorization: Bearer <token>`). Prefer the environment
    /// variable: a command line is visible to other users of the machine.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// With an https:// address: the CA certificate (PEM) that signed the daemon's certificate,
    /// trusted instead of the system's CAs.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// With an https:// address: a client certificate (PEM), for daemons that require one
    /// (mutual TLS). Needs --tls-key.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With an https:// address: the name the daemon's certificate must carry, when it is not the
    /// host of --addr (e.g. connecting by IP address to a certificate for a DNS name).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    json: bool,
}

/// The client every command uses: the token goes with every call.
type Client = RouterClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone)]
struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl Conn {
    /// The address as an endpoint URI: a bare `host:port` means plain HTTP/2.
    fn uri(&self) -> String {
        if self.addr.starts_with("unix:") || self.addr.contains("://") {
            self.addr.clone()
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// The TLS settings for an https:// address.
    fn tls(&self) -> anyhow::Result<ClientTlsConfig> {
        let read = |flag: &str, path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
        };
        let mut tls = ClientTlsConfig::new();
        tls = match &self.tls_ca {
            Some(path) => tls.ca_certificate(Certificate::from_pem(read("--tls-ca", path)?)),
            None => tls.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls = tls.identity(Identity::from_pem(read("--tls-cert", cert)?, read("--tls-key", key)?));
        }
        if let Some(name) = &self.tls_server_name {
            tls = tls.domain_name(name.clone());
        }
        Ok(tls)
    }

    /// Connects now rather than at the first call, so an absent daemon is told apart from a call
    /// the daemon refused.
    async fn connect(&self) -> Result<Client, Failure> {
        let uri = self.uri();
        let https = uri.starts_with("https://");
        if !https && (self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_server_name.is_some()) {
            return Err(anyhow::anyhow!(
                "--tls-ca, --tls-cert, --tls-key and --tls-server-name need an https:// --addr (got {uri:?})"
            )
            .into());
        }
        let token = match &self.token {
            None => None,
            Some(t) if t.trim().is_empty() => {
                return Err(anyhow::anyhow!("--token (or SWITCHBOARD_TOKEN) is empty").into());
            }
            Some(t) => Some(
                MetadataValue::try_from(format!("Bearer {}", t.trim()))
                    .map_err(|_| anyhow::anyhow!("--token (or SWITCHBOARD_TOKEN) is not a token"))?,
            ),
        };
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| anyhow::anyhow!("invalid --addr {:?}: {}", self.addr, root_cause(&e)))?
            .connect_timeout(Duration::from_secs(5));
        if https {
            endpoint =
                endpoint.tls_config(self.tls()?).map_err(|e| anyhow::anyhow!("TLS: {}", root_cause(&e)))?;
        }
        let _ = TRANSPORT.set(Transport { https, client_cert: self.tls_cert.is_some() });
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Failure::Unreachable { addr: uri, cause: root_cause(&e) })?;
        // The client's 4 MiB default would refuse a large account's agent list that a daemon
        // configured for bigger messages sends; 64 MiB is the most `max_message_bytes` allows.
        Ok(RouterClient::with_interceptor(channel, Bearer(token)).max_decoding_message_size(64 << 20))
    }
}

/// How the connection was made, for the hints of connection errors (one connection per process).
static TRANSPORT: std::sync::OnceLock<Transport> = std::sync::OnceLock::new();

struct Transport {
    https: bool,
    client_cert: bool,
}

/// What to check when a connection fails or drops: a TLS daemon refuses plaintext, and one that
/// requires client certificates drops a client without one after the handshake.
fn transport_hint() -> &'static str {
    match TRANSPORT.get() {
        Some(Transport { https: false, .. }) => " (a daemon serving TLS needs an https:// address)",
        Some(Transport { https: true, client_cert: false }) => {
            " (a daemon that requires client certificates needs --tls-cert and --tls-key)"
        }
        _ => "",
    }
}

/// The innermost cause: transport errors wrap the useful text (`Connection refused`) in layers of
/// `transport error` and `tcp connect error`.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Why a command failed.
enum Failure {
    /// No connection to the daemon could be made.
    Unreachable {
        /// The endpoint tried.
        addr: String,
        /// Why it failed.
        cause: String,
    },
    /// The daemon answered a call with an error.
    Status(tonic::Status),
    /// Anything else: bad arguments, unreadable input, unwritable output.
    Other(anyhow::Error),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Status(s)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl Failure {
    fn report(&self, command: &str) {
        match self {
            Failure::Unreachable { addr, cause } => warn(format_args!(
                "switchboard: cannot reach the daemon at {addr}: {cause} \
                 (start it with `switchboard serve`, or point --addr at it)"
            )),
            // A status with a source was made here from a transport error, not sent by the daemon.
            Failure::Status(s) if std::error::Error::source(s).is_some() => {
                let cause = root_cause(s);
                let detail = match s.message() {
                    m if m.contains(&cause) => m.to_owned(),
                    m => format!("{m}: {cause}"),
                };
                warn(format_args!(
                    "switchboard: {command}: lost the connection to the daemon: {detail}{}",
                    transport_hint()
                ));
            }
            Failure::Status(s) if s.code() == tonic::Code::Unauthenticated => warn(format_args!(
                "switchboard: {command}: UNAUTHENTICATED: {} (pass --token or set SWITCHBOARD_TOKEN)",
                s.message()
            )),
            Failure::Status(s) if s.message().is_empty() => {
                warn(format_args!("switchboard: {command}: {}", code_name(s.code())));
            }
            Failure::Status(s) => {
                warn(format_args!("switchboard: {command}: {}: {}", code_name(s.code()), s.message()))
            }
            Failure::Other(e) => warn(format_args!("switchboard: {command}: {e:#}")),
        }
    }
}

/// Writes to standard output. Returns false when the reader has gone (`| head`), which ends a
/// command quietly rather than as an error.
fn print(text: &str) -> Result<bool, Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output").into()),
    }
}

/// One JSON document on its own line.
fn print_json(value: &serde_json::Value) -> Result<bool, Failure> {
    print(&format!("{value}\n"))
}

/// One line on standard error; a closed stderr is no reason to fail.
fn warn(line: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
