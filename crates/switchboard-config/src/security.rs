//! `[security]`: TLS, API tokens and rate limits; and the API tokens file it names.
//!
//! The section only names files and sets numbers: whether the files can be read, and whether the
//! certificates are valid, is the daemon's to find out when it starts (and when it reloads them),
//! so that a configuration can be checked on a machine that does not hold the secrets.
//!
//! The tokens file ([`load_tokens`], [`parse_tokens`]) holds SHA-256 hashes of the tokens, never the
//! tokens themselves:
//!
//! ```toml
//! [[token]]
//! name = "crm-ingest"
//! sha256 = "<64 hex digits: the SHA-256 of the token>"
//! accounts = ["acme"]          # or ["*"] for every account
//! roles = ["ingest", "read"]   # ingest, read, admin, metrics
//! expires = 2027-01-01T00:00:00Z
//! ```

use crate::error::{Bad, index, join};
use crate::raw::{Count, Flag, Table, TableList, Text, Texts};
use crate::{ConfigError, error};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// `[security]`: who may use the daemon, over what, and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    /// Allows listening on a non-loopback address without TLS and tokens (the daemon refuses to
    /// start that way otherwise). Off by default.
    pub insecure: bool,
    /// The API tokens file; `None` (the default): no authentication, so loopback only.
    pub tokens_file: Option<PathBuf>,
    /// `[security.tls]`: TLS on the gRPC and HTTP listeners; `None` (the default): plaintext.
    pub tls: Option<TlsSettings>,
    /// Events and calls per second one token may make, over all its connections; 0: no limit.
    pub rate_per_token: u64,
    /// Events and calls per second one connection may make; 0: no limit.
    pub rate_per_connection: u64,
    /// How many events and calls a token or a connection may make at once before its rate applies
    /// (the size of its token bucket).
    pub rate_burst: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            insecure: false,
            tokens_file: None,
            tls: None,
            rate_per_token: 20_000,
            rate_per_connection: 100_000,
            rate_burst: 40_000,
        }
    }
}

/// `[security.tls]`: the server's certificate and, for mutual TLS, the CA its clients' must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert_file: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// When set, clients must present a certificate this CA (PEM, one or more) signed.
    pub client_ca_file: Option<PathBuf>,
}

/// `[security]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawSecurity {
    insecure: Option<Flag>,
    tokens_file: Option<Text>,
    tls: Option<Table<RawTls>>,
    rate_per_token: Option<Count>,
    rate_per_connection: Option<Count>,
    rate_burst: Option<Count>,
}

/// `[security.tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawTls {
    cert_file: Option<Text>,
    key_file: Option<Text>,
    client_ca_file: Option<Text>,
}

/// Rates: 10 million a second is far beyond what one daemon can serve.
const RATE: (usize, usize) = (0, 10_000_000);

/// Bursts: at least one call, at most 100 million.
const BURST: (usize, usize) = (1, 100_000_000);

/// `[security]`.
pub(crate) fn build(raw: &RawSecurity) -> Result<SecuritySettings, Bad> {
    let shipped = SecuritySettings::default();
    let path = |v: &Option<Text>, key: &str| -> Result<Option<PathBuf>, Bad> {
        match v {
            None => Ok(None),
            Some(Text(p)) if p.is_empty() => Err(Bad::new(key, "must not be empty (leave the key out)")),
            Some(Text(p)) => Ok(Some(PathBuf::from(p))),
        }
    };
    let tls = match &raw.tls {
        None => None,
        Some(Table(t)) => {
            let cert = path(&t.cert_file, "security.tls.cert_file")?;
            let key = path(&t.key_file, "security.tls.key_file")?;
            let client_ca_file = path(&t.client_ca_file, "security.tls.client_ca_file")?;
            match (cert, key) {
                (Some(cert_file), Some(key_file)) => {
                    Some(TlsSettings { cert_file, key_file, client_ca_file })
                }
                (None, _) => {
                    return Err(Bad::new("security.tls.cert_file", "is required in [security.tls]"));
                }
                (Some(_), None) => {
                    return Err(Bad::new("security.tls.key_file", "is required with security.tls.cert_file"));
                }
            }
        }
    };
    let count =
        |v, range, shipped: u64, key| crate::daemon::count(v, range, shipped as usize, key).map(|n| n as u64);
    Ok(SecuritySettings {
        insecure: raw.insecure.map_or(shipped.insecure, |f| f.0),
        tokens_file: path(&raw.tokens_file, "security.tokens_file")?,
        tls,
        rate_per_token: count(raw.rate_per_token, RATE, shipped.rate_per_token, "security.rate_per_token")?,
        rate_per_connection: count(
            raw.rate_per_connection,
            RATE,
            shipped.rate_per_connection,
            "security.rate_per_connection",
        )?,
        rate_burst: count(raw.rate_burst, BURST, shipped.rate_burst, "security.rate_burst")?,
    })
}

// ----- the tokens file ------------------------------------------------------------------------

/// What a token may do. `admin` includes every other role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `Ingest` and `IngestStream`.
    Ingest,
    /// Queries (`Get*`, `List*`) and `WatchEffects`.
    Read,
    /// Everything, including what concerns the whole daemon.
    Admin,
    /// `GET /metrics`.
    Metrics,
}

impl Role {
    /// Every role, in the order messages list them.
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Read, Role::Admin, Role::Metrics];

    /// The name in the tokens file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        }
    }

    /// The role of a name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The accounts a token may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// Every account, present and future (`["*"]`).
    All,
    /// These accounts only, sorted.
    Only(Vec<String>),
}

impl Accounts {
    /// Whether `account` is among them.
    pub fn contains(&self, account: &str) -> bool {
        match self {
            Accounts::All => true,
            Accounts::Only(list) => list.binary_search_by(|a| a.as_str().cmp(account)).is_ok(),
        }
    }
}

/// One `[[token]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// The name logs and messages use; unique in the file.
    pub name: String,
    /// The SHA-256 of the token.
    pub sha256: [u8; 32],
    /// The accounts it may act on.
    pub accounts: Accounts,
    /// Its roles, in [`Role::ALL`] order, without repeats.
    pub roles: Vec<Role>,
    /// When it stops working, in milliseconds since the Unix epoch; `None`: never.
    pub expires_ms: Option<u64>,
    /// `expires` as the file wrote it, for messages.
    pub expires: Option<String>,
}

impl TokenSpec {
    /// Whether the token has `role`; `admin` has every role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether the token has expired at `now_ms` (milliseconds since the Unix epoch).
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|e| now_ms >= e)
    }

    /// The `[[token]]` entry, as the tokens file holds it (`expires` as written in [`Self::expires`]).
    pub fn to_toml(&self) -> String {
        let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let list = |items: &mut dyn Iterator<Item = &str>| items.map(quoted).collect::<Vec<_>>().join(", ");
        let accounts = match &self.accounts {
            Accounts::All => quoted("*"),
            Accounts::Only(list_) => list(&mut list_.iter().map(String::as_str)),
        };
        let mut text = format!(
            "[[token]]\nname = {}\nsha256 = {}\naccounts = [{accounts}]\nroles = [{}]\n",
            quoted(&self.name),
            quoted(&hex(&self.sha256)),
            list(&mut self.roles.iter().map(|r| r.as_str())),
        );
        if let Some(expires) = &self.expires {
            text.push_str(&format!("expires = {expires}\n"));
        }
        text
    }
}

/// The tokens file, read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokensFile {
    /// The entries, in file order.
    pub tokens: Vec<TokenSpec>,
}

/// The SHA-256 of a token, as the tokens file's `sha256` holds it (in hex).
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and checks the tokens file at `path`.
pub fn load_tokens(path: &Path) -> Result<TokensFile, ConfigError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_tokens(&text, &origin),
        Err(error) => Err(ConfigError::Read { origin, error }),
    }
}

/// Reads and checks a tokens file's text; `origin` names it in messages.
pub fn parse_tokens(text: &str, origin: &str) -> Result<TokensFile, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| crate::syntax_error(text, origin, &e))?;
    let mut unknown = None;
    let mut note_unknown = |path: serde_ignored::Path<'_>| {
        unknown.get_or_insert_with(|| error::ignored_path(&path));
    };
    let file: Result<RawTokensFile, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(table, &mut note_unknown));
    if let Some(key) = unknown {
        return Err(ConfigError::UnknownKey { origin: origin.to_owned(), key });
    }
    let file = file.map_err(|e| ConfigError::Invalid {
        origin: origin.to_owned(),
        key: error::tracked_path(e.path()),
        reason: e.inner().message().to_owned(),
    })?;
    tokens(&file).map_err(|e| e.within(origin))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTokensFile {
    token: Option<TableList<RawToken>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawToken {
    name: Option<Text>,
    sha256: Option<Text>,
    accounts: Option<Texts>,
    roles: Option<Texts>,
    expires: Option<When>,
}

/// A TOML date-time, as milliseconds since the Unix epoch and as written.
#[derive(Debug)]
struct When(u64, String);

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read through the key-path trackers, a TOML date-time arrives as its text; a quoted one
        // reads the same, and is accepted too.
        let value = toml::Value::deserialize(d)?;
        let what = "a date-time with a UTC offset, e.g. 2027-01-01T00:00:00Z";
        let parsed = match &value {
            toml::Value::Datetime(dt) => Some(*dt),
            toml::Value::String(s) => s.parse::<toml::value::Datetime>().ok(),
            _ => None,
        };
        match parsed.and_then(|dt| unix_ms(&dt).map(|ms| When(ms, dt.to_string()))) {
            Some(when) => Ok(when),
            None => {
                let shown = match &value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Table(_) => "a table".to_owned(),
                    v => v.to_string(),
                };
                Err(de::Error::custom(format!("must be {what}, got {shown}")))
            }
        }
    }
}

/// Milliseconds since the Unix epoch of a date-time with an offset (`None` without one; 0 before
/// 1970).
fn unix_ms(dt: &toml::value::Datetime) -> Option<u64> {
    use toml::value::Offset;
    let (date, time, offset) = (dt.date?, dt.time?, dt.offset?);
    let offset_min = match offset {
        Offset::Z => 0,
        Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(i64::from(date.year), i64::from(date.month), i64::from(date.day));
    let seconds =
        days * 86_400 + i64::from(time.hour) * 3600 + i64::from(time.minute) * 60 + i64::from(time.second)
            - offset_min * 60;
    let ms = seconds * 1000 + i64::from(time.nanosecond / 1_000_000);
    Some(u64::try_from(ms).unwrap_or(0))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A token name: what logs and messages can show as is.
fn token_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 64 {
        return Err(format!("{name:?} is longer than 64 bytes"));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))) {
        Some(c) => Err(format!("{name:?} contains {c:?} (letters, digits, '-', '_', '.', '@' and ':' only)")),
        None => Ok(()),
    }
}

fn sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn tokens(file: &RawTokensFile) -> Result<TokensFile, Bad> {
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], usize> = HashMap::new();
    let Some(TableList(list)) = &file.token else {
        return Ok(TokensFile::default());
    };
    for (i, Table(t)) in list.iter().enumerate() {
        let at = index("token", i);
        let key = |k: &str| join(&at, k);
        let name = match &t.name {
            None => return Err(Bad::new(key("name"), "is required")),
            Some(Text(n)) => n.clone(),
        };
        token_name(&name).map_err(|r| Bad::new(key("name"), r))?;
        if let Some(first) = names.insert(name.clone(), i) {
            return Err(Bad::new(key("name"), format!("{name:?} is already the name of token[{first}]")));
        }
        let sha256 = match &t.sha256 {
            None => return Err(Bad::new(key("sha256"), "is required (`switchboard token hash` prints it)")),
            Some(Text(h)) => sha256_hex(h).ok_or_else(|| {
                Bad::new(key("sha256"), format!("{h:?} is not a SHA-256 in hex (64 hex digits)"))
            })?,
        };
        if let Some(first) = hashes.insert(sha256, i) {
            return Err(Bad::new(
                key("sha256"),
                format!("is the same as token[{first}]'s: one token, two entries"),
            ));
        }
        let accounts = match &t.accounts {
            None => {
                return Err(Bad::new(
                    key("accounts"),
                    "is required (a list of accounts, or [\"*\"] for all)",
                ));
            }
            Some(Texts(list)) if list.is_empty() => {
                return Err(Bad::new(key("accounts"), "must list at least one account (or \"*\" for all)"));
            }
            Some(Texts(list)) if list.iter().any(|a| a == "*") => {
                if list.len() > 1 {
                    return Err(Bad::new(
                        key("accounts"),
                        "\"*\" stands alone: it already means every account",
                    ));
                }
                Accounts::All
            }
            Some(Texts(list)) => {
                if list.iter().any(String::is_empty) {
                    return Err(Bad::new(key("accounts"), "an account id must not be empty"));
                }
                let mut sorted = list.clone();
                sorted.sort();
                sorted.dedup();
                Accounts::Only(sorted)
            }
        };
        let roles = match &t.roles {
            None => return Err(Bad::new(key("roles"), "is required (ingest, read, admin, metrics)")),
            Some(Texts(list)) if list.is_empty() => {
                return Err(Bad::new(key("roles"), "must list at least one of ingest, read, admin, metrics"));
            }
            Some(Texts(list)) => {
                for r in list {
                    if Role::parse(r).is_none() {
                        return Err(Bad::new(
                            key("roles"),
                            format!("{r:?} is not one of ingest, read, admin, metrics"),
                        ));
                    }
                }
                Role::ALL.into_iter().filter(|r| list.iter().any(|n| n == r.as_str())).collect()
            }
        };
        let (expires_ms, expires) = match &t.expires {
            None => (None, None),
            Some(When(ms, text)) => (Some(*ms), Some(text.clone())),
        };
        out.push(TokenSpec { name, sha256, accounts, roles, expires_ms, expires });
    }
    Ok(TokensFile { tokens: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SHIPPED, Settings, parse};

    fn settings(text: &str) -> SecuritySettings {
        match parse(text, "x.toml") {
            Ok(s) => s.security,
            Err(e) => panic!("refused: {e}\n{text}"),
        }
    }

    fn refused(text: &str, part: &str) {
        let e = parse(text, "x.toml").expect_err(text).to_string();
        assert!(e.starts_with("x.toml: ") && e.contains(part), "{e:?} lacks {part:?}");
    }

    #[test]
    fn the_section_is_read_whole() {
        let s = settings(
            r#"
[security]
insecure = true
tokens_file = "/etc/sb/tokens.toml"
rate_per_token = 0
rate_per_connection = 10000000
rate_burst = 1
[security.tls]
cert_file = "s.crt"
key_file = "s.key"
client_ca_file = "ca.crt"
"#,
        );
        assert_eq!(
            s,
            SecuritySettings {
                insecure: true,
                tokens_file: Some("/etc/sb/tokens.toml".into()),
                tls: Some(TlsSettings {
                    cert_file: "s.crt".into(),
                    key_file: "s.key".into(),
                    client_ca_file: Some("ca.crt".into()),
                }),
                rate_per_token: 0,
                rate_per_connection: 10_000_000,
                rate_burst: 1,
            }
        );
        assert_eq!(Settings::default().security, SecuritySettings::default());
        assert_eq!(settings("[security]\n"), SecuritySettings::default());
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        // Uncommenting the shipped examples gives a valid file.
        let text = SHIPPED
            .replace("# tokens_file = ", "tokens_file = ")
            .replace("# [security.tls]", "[security.tls]")
            .replace("# cert_file = ", "cert_file = ")
            .replace("# key_file = ", "key_file = ")
            .replace("# client_ca_file = ", "client_ca_file = ");
        let s = settings(&text);
        assert_eq!(s.tokens_file, Some(PathBuf::from("/etc/switchboard/tokens.toml")));
        assert_eq!(s.tls.unwrap().client_ca_file, Some(PathBuf::from("/etc/switchboard/tls/ca.crt")));
    }

    #[test]
    fn refusals_name_the_key() {
        refused("[security]\ntokens_file = \"\"\n", "security.tokens_file: must not be empty");
        refused("[security.tls]\nkey_file = \"k\"\n", "security.tls.cert_file: is required");
        refused("[security.tls]\ncert_file = \"c\"\n", "security.tls.key_file: is required");
        refused(
            "[security.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nclient_ca_file = \"\"\n",
            "client_ca_file",
        );
        refused("[security]\nrate_burst = 0\n", "security.rate_burst: 0 is below the minimum 1");
        refused("[security]\nrate_per_token = 10000001\n", "security.rate_per_token: 10000001 is above");
        refused("[security]\ninsecure = \"yes\"\n", "security.insecure: must be true or false");
        refused("[security]\ntoken_file = \"t\"\n", "unknown key 'security.token_file'");
        refused("[security.tls]\ncert = \"c\"\n", "unknown key 'security.tls.cert'");
    }

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_tokens_file_is_read_and_checked() {
        let text = format!(
            r#"
[[token]]
name = "crm-ingest"
sha256 = "{HASH}"
accounts = ["beta", "acme", "acme"]
roles = ["read", "ingest"]
expires = 2027-01-01T01:00:00+01:00

[[token]]
name = "prometheus"
sha256 = "{}"
accounts = ["*"]
roles = "metrics"
"#,
            HASH.to_uppercase().replace('9', "8")
        );
        let file = parse_tokens(&text, "tokens.toml").unwrap();
        let [crm, prom] = &file.tokens[..] else { panic!("{file:?}") };
        assert_eq!(crm.name, "crm-ingest");
        assert_eq!(hex(&crm.sha256), HASH);
        assert_eq!(crm.sha256, hash_token("test"));
        assert_eq!(crm.accounts, Accounts::Only(vec!["acme".into(), "beta".into()]));
        assert_eq!(crm.roles, vec![Role::Ingest, Role::Read]);
        // 2027-01-01T00:00:00Z.
        assert_eq!(crm.expires_ms, Some(1_798_761_600_000));
        assert!(!crm.expired_at(1_798_761_599_999) && crm.expired_at(1_798_761_600_000));
        assert!(crm.has_role(Role::Read) && !crm.has_role(Role::Metrics));
        assert!(prom.accounts.contains("anything") && prom.expires_ms.is_none());
        let admin = TokenSpec { roles: vec![Role::Admin], ..prom.clone() };
        assert!(Role::ALL.iter().all(|r| admin.has_role(*r)));
        assert_eq!(parse_tokens("", "t").unwrap(), TokensFile::default());
        // An entry written out reads back the same.
        for spec in &file.tokens {
            assert_eq!(&parse_tokens(&spec.to_toml(), "t").unwrap().tokens[0], spec);
        }
        let odd = TokenSpec { accounts: Accounts::Only(vec!["a \"b\" \u{e9}".into()]), ..crm.clone() };
        assert_eq!(parse_tokens(&odd.to_toml(), "t").unwrap().tokens[0], odd);
        // A quoted date-time reads like an unquoted one.
        let quoted = text.replace("2027-01-01T01:00:00+01:00", "\"2027-01-01T01:00:00+01:00\"");
        assert_eq!(parse_tokens(&quoted, "t").unwrap(), file);
    }

    #[test]
    fn tokens_file_refusals_name_the_entry_and_key() {
        let entry = |extra: &str| {
            format!(
                "[[token]]\nname = \"a\"\nsha256 = \"{HASH}\"\naccounts = [\"x\"]\nroles = [\"read\"]\n{extra}"
            )
        };
        let bad = |text: &str, part: &str| {
            let e = parse_tokens(text, "tokens.toml").expect_err(text).to_string();
            assert!(e.starts_with("tokens.toml: ") && e.contains(part), "{e:?} lacks {part:?}");
        };
        bad(
            &entry("expires = \"soon\""),
            "token[0].expires: must be a date-time with a UTC offset, e.g. 2027-01-01T00:00:00Z, got soon",
        );
        bad(&entry("expires = 1"), "token[0].expires: must be a date-time");
        bad(
            &entry("expires = 2027-01-01T00:00:00"),
            "token[0].expires: must be a date-time with a UTC offset",
        );
        bad(&entry("expires = 2027-01-01"), "token[0].expires");
        bad(&entry("scope = 1"), "unknown key 'token[0].scope'");
        bad(&format!("{}{}", entry(""), entry("")), "token[1].name: \"a\" is already the name of token[0]");
        bad(
            &format!("{}{}", entry(""), entry("").replace("\"a\"", "\"b\"")),
            "token[1].sha256: is the same as token[0]'s",
        );
        bad(&entry("").replace(HASH, "abc"), "token[0].sha256: \"abc\" is not a SHA-256");
        bad(&entry("").replace("[\"x\"]", "[]"), "token[0].accounts: must list at least one");
        bad(&entry("").replace("[\"x\"]", "[\"*\", \"x\"]"), "\"*\" stands alone");
        bad(
            &entry("").replace("[\"read\"]", "[\"write\"]"),
            "token[0].roles: \"write\" is not one of ingest, read, admin, metrics",
        );
        bad(&entry("").replace("name = \"a\"", "name = \"a b\""), "token[0].name: \"a b\" contains ' '");
        bad(&entry("").replace("name = \"a\"\n", ""), "token[0].name: is required");
        bad("[token]\nname = \"a\"\n", "token: must be a list of tables");
        bad("[[token]\n", "tokens.toml: line 1");
    }
}
