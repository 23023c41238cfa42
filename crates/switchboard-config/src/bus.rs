//! `[bus.nats]`: ingestion from, and effects to, NATS JetStream.
//!
//! Off by default: the embedded default needs no broker. The names checked here are the ones NATS
//! itself would refuse later, so that a typo stops the daemon at start with the key named, not at
//! the first message.

use crate::error::Bad;
use crate::raw;
use std::path::PathBuf;

/// `[bus]`: message buses the daemon is fed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusSettings {
    /// `[bus.nats]`.
    pub nats: NatsSettings,
}

/// `[bus.nats]`: where and how the daemon consumes events and publishes effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// Whether the daemon consumes from NATS at all.
    pub enabled: bool,
    /// Server URLs, tried in turn (`nats://host:port`, `tls://host:port`).
    pub servers: Vec<String>,
    /// How the daemon authenticates.
    pub auth: NatsAuth,
    /// TLS towards the servers.
    pub tls: NatsTls,
    /// The stream events are read from.
    pub events_stream: String,
    /// The subjects of that stream (when the daemon creates it) and of the consumer's filter.
    pub events_subject: String,
    /// The durable pull consumer's name.
    pub consumer: String,
    /// Create the streams and the consumer when they are missing.
    pub create: bool,
    /// Publish effects to JetStream.
    pub publish_effects: bool,
    /// The stream effects are stored in (created with `create`).
    pub effects_stream: String,
    /// Effects go to `<prefix>.<account>.<effect type>`.
    pub effects_subject_prefix: String,
    /// The stream dead letters are stored in (created with `create`).
    pub dead_letter_stream: String,
    /// Dead letters go to `<subject>.<account>` (`_` when the account is unknown).
    pub dead_letter_subject: String,
    /// Messages handed to the daemon and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// How long JetStream waits for an acknowledgement before redelivering, in milliseconds.
    pub ack_wait_ms: u64,
    /// The duplicate window of streams the daemon creates, in milliseconds: effects republished
    /// after a crash within it are dropped by JetStream as duplicates.
    pub duplicate_window_ms: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            enabled: false,
            servers: vec!["nats://127.0.0.1:4222".to_owned()],
            auth: NatsAuth::None,
            tls: NatsTls::default(),
            events_stream: "SWITCHBOARD_EVENTS".to_owned(),
            events_subject: "switchboard.events.>".to_owned(),
            consumer: "switchboard".to_owned(),
            create: true,
            publish_effects: true,
            effects_stream: "SWITCHBOARD_EFFECTS".to_owned(),
            effects_subject_prefix: "switchboard.effects".to_owned(),
            dead_letter_stream: "SWITCHBOARD_DEAD".to_owned(),
            dead_letter_subject: "switchboard.dead".to_owned(),
            max_in_flight: 1024,
            ack_wait_ms: 30_000,
            duplicate_window_ms: 600_000,
        }
    }
}

/// How the daemon authenticates to NATS. Secrets are read from files, never written in the
/// configuration, so that the file can be shared and versioned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A token, read from the file.
    Token(PathBuf),
    /// A user name and a password read from the file.
    UserPassword {
        /// The user.
        user: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// A `.creds` file (JWT and NKey seed).
    Credentials(PathBuf),
}

/// TLS towards NATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// Require TLS even when the URL does not say `tls://`.
    pub required: bool,
    /// A CA to trust in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for servers that verify clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The most messages in flight: each holds an event and its reply.
const IN_FLIGHT: (usize, usize) = (1, 65_536);

/// `ack_wait_s`: at most an hour; a redelivery later than that looks like a lost message.
const MAX_ACK_WAIT_S: u64 = 3600;

/// `duplicate_window_s`: at most a day (JetStream keeps every id of the window in memory).
const MAX_DUPLICATE_WINDOW_S: u64 = 24 * 3600;

/// `[bus.nats]`.
pub(crate) fn nats(raw: &raw::Nats) -> Result<NatsSettings, Bad> {
    let shipped = NatsSettings::default();
    let text =
        |v: &Option<raw::Text>, shipped: &str| v.as_ref().map_or_else(|| shipped.to_owned(), |t| t.0.clone());
    let path = |v: &Option<raw::Text>, key: &str| -> Result<Option<PathBuf>, Bad> {
        match v {
            None => Ok(None),
            Some(raw::Text(p)) if p.is_empty() => Err(Bad::new(key, "must not be empty")),
            Some(raw::Text(p)) => Ok(Some(PathBuf::from(p))),
        }
    };

    let servers = match &raw.servers {
        None => shipped.servers,
        Some(raw::Texts(list)) if list.is_empty() => {
            return Err(Bad::new("bus.nats.servers", "must list at least one server"));
        }
        Some(raw::Texts(list)) => list.clone(),
    };
    for (i, url) in servers.iter().enumerate() {
        server_url(url).map_err(|reason| Bad::new(crate::error::index("bus.nats.servers", i), reason))?;
    }

    let token = path(&raw.token_file, "bus.nats.token_file")?;
    let password = path(&raw.password_file, "bus.nats.password_file")?;
    let creds = path(&raw.creds_file, "bus.nats.creds_file")?;
    let user = raw.user.as_ref().map(|t| t.0.clone());
    let auth = match (token, user, password, creds) {
        (None, None, None, None) => NatsAuth::None,
        (Some(t), None, None, None) => NatsAuth::Token(t),
        (None, Some(user), Some(password_file), None) if !user.is_empty() => {
            NatsAuth::UserPassword { user, password_file }
        }
        (None, Some(_), Some(_), None) => return Err(Bad::new("bus.nats.user", "must not be empty")),
        (None, Some(_), None, None) => {
            return Err(Bad::new("bus.nats.password_file", "is required with bus.nats.user"));
        }
        (None, None, Some(_), None) => {
            return Err(Bad::new("bus.nats.user", "is required with bus.nats.password_file"));
        }
        (None, None, None, Some(c)) => NatsAuth::Credentials(c),
        _ => {
            return Err(Bad::new(
                "bus.nats",
                "set one way of authenticating: token_file, user with password_file, or creds_file",
            ));
        }
    };

    let cert = path(&raw.tls_cert_file, "bus.nats.tls_cert_file")?;
    let key = path(&raw.tls_key_file, "bus.nats.tls_key_file")?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err(Bad::new("bus.nats.tls_key_file", "is required with tls_cert_file")),
        (None, Some(_)) => return Err(Bad::new("bus.nats.tls_cert_file", "is required with tls_key_file")),
    };
    let tls = NatsTls {
        required: raw.tls_required.map_or(shipped.tls.required, |f| f.0),
        ca_file: path(&raw.tls_ca_file, "bus.nats.tls_ca_file")?,
        client,
    };

    let settings = NatsSettings {
        enabled: raw.enabled.map_or(shipped.enabled, |f| f.0),
        servers,
        auth,
        tls,
        events_stream: text(&raw.events_stream, &shipped.events_stream),
        events_subject: text(&raw.events_subject, &shipped.events_subject),
        consumer: text(&raw.consumer, &shipped.consumer),
        create: raw.create.map_or(shipped.create, |f| f.0),
        publish_effects: raw.publish_effects.map_or(shipped.publish_effects, |f| f.0),
        effects_stream: text(&raw.effects_stream, &shipped.effects_stream),
        effects_subject_prefix: text(&raw.effects_subject_prefix, &shipped.effects_subject_prefix),
        dead_letter_stream: text(&raw.dead_letter_stream, &shipped.dead_letter_stream),
        dead_letter_subject: text(&raw.dead_letter_subject, &shipped.dead_letter_subject),
        max_in_flight: crate::daemon::count(
            raw.max_in_flight,
            IN_FLIGHT,
            shipped.max_in_flight,
            "bus.nats.max_in_flight",
        )?,
        ack_wait_ms: match raw.ack_wait_s {
            None => shipped.ack_wait_ms,
            Some(raw::Count(0)) => return Err(Bad::new("bus.nats.ack_wait_s", "must be at least 1")),
            Some(raw::Count(s)) => {
                crate::engine::seconds(s, MAX_ACK_WAIT_S, "1-hour", "bus.nats.ack_wait_s".into())?
            }
        },
        duplicate_window_ms: match raw.duplicate_window_s {
            None => shipped.duplicate_window_ms,
            Some(raw::Count(0)) => {
                return Err(Bad::new("bus.nats.duplicate_window_s", "must be at least 1"));
            }
            Some(raw::Count(s)) => crate::engine::seconds(
                s,
                MAX_DUPLICATE_WINDOW_S,
                "1-day",
                "bus.nats.duplicate_window_s".into(),
            )?,
        },
    };
    for (key, name) in [
        ("bus.nats.events_stream", &settings.events_stream),
        ("bus.nats.effects_stream", &settings.effects_stream),
        ("bus.nats.dead_letter_stream", &settings.dead_letter_stream),
        ("bus.nats.consumer", &settings.consumer),
    ] {
        stream_name(name).map_err(|reason| Bad::new(key, reason))?;
    }
    subject(&settings.events_subject, true).map_err(|r| Bad::new("bus.nats.events_subject", r))?;
    for (key, s) in [
        ("bus.nats.effects_subject_prefix", &settings.effects_subject_prefix),
        ("bus.nats.dead_letter_subject", &settings.dead_letter_subject),
    ] {
        subject(s, false).map_err(|reason| Bad::new(key, reason))?;
    }
    // Effects published to a subject the events stream also captures would be read back as events.
    for (key, s) in [
        ("bus.nats.effects_subject_prefix", &settings.effects_subject_prefix),
        ("bus.nats.dead_letter_subject", &settings.dead_letter_subject),
    ] {
        if subject_matches(&settings.events_subject, &format!("{s}.x.y")) {
            return Err(Bad::new(
                key,
                format!("{s:?} falls under bus.nats.events_subject {:?}", settings.events_subject),
            ));
        }
    }
    Ok(settings)
}

/// A server URL: `nats://`, `tls://`, `ws://` or `wss://` (or none) then `host:port`.
fn server_url(url: &str) -> Result<(), String> {
    let rest = ["nats://", "tls://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .unwrap_or(url);
    let host_port = rest.rsplit('@').next().unwrap_or(rest);
    // A scheme other than the known ones is left unstripped, so `rest` still holds its "://".
    let ok = !host_port.is_empty() && !url.contains(char::is_whitespace) && !rest.contains("://");
    if ok { Ok(()) } else { Err(format!("{url:?} is not a NATS server URL (e.g. nats://127.0.0.1:4222)")) }
}

/// A stream or consumer name: what JetStream accepts.
fn stream_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    match name.chars().find(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\')) {
        Some(c) => Err(format!("{name:?} contains {c:?}, which NATS does not allow in a name")),
        None => Ok(()),
    }
}

/// A subject: dot-separated non-empty tokens without whitespace; wildcards only where allowed.
fn subject(s: &str, wildcards: bool) -> Result<(), String> {
    let tokens: Vec<&str> = s.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(format!("{s:?} is not a NATS subject (dot-separated words, no spaces)"));
        }
        let wild = *token == "*" || *token == ">";
        if (wild && !wildcards) || token.len() > 1 && token.contains(['*', '>']) {
            return Err(format!("{s:?} may not contain wildcards here"));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(format!("{s:?}: '>' must be the last word"));
        }
    }
    Ok(())
}

/// Whether the subject `filter` (possibly with wildcards) matches the literal subject `s`.
fn subject_matches(filter: &str, s: &str) -> bool {
    let mut f = filter.split('.');
    let mut t = s.split('.');
    loop {
        match (f.next(), t.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("switchboard.events.>", "switchboard.events.acme"));
        assert!(subject_matches("a.*.c", "a.b.c"));
        assert!(!subject_matches("a.*.c", "a.b.d"));
        assert!(!subject_matches("switchboard.events.>", "switchboard.effects.acme.x"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }

    #[test]
    fn names_and_subjects() {
        assert!(stream_name("SWITCHBOARD_EVENTS").is_ok());
        assert!(stream_name("a.b").is_err());
        assert!(stream_name("").is_err());
        assert!(subject("a.b.>", true).is_ok());
        assert!(subject("a.>.b", true).is_err());
        assert!(subject("a.*", false).is_err());
        assert!(subject("a..b", false).is_err());
        assert!(subject("a b", false).is_err());
        assert!(server_url("nats://127.0.0.1:4222").is_ok());
        assert!(server_url("127.0.0.1:4222").is_ok());
        assert!(server_url("nats://").is_err());
        assert!(server_url("http://x").is_err());
    }
}
