//! The file as written, read with serde: types and shapes only. Ranges, names that must exist and
//! defaults are the build steps' business ([`crate::engine`] for the routing sections,
//! [`crate::daemon`] for the daemon's), which see a left-out key as `None`.
//!
//! Leaves and containers go through the wrappers below rather than plain `String`, `bool`, `Vec`,
//! ... so that a wrong type always reads `must be <what>, got <value>` under its key path, instead
//! of serde's wording and Rust type names.

use crate::{Fsync, LogFormat, LogLevel};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use switchboard_core::{AgentStatus, AssignmentMethod, AssignmentMode};
use toml::Value;

/// Visitor methods refusing every scalar with `must be <what>, got <value>`.
macro_rules! refuse_scalars {
    ($what:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(got($what, v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(got($what, v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(got($what, v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(got($what, v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(got($what, format_args!("{v:?}")))
        }
    };
}

/// The whole file. A new section is a field here (and in [`crate::Settings`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct File {
    /// `[server]`.
    pub server: Table<Server>,
    /// `[security]`.
    pub security: Table<crate::security::RawSecurity>,
    /// `[log]`.
    pub log: Table<Log>,
    /// `[metrics]`.
    pub metrics: Table<Metrics>,
    /// `[runtime]`.
    pub runtime: Table<Runtime>,
    /// `[limits]`.
    pub limits: Table<Limits>,
    /// `[storage]`.
    pub storage: Table<Storage>,
    /// `[bus]`.
    pub bus: Table<Bus>,
    /// `[routing]`.
    pub routing: Table<Routing>,
    /// `[channels]`; `None` keeps the shipped set, anything else replaces it.
    pub channels: Option<Tables<Channel>>,
    /// `[styles]`, merged over the shipped styles.
    pub styles: Tables<Style>,
    /// `[[style_rules]]`; `None` keeps the shipped rules.
    pub style_rules: Option<TableList<Rule>>,
    /// `[unified_statuses]`, merged over the shipped ones.
    pub unified_statuses: Map<Mapping>,
    /// `[accounts.<id>]`.
    pub accounts: Tables<Account>,
}

/// `[server]`. Addresses and the socket path are strings here; the build step
/// ([`crate::daemon`]) parses and checks them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Server {
    pub grpc_addr: Option<Text>,
    pub http_addr: Option<Text>,
    pub grpc_unix_socket: Option<Text>,
    pub shutdown_grace_s: Option<Count>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Log {
    pub format: Option<OneOf<LogFormat>>,
    pub level: Option<OneOf<LogLevel>>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Metrics {
    pub per_account_labels: Option<Flag>,
}

/// `[runtime]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Runtime {
    pub shards: Option<Count>,
    pub shard_queue: Option<Count>,
    pub max_future_skew_ms: Option<Count>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Limits {
    pub max_message_bytes: Option<Count>,
    pub max_id_bytes: Option<Count>,
    pub max_list_len: Option<Count>,
    pub max_watchers: Option<Count>,
    pub watch_buffer: Option<Count>,
    pub max_queue_listing: Option<Count>,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Storage {
    pub enabled: Option<Flag>,
    pub dir: Option<Text>,
    pub fsync: Option<OneOf<Fsync>>,
    pub fsync_interval_ms: Option<Count>,
    pub segment_bytes: Option<Count>,
    pub snapshot_every_events: Option<Count>,
    pub snapshot_every_s: Option<Count>,
    pub dedup_window_s: Option<Count>,
    pub dedup_max_ids: Option<Count>,
}

/// `[bus]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Bus {
    pub nats: Table<Nats>,
}

/// `[bus.nats]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Nats {
    pub enabled: Option<Flag>,
    pub servers: Option<Texts>,
    pub token_file: Option<Text>,
    pub user: Option<Text>,
    pub password_file: Option<Text>,
    pub creds_file: Option<Text>,
    pub tls_required: Option<Flag>,
    pub tls_ca_file: Option<Text>,
    pub tls_cert_file: Option<Text>,
    pub tls_key_file: Option<Text>,
    pub events_stream: Option<Text>,
    pub events_subject: Option<Text>,
    pub consumer: Option<Text>,
    pub create: Option<Flag>,
    pub publish_effects: Option<Flag>,
    pub effects_stream: Option<Text>,
    pub effects_subject_prefix: Option<Text>,
    pub dead_letter_stream: Option<Text>,
    pub dead_letter_subject: Option<Text>,
    pub max_in_flight: Option<Count>,
    pub ack_wait_s: Option<Count>,
    pub duplicate_window_s: Option<Count>,
}

/// `[routing]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Routing {
    pub assignment_method: Option<OneOf<AssignmentMethod>>,
    pub default_style: Option<Text>,
}

/// `[channels.<name>]`, globally or in an account.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Channel {
    pub mode: Option<OneOf<AssignmentMode>>,
    pub offer_timeout_s: Option<Count>,
    pub skills_timeout_s: Option<Count>,
    pub reassign_on_unavailable: Option<Flag>,
}

/// `[styles.<name>]`, globally or in an account.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Style {
    pub close_after_solved_s: Option<Count>,
}

/// One `[[style_rules]]` entry, globally or in an account.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Rule {
    pub channel: Option<Texts>,
    pub via: Option<Texts>,
    pub brand: Option<Texts>,
    pub account: Option<Texts>,
    pub authenticated: Option<Flag>,
    pub style: Option<Text>,
}

/// A unified status: channel name to status.
pub(crate) type Mapping = Map<OneOf<AgentStatus>>;

/// `[accounts.<id>]`: the overridable subset of the top level, flat.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Account {
    pub assignment_method: Option<OneOf<AssignmentMethod>>,
    pub default_style: Option<Text>,
    pub channels: Tables<Channel>,
    pub styles: Tables<Style>,
    pub style_rules: Option<TableList<Rule>>,
    pub unified_statuses: Map<Mapping>,
}

/// A TOML table read as `T` (a struct or a map); anything else is "must be a table".
#[derive(Debug, Default)]
pub(crate) struct Table<T>(pub T);

/// A table of arbitrary keys, in file order (order carries meaning: channel order, error listings).
pub(crate) type Map<V> = Table<IndexMap<String, V>>;

/// A table whose values are tables, e.g. `[channels.<name>]`.
pub(crate) type Tables<T> = Map<Table<T>>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TableVisitor(PhantomData))
    }
}

struct TableVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
    type Value = Table<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // Reading through `map` itself keeps the key-path and unknown-key tracking of the caller.
        T::deserialize(MapAccessDeserializer::new(map)).map(Table)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(got("a table", "a list"))
    }

    refuse_scalars!("a table");
}

/// An array of tables (`[[name]]`) read as `T`s.
#[derive(Debug, Default)]
pub(crate) struct TableList<T>(pub Vec<Table<T>>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TableList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TableListVisitor(PhantomData))
    }
}

struct TableListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TableListVisitor<T> {
    type Value = TableList<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tables")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(TableList)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(got("a list of tables ([[...]] blocks)", "a single table"))
    }

    refuse_scalars!("a list of tables");
}

/// A non-negative integer (TOML integers are 64-bit signed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count(pub u64);

/// `true` or `false`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(pub bool);

/// A string.
#[derive(Debug)]
pub(crate) struct Text(pub String);

/// A string or a list of strings; a single string is a list of one.
#[derive(Debug)]
pub(crate) struct Texts(pub Vec<String>);

/// One of a fixed set of names, e.g. a channel mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OneOf<E>(pub E);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a non-negative integer", |v| v.as_integer().and_then(|n| u64::try_from(n).ok()).map(Count))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "true or false", |v| v.as_bool().map(Flag))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a string", |v| v.as_str().map(|s| Text(s.to_owned())))
    }
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a string or a list of strings", |v| match v {
            Value::String(s) => Some(Texts(vec![s.clone()])),
            Value::Array(items) => {
                items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<_>>().map(Texts)
            }
            _ => None,
        })
    }
}

/// Config names of an enum (the engine's or this crate's).
pub(crate) trait Named: Sized + Copy + 'static {
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];
    /// The name of one.
    fn name(self) -> &'static str;
}

impl Named for AssignmentMethod {
    const ALL: &'static [Self] = &AssignmentMethod::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for AssignmentMode {
    const ALL: &'static [Self] = &[AssignmentMode::Offer, AssignmentMode::Auto];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for AgentStatus {
    const ALL: &'static [Self] = &AgentStatus::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for LogFormat {
    const ALL: &'static [Self] = &LogFormat::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for Fsync {
    const ALL: &'static [Self] = &Fsync::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for LogLevel {
    const ALL: &'static [Self] = &LogLevel::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl<'de, E: Named> Deserialize<'de> for OneOf<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = crate::error::listing(E::ALL.iter().map(|e| e.name()));
        let value = Value::deserialize(d)?;
        match value.as_str() {
            Some(s) => E::ALL
                .iter()
                .find(|e| e.name() == s)
                .map(|e| OneOf(*e))
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not one of {names}"))),
            None => Err(got(&format!("one of {names}"), Shown(&value))),
        }
    }
}

/// Reads any TOML value and lets `read` accept it; a refusal becomes `must be <what>, got <value>`.
fn leaf<'de, D, T>(d: D, what: &str, read: impl FnOnce(&Value) -> Option<T>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(d)?;
    read(&value).ok_or_else(|| got(what, Shown(&value)))
}

/// The "must be ..., got ..." error.
fn got<E: de::Error>(what: &str, value: impl fmt::Display) -> E {
    E::custom(format!("must be {what}, got {value}"))
}

/// A value as a message shows it: scalars and lists as written, a table by its kind (its contents
/// could be long).
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Table(_) => f.write_str("a table"),
            v => write!(f, "{v}"),
        }
    }
}
