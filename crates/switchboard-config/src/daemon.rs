//! The daemon's sections, `[server]`, `[log]`, `[metrics]`, `[runtime]`, `[limits]` and
//! `[storage]`: their
//! settings, the shipped defaults, and the checks that turn the file as written into them.
//!
//! These are plain data: the daemon decides what to do with them (bind, install a logger, size its
//! queues). Each `Default` is the shipped value; a test holds them equal to
//! `config/switchboard.toml`, so a file that leaves a key out gets the value that file shows.

use crate::error::Bad;
use crate::raw;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[server]`: where the daemon listens, and how it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are served over HTTP.
    pub http_addr: SocketAddr,
    /// A Unix socket on which the gRPC API is served as well; `None` (the default) for none.
    pub grpc_unix_socket: Option<PathBuf>,
    /// How long calls in progress at shutdown may take to finish, in milliseconds (the file gives
    /// seconds).
    pub shutdown_grace_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
            grpc_unix_socket: None,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// `[log]`: what the daemon logs, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// How a log line is written.
    pub format: LogFormat,
    /// The lowest level logged when `RUST_LOG` is unset; `RUST_LOG`, when set, wins.
    pub level: LogLevel,
}

/// How a log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// Every format.
    pub const ALL: [LogFormat; 2] = [LogFormat::Text, LogFormat::Json];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// A log level, from the most to the least severe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages and above.
    #[default]
    Info,
    /// Debugging detail and above.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// Every level, from the most to the least severe.
    pub const ALL: [LogLevel; 5] =
        [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug, LogLevel::Trace];

    /// The config name, which is also the level's name in a `RUST_LOG`-style filter.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Whether per-account metric families carry an `account` label (one series per account).
    pub per_account_labels: bool,
}

/// `[storage]`: where and how the daemon keeps what it has accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// Whether events are logged at all; off, nothing survives a restart.
    pub enabled: bool,
    /// The data directory.
    pub dir: PathBuf,
    /// When the log is fsynced.
    pub fsync: Fsync,
    /// Under `interval`, the longest a write waits for its fsync, in milliseconds.
    pub fsync_interval_ms: u64,
    /// Log segment size before a new one starts, in bytes.
    pub segment_bytes: u64,
    /// Snapshot after this many events...
    pub snapshot_every_events: u64,
    /// ...or this long after the last snapshot, in milliseconds (the file gives seconds).
    pub snapshot_every_ms: u64,
    /// How long an event id is remembered, in milliseconds (the file gives seconds).
    pub dedup_window_ms: u64,
    /// At most this many event ids are remembered, per shard.
    pub dedup_max_ids: usize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            enabled: true,
            dir: PathBuf::from("./data"),
            fsync: Fsync::Always,
            fsync_interval_ms: 10,
            segment_bytes: 64 << 20,
            snapshot_every_events: 1_000_000,
            snapshot_every_ms: 300_000,
            dedup_window_ms: 24 * 3600 * 1000,
            dedup_max_ids: 1_000_000,
        }
    }
}

/// When the log is fsynced, and so what an acknowledgement promises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fsync {
    /// Before every acknowledgement; events arriving together share one fsync.
    #[default]
    Always,
    /// Within `fsync_interval_ms` of a write: a power loss may lose that much acknowledged work
    /// (a crash of the process alone loses nothing).
    Interval,
    /// Never; the OS writes when it likes (tests and benchmarks).
    Never,
}

impl Fsync {
    /// Every policy.
    pub const ALL: [Fsync; 3] = [Fsync::Always, Fsync::Interval, Fsync::Never];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Interval => "interval",
            Fsync::Never => "never",
        }
    }
}

/// `[runtime]`: how the daemon spreads and queues work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// How many shards accounts are spread over, each routing on its own thread; 0 (the default)
    /// means one per CPU core, which the daemon resolves.
    pub shards: usize,
    /// Events that may wait for one shard before ingest answers `RESOURCE_EXHAUSTED`.
    pub shard_queue: usize,
    /// How far ahead of the daemon's clock an event's `at` may be, in milliseconds.
    pub max_future_skew_ms: u64,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings { shards: 0, shard_queue: 4096, max_future_skew_ms: 5000 }
    }
}

/// `[limits]`: bounds on what a client may send or ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Longest id in bytes: account, agent, ticket, conversation, requester, group, skill, channel,
    /// style, via and brand.
    pub max_id_bytes: usize,
    /// Most entries in one event's groups, skills, optional skills or capacity.
    pub max_list_len: usize,
    /// Most `WatchEffects` streams open at once.
    pub max_watchers: usize,
    /// Effects buffered for a slow watcher before it is told it lagged.
    pub watch_buffer: usize,
    /// Most entries one `ListQueue` call returns.
    pub max_queue_listing: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1 << 20,
            max_id_bytes: 256,
            max_list_len: 64,
            max_watchers: 256,
            watch_buffer: 4096,
            max_queue_listing: 1000,
        }
    }
}

// The bounds below keep a typo (an extra digit, a unit mix-up) from becoming a daemon that cannot
// work or that can be made to hold unbounded memory; each is far from any sensible value.

/// The longest shutdown grace, in seconds: a shutdown waiting longer looks like a hang, and service
/// managers stop waiting well before.
const MAX_SHUTDOWN_GRACE_S: u64 = 10 * 60;

/// Shards: a thread each; 256 is beyond the core count of the machines the daemon is meant for.
const SHARDS: (usize, usize) = (0, 256);

/// A shard's queue: below 16 any burst would be refused; the top bounds memory per shard.
const SHARD_QUEUE: (usize, usize) = (16, 1 << 20);

/// The largest future skew, in milliseconds (1 day). An event accepted from far ahead would move
/// the routing clock there and fire every timer due before it.
const MAX_FUTURE_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

/// gRPC messages: below 1 KiB ordinary events would not fit; 64 MiB bounds the memory one call
/// may take.
const MESSAGE_BYTES: (usize, usize) = (1 << 10, 64 << 20);

/// Ids: an empty limit would refuse every id.
const ID_BYTES: (usize, usize) = (1, 4096);

/// Lists in one event.
const LIST_LEN: (usize, usize) = (1, 4096);

/// Concurrent watchers.
const WATCHERS: (usize, usize) = (1, 100_000);

/// A watcher's buffer: below 16 a watcher would lag on any burst of effects.
const WATCH_BUFFER: (usize, usize) = (16, 1 << 20);

/// Entries of one queue listing.
const QUEUE_LISTING: (usize, usize) = (1, 1_000_000);

/// The fsync interval: 1 ms to 10 s; longer would promise little.
const FSYNC_INTERVAL_MS: (usize, usize) = (1, 10_000);

/// Segments: 1 MiB to 4 GiB.
const SEGMENT_BYTES: (usize, usize) = (1 << 20, 1 << 32);

/// Events between snapshots: at least 1000 (a snapshot costs a copy of the state).
const SNAPSHOT_EVENTS: (usize, usize) = (1000, 1 << 40);

/// Time between snapshots: 1 s to a day.
const SNAPSHOT_EVERY_S: u64 = 24 * 3600;

/// The idempotency window: up to 7 days.
const DEDUP_WINDOW_S: u64 = 7 * 24 * 3600;

/// Remembered ids: 1 to 100 million (each costs about a hundred bytes).
const DEDUP_IDS: (usize, usize) = (1, 100_000_000);

/// `[storage]`.
pub(crate) fn storage(raw: &raw::Storage) -> Result<StorageSettings, Bad> {
    let shipped = StorageSettings::default();
    let dir = match &raw.dir {
        Some(raw::Text(d)) if d.is_empty() => {
            return Err(Bad::new("storage.dir", "must not be empty (set `enabled = false` to keep nothing)"));
        }
        Some(raw::Text(d)) => PathBuf::from(d),
        None => shipped.dir,
    };
    let seconds = |v: Option<raw::Count>, max: u64, what: &str, key: &str, shipped_ms: u64| match v {
        None => Ok(shipped_ms),
        Some(raw::Count(0)) => Err(Bad::new(key, "must be at least 1")),
        Some(raw::Count(s)) => crate::engine::seconds(s, max, what, key.into()),
    };
    Ok(StorageSettings {
        enabled: raw.enabled.map_or(shipped.enabled, |f| f.0),
        dir,
        fsync: raw.fsync.map_or(shipped.fsync, |f| f.0),
        fsync_interval_ms: count(
            raw.fsync_interval_ms,
            FSYNC_INTERVAL_MS,
            shipped.fsync_interval_ms as usize,
            "storage.fsync_interval_ms",
        )? as u64,
        segment_bytes: count(
            raw.segment_bytes,
            SEGMENT_BYTES,
            shipped.segment_bytes as usize,
            "storage.segment_bytes",
        )? as u64,
        snapshot_every_events: count(
            raw.snapshot_every_events,
            SNAPSHOT_EVENTS,
            shipped.snapshot_every_events as usize,
            "storage.snapshot_every_events",
        )? as u64,
        snapshot_every_ms: seconds(
            raw.snapshot_every_s,
            SNAPSHOT_EVERY_S,
            "1-day",
            "storage.snapshot_every_s",
            shipped.snapshot_every_ms,
        )?,
        dedup_window_ms: seconds(
            raw.dedup_window_s,
            DEDUP_WINDOW_S,
            "7-day",
            "storage.dedup_window_s",
            shipped.dedup_window_ms,
        )?,
        dedup_max_ids: count(raw.dedup_max_ids, DEDUP_IDS, shipped.dedup_max_ids, "storage.dedup_max_ids")?,
    })
}

/// `[server]`.
pub(crate) fn server(raw: &raw::Server) -> Result<ServerSettings, Bad> {
    let mut server = ServerSettings::default();
    if let Some(raw::Text(addr)) = &raw.grpc_addr {
        server.grpc_addr = socket_addr(addr, server.grpc_addr, "server.grpc_addr")?;
    }
    if let Some(raw::Text(addr)) = &raw.http_addr {
        server.http_addr = socket_addr(addr, server.http_addr, "server.http_addr")?;
    }
    if let Some(raw::Text(path)) = &raw.grpc_unix_socket {
        if path.is_empty() {
            return Err(Bad::new(
                "server.grpc_unix_socket",
                "must not be empty (leave the key out for no Unix socket)",
            ));
        }
        server.grpc_unix_socket = Some(PathBuf::from(path));
    }
    if let Some(raw::Count(s)) = raw.shutdown_grace_s {
        server.shutdown_grace_ms =
            crate::engine::seconds(s, MAX_SHUTDOWN_GRACE_S, "10-minute", "server.shutdown_grace_s".into())?;
    }
    Ok(server)
}

/// An IP address and port. Host names are refused rather than looked up: reading the file must not
/// depend on name resolution, and a name can resolve to several addresses.
fn socket_addr(text: &str, example: SocketAddr, key: &str) -> Result<SocketAddr, Bad> {
    text.parse()
        .map_err(|_| Bad::new(key, format!("{text:?} is not a socket address (host:port, e.g. {example})")))
}

/// `[log]`.
pub(crate) fn log(raw: &raw::Log) -> LogSettings {
    let shipped = LogSettings::default();
    LogSettings {
        format: raw.format.map_or(shipped.format, |f| f.0),
        level: raw.level.map_or(shipped.level, |l| l.0),
    }
}

/// `[metrics]`.
pub(crate) fn metrics(raw: &raw::Metrics) -> MetricsSettings {
    let shipped = MetricsSettings::default();
    MetricsSettings { per_account_labels: raw.per_account_labels.map_or(shipped.per_account_labels, |f| f.0) }
}

/// `[runtime]`.
pub(crate) fn runtime(raw: &raw::Runtime) -> Result<RuntimeSettings, Bad> {
    let shipped = RuntimeSettings::default();
    let max_future_skew_ms = match raw.max_future_skew_ms {
        Some(raw::Count(ms)) if ms > MAX_FUTURE_SKEW_MS => {
            return Err(Bad::new(
                "runtime.max_future_skew_ms",
                format!("{ms} ms is over the 1-day limit ({MAX_FUTURE_SKEW_MS} ms)"),
            ));
        }
        Some(raw::Count(ms)) => ms,
        None => shipped.max_future_skew_ms,
    };
    Ok(RuntimeSettings {
        shards: count(raw.shards, SHARDS, shipped.shards, "runtime.shards")?,
        shard_queue: count(raw.shard_queue, SHARD_QUEUE, shipped.shard_queue, "runtime.shard_queue")?,
        max_future_skew_ms,
    })
}

/// `[limits]`.
pub(crate) fn limits(raw: &raw::Limits) -> Result<Limits, Bad> {
    let shipped = Limits::default();
    Ok(Limits {
        max_message_bytes: count(
            raw.max_message_bytes,
            MESSAGE_BYTES,
            shipped.max_message_bytes,
            "limits.max_message_bytes",
        )?,
        max_id_bytes: count(raw.max_id_bytes, ID_BYTES, shipped.max_id_bytes, "limits.max_id_bytes")?,
        max_list_len: count(raw.max_list_len, LIST_LEN, shipped.max_list_len, "limits.max_list_len")?,
        max_watchers: count(raw.max_watchers, WATCHERS, shipped.max_watchers, "limits.max_watchers")?,
        watch_buffer: count(raw.watch_buffer, WATCH_BUFFER, shipped.watch_buffer, "limits.watch_buffer")?,
        max_queue_listing: count(
            raw.max_queue_listing,
            QUEUE_LISTING,
            shipped.max_queue_listing,
            "limits.max_queue_listing",
        )?,
    })
}

/// The count at `key`, refused outside `(min, max)`; `shipped` when the key is left out.
pub(crate) fn count(
    value: Option<raw::Count>,
    (min, max): (usize, usize),
    shipped: usize,
    key: &str,
) -> Result<usize, Bad> {
    let Some(raw::Count(n)) = value else {
        return Ok(shipped);
    };
    // A count that does not fit a `usize` (only possible on a 32-bit target) is over any maximum.
    match usize::try_from(n) {
        Ok(v) if v < min => Err(Bad::new(key, format!("{n} is below the minimum {min}"))),
        Ok(v) if v <= max => Ok(v),
        _ => Err(Bad::new(key, format!("{n} is above the maximum {max}"))),
    }
}
