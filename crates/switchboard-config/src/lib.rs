//! Switchboard's configuration file: reading, defaults and validation.
//!
//! A file is TOML; `config/switchboard.toml` ([`SHIPPED`]) documents every key and holds the shipped
//! defaults, which equal [`Settings::default`] (for the routing engine,
//! [`switchboard_core::Config::default`]). A user file may leave out anything it does not change.
//! Reading fails with one [`ConfigError`] naming the file, the key path and the reason, e.g.
//! `config/x.toml: styles.social_messaging.close_after_solved_s: 2500000 s is over the 28-day limit (2419200 s)`.
//!
//! How it works: the TOML text is parsed into a table (syntax errors carry a line and column), read
//! with serde into the private `raw` types (shapes and types; key paths are tracked so that every
//! error and every unknown key is named), then turned into [`Settings`]: the daemon's sections by
//! `daemon` (ranges, addresses, defaults), the engine's config by `engine` (ranges, names that must
//! exist, defaults, per-account merge), which is finally checked by
//! [`switchboard_core::Config::check`].
//!
//! Adding a section (say `[tracing]`): a field in `raw::File` read with the `raw` wrappers (so its
//! errors read like the others), the matching field in [`Settings`] with its `Default` equal to the
//! shipped file, and its checks in a build function that `build` calls.

mod bus;
mod daemon;
mod engine;
mod error;
mod raw;
mod security;

pub use bus::{BusSettings, NatsAuth, NatsSettings, NatsTls};
pub use daemon::{
    Fsync, Limits, LogFormat, LogLevel, LogSettings, MetricsSettings, RuntimeSettings, ServerSettings,
    StorageSettings,
};
pub use error::ConfigError;
pub use security::{
    Accounts, Role, SecuritySettings, TlsSettings, TokenSpec, TokensFile, hash_token, hex, load_tokens,
    parse_tokens,
};

use error::Bad;
use std::path::Path;

/// The shipped configuration file, with every key commented.
pub const SHIPPED: &str = include_str!("../../../config/switchboard.toml");

/// Everything a configuration file sets. The default is the shipped file's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The routing engine's configuration: `[routing]`, `[channels]`, `[styles]`,
    /// `[[style_rules]]`, `[unified_statuses]` and `[accounts]`.
    pub engine: switchboard_core::Config,
    /// `[server]`: listening addresses and shutdown.
    pub server: ServerSettings,
    /// `[security]`: TLS, API tokens and rate limits.
    pub security: SecuritySettings,
    /// `[log]`.
    pub log: LogSettings,
    /// `[metrics]`.
    pub metrics: MetricsSettings,
    /// `[runtime]`: shards and their queues.
    pub runtime: RuntimeSettings,
    /// `[limits]`: bounds on what clients may send or ask for.
    pub limits: Limits,
    /// `[storage]`: the write-ahead log, snapshots and idempotency.
    pub storage: StorageSettings,
    /// `[bus]`: message buses the daemon is fed by.
    pub bus: BusSettings,
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &origin),
        Err(error) => Err(ConfigError::Read { origin, error }),
    }
}

/// Reads and checks configuration text; `origin` names it in error messages (normally its path).
pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, origin, &e))?;

    // Keys that nothing reads are collected rather than refused by serde, so that the message can
    // name the full key path. The first one in file order is reported, and before any other error
    // from the same pass: a misspelt key is the likeliest cause of a "missing" complaint later on.
    let mut unknown = None;
    let mut note_unknown = |path: serde_ignored::Path<'_>| {
        unknown.get_or_insert_with(|| error::ignored_path(&path));
    };
    let file: Result<raw::File, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(table, &mut note_unknown));
    if let Some(key) = unknown {
        return Err(ConfigError::UnknownKey { origin: origin.to_owned(), key });
    }
    let file = file.map_err(|e| ConfigError::Invalid {
        origin: origin.to_owned(),
        key: error::tracked_path(e.path()),
        reason: e.inner().message().to_owned(),
    })?;

    let settings = build(&file).map_err(|e| e.within(origin))?;
    let nats = &settings.bus.nats;
    if nats.enabled
        && nats.publish_effects
        && settings.storage.enabled
        && nats.duplicate_window_ms < settings.storage.snapshot_every_ms
    {
        // After a crash, the effects of the events logged since the last snapshot are published
        // again; JetStream drops them as duplicates only within its window.
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            key: "bus.nats.duplicate_window_s".to_owned(),
            reason: format!(
                "{} s is shorter than storage.snapshot_every_s ({} s): effects published again after a crash could reach subscribers twice",
                nats.duplicate_window_ms / 1000,
                settings.storage.snapshot_every_ms / 1000
            ),
        });
    }
    // A safety net: the checks above are meant to leave nothing for this to find.
    settings
        .engine
        .check()
        .map_err(|error| ConfigError::Inconsistent { origin: origin.to_owned(), error })?;
    Ok(settings)
}

/// The settings a file describes. Sections are checked in the order the shipped file has them
/// (struct fields are evaluated as written), so that which of two faulty sections is reported does
/// not depend on how a file orders them.
fn build(file: &raw::File) -> Result<Settings, Bad> {
    Ok(Settings {
        server: daemon::server(&file.server.0)?,
        security: security::build(&file.security.0)?,
        log: daemon::log(&file.log.0),
        metrics: daemon::metrics(&file.metrics.0),
        runtime: daemon::runtime(&file.runtime.0)?,
        limits: daemon::limits(&file.limits.0)?,
        storage: daemon::storage(&file.storage.0)?,
        bus: BusSettings { nats: bus::nats(&file.bus.0.nats.0)? },
        engine: engine::build(file)?,
    })
}

/// The shipped settings, from [`SHIPPED`].
///
/// # Panics
///
/// Never in a released build: a test guarantees that [`SHIPPED`] parses.
pub fn shipped() -> Settings {
    match parse(SHIPPED, "config/switchboard.toml") {
        Ok(settings) => settings,
        Err(e) => panic!("the shipped configuration is invalid: {e}"),
    }
}

/// A TOML syntax error, located by line and column.
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ConfigError {
    // The parser gives a byte offset; people count lines and characters from 1. An error without a
    // position (none is known to exist) is put at the end of the text.
    let mut offset = error.span().map_or(text.len(), |s| s.start).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        message: error.message().trim().replace('\n', "; "),
    }
}

#[cfg(test)]
mod tests;
