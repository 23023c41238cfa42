//! Errors, and the key paths (`channels.talk.mode`, `style_rules[1].style`) that name where they are.

use thiserror::Error;

/// Why a configuration file was refused. Each variant displays as one line that starts with the
/// file's name.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{origin}: cannot read the file: {error}")]
    Read {
        /// The file.
        origin: String,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}: line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error, in characters.
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// A key that no setting reads, most likely a typo.
    #[error("{origin}: unknown key '{key}'")]
    UnknownKey {
        /// The file.
        origin: String,
        /// Its key path, e.g. `routing.asignment_method`.
        key: String,
    },
    /// A value Switchboard cannot use: wrong type, out of range, or naming something that does not exist.
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        /// The file.
        origin: String,
        /// The key path of the value, e.g. `style_rules[1].style`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The settings passed every check of this crate but not the engine's own
    /// [`switchboard_core::Config::check`]; this points to a gap in this crate's checks.
    #[error("{origin}: {error}")]
    Inconsistent {
        /// The file.
        origin: String,
        /// The engine's complaint.
        error: switchboard_core::config::ConfigError,
    },
}

/// A refused value before the file's name is known to the code that found it.
#[derive(Debug)]
pub(crate) struct Bad {
    /// Key path of the value.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Bad {
    /// A refusal of the value at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Bad { key: key.into(), reason: reason.into() }
    }

    /// The error as reported for the file `origin`.
    pub fn within(self, origin: &str) -> ConfigError {
        ConfigError::Invalid { origin: origin.to_owned(), key: self.key, reason: self.reason }
    }
}

/// `base.key`, with `key` quoted the way TOML needs it when it is not a bare key (so that an account
/// named `acme.eu` reads `accounts."acme.eu"`, not as two keys). An empty `base` is the top level.
pub(crate) fn join(base: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare { key.to_owned() } else { format!("{key:?}") };
    if base.is_empty() { key } else { format!("{base}.{key}") }
}

/// `base[index]`, counted from 0.
pub(crate) fn index(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

/// Comma-separated names, for "known: ..." and "one of ..." lists.
pub(crate) fn listing<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// The key path of a value that failed to deserialize.
pub(crate) fn tracked_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter().fold(String::new(), |at, segment| match segment {
        Segment::Seq { index: i } => index(&at, *i),
        Segment::Map { key } | Segment::Enum { variant: key } => join(&at, key),
        Segment::Unknown => at,
    })
}

/// The key path of a key that nothing read.
pub(crate) fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index: i } => index(&ignored_path(parent), *i),
        Path::Map { parent, key } => join(&ignored_path(parent), key),
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}
