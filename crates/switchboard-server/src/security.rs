//! Who may do what: API tokens (authentication, roles, account scopes), rate limits, and the
//! metrics of both.
//!
//! Tokens come from the tokens file named by `[security] tokens_file` (SHA-256 hashes only, see
//! `switchboard_config::parse_tokens`). A call presents `authorization: Bearer <token>`; the
//! SHA-256 of what it presents is looked up in a map keyed by hash. The table sits behind an
//! [`ArcSwap`], so a reload swaps it whole while calls keep reading the one they started with.
//!
//! Rate limits are token buckets: one per token (shared by all its connections, kept across
//! reloads) and one per connection (made when the connection is accepted, gone with it).

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_config::{Accounts, Role, SecuritySettings, TokenSpec};
use tonic::Status;
use tonic::metadata::MetadataMap;

/// Everything the listeners and the service need to admit a call.
pub(crate) struct Security {
    /// The tokens file; `None`: no authentication.
    tokens_file: Option<PathBuf>,
    /// The tokens in force.
    tokens: ArcSwap<TokenTable>,
    /// Calls per second per token (0: no limit) and the bucket size.
    rate_per_token: u64,
    /// Calls per second per connection (0: no limit).
    rate_per_connection: u64,
    /// The size of every bucket.
    burst: u64,
    /// TLS, when configured.
    pub(crate) tls: Option<crate::tls::Tls>,
    /// Counters of refusals.
    pub(crate) metrics: SecurityMetrics,
}

/// The security files as read by [`Security::prepare`], not yet in force.
pub(crate) struct Files {
    tokens: Option<TokenTable>,
    tls: Option<crate::tls::Configs>,
}

/// The tokens of one reading of the tokens file.
#[derive(Default)]
struct TokenTable {
    by_hash: HashMap<[u8; 32], Arc<Token>>,
}

/// A token in force.
#[derive(Debug)]
pub(crate) struct Token {
    /// Its entry in the tokens file.
    pub(crate) spec: TokenSpec,
    /// Its rate limit (`None`: none).
    bucket: Option<Arc<Bucket>>,
}

impl Security {
    /// Reads the tokens file and the TLS files named in `settings`. An error names the file.
    pub(crate) fn load(settings: &SecuritySettings) -> Result<Security, String> {
        let metrics = SecurityMetrics::new();
        let tls = settings.tls.as_ref().map(crate::tls::Tls::load).transpose()?;
        let security = Security {
            tokens_file: settings.tokens_file.clone(),
            tokens: ArcSwap::from_pointee(TokenTable::default()),
            rate_per_token: settings.rate_per_token,
            rate_per_connection: settings.rate_per_connection,
            burst: settings.rate_burst,
            tls,
            metrics,
        };
        if let Some(table) = security.read_tokens()? {
            security.metrics.tokens.set(table.by_hash.len() as i64);
            security.tokens.store(Arc::new(table));
        }
        Ok(security)
    }

    /// No authentication, no limits, no TLS: a service used on its own (embedding, tests).
    pub(crate) fn open() -> Security {
        Security {
            tokens_file: None,
            tokens: ArcSwap::from_pointee(TokenTable::default()),
            rate_per_token: 0,
            rate_per_connection: 0,
            burst: 1,
            tls: None,
            metrics: SecurityMetrics::new(),
        }
    }

    /// Whether calls must present a token.
    pub(crate) fn requires_tokens(&self) -> bool {
        self.tokens_file.is_some()
    }

    /// How many tokens are in force.
    pub(crate) fn token_count(&self) -> usize {
        self.tokens.load().by_hash.len()
    }

    /// The tokens file, read into a new table (`None` when there is no tokens file). Buckets of
    /// tokens that stay are kept, so that a reload does not reset their limits.
    fn read_tokens(&self) -> Result<Option<TokenTable>, String> {
        let Some(path) = &self.tokens_file else { return Ok(None) };
        let file = switchboard_config::load_tokens(path).map_err(|e| format!("security.tokens_file: {e}"))?;
        let old = self.tokens.load();
        let by_hash = file
            .tokens
            .into_iter()
            .map(|spec| {
                let bucket = match old.by_hash.get(&spec.sha256) {
                    Some(t) => t.bucket.clone(),
                    None => Bucket::new(self.rate_per_token, self.burst).map(Arc::new),
                };
                (spec.sha256, Arc::new(Token { spec, bucket }))
            })
            .collect();
        Ok(Some(TokenTable { by_hash }))
    }

    /// Reads the tokens file and the TLS files again, putting nothing in force yet: a reload
    /// reads everything first, so that an error changes nothing.
    pub(crate) fn prepare(&self) -> Result<Files, String> {
        let tokens = self.read_tokens();
        let tls = self.tls.as_ref().map(|t| t.read()).transpose();
        match (tokens, tls) {
            (Ok(tokens), Ok(tls)) => Ok(Files { tokens, tls }),
            (Err(a), Err(b)) => Err(format!("{a}; {b}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// Puts what [`Security::prepare`] read in force.
    pub(crate) fn install(&self, files: Files) {
        if let Some(table) = files.tokens {
            self.metrics.tokens.set(table.by_hash.len() as i64);
            self.tokens.store(Arc::new(table));
        }
        if let (Some(t), Some(configs)) = (&self.tls, files.tls) {
            t.install(configs);
        }
    }

    /// Counts a reload by its outcome.
    pub(crate) fn count_reload(&self, ok: bool) {
        self.metrics.reloads.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
    }

    /// The token an `authorization` value presents. `None` when no tokens are configured.
    pub(crate) fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Option<Arc<Token>>, AuthError> {
        if !self.requires_tokens() {
            return Ok(None);
        }
        let result = authenticate(&self.tokens.load(), authorization, now_ms());
        if let Err(e) = &result {
            self.metrics.auth_failures.with_label_values(&[e.reason]).inc();
        }
        result.map(Some)
    }

    /// The caller of a gRPC call, from its metadata.
    pub(crate) fn caller(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let value = metadata.get("authorization").map(|v| v.as_bytes());
        match self.authenticate(value) {
            Ok(None) => Ok(Caller::Open),
            Ok(Some(token)) => Ok(Caller::Token(token)),
            Err(e) => Err(Status::unauthenticated(e.message)),
        }
    }

    /// A fresh bucket for a new connection (`None`: no per-connection limit).
    pub(crate) fn connection_bucket(&self) -> Option<Arc<Bucket>> {
        Bucket::new(self.rate_per_connection, self.burst).map(Arc::new)
    }

    /// Counts a permission refusal.
    pub(crate) fn denied(&self, reason: &'static str) {
        self.metrics.auth_failures.with_label_values(&[reason]).inc();
    }

    /// Takes one from the connection's bucket, then the caller's. A refusal is counted and says
    /// which limit was hit (`rate limit: N/s for ...`).
    pub(crate) fn take(&self, connection: Option<&Bucket>, caller: &Caller) -> Result<(), String> {
        if let Some(b) = connection
            && b.take().is_err()
        {
            self.metrics.rate_limited.with_label_values(&["connection"]).inc();
            return Err(format!("rate limit: {}/s for this connection", b.rate));
        }
        if let Caller::Token(t) = caller
            && let Some(b) = &t.bucket
            && b.take().is_err()
        {
            self.metrics.rate_limited.with_label_values(&["token"]).inc();
            return Err(format!("rate limit: {}/s for token '{}'", b.rate, t.spec.name));
        }
        Ok(())
    }

    /// Like [`Security::take`], but waits for room instead of refusing (streams).
    pub(crate) async fn pace(&self, connection: Option<&Bucket>, caller: &Caller) {
        if let Some(b) = connection {
            while let Err(wait) = b.take() {
                self.metrics.rate_limited.with_label_values(&["connection"]).inc();
                tokio::time::sleep(wait).await;
            }
        }
        if let Caller::Token(t) = caller
            && let Some(b) = &t.bucket
        {
            while let Err(wait) = b.take() {
                self.metrics.rate_limited.with_label_values(&["token"]).inc();
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Why a presented token was not accepted.
#[derive(Debug)]
pub(crate) struct AuthError {
    /// The `reason` label of `switchboard_auth_failures_total`.
    pub(crate) reason: &'static str,
    /// What the client is told.
    pub(crate) message: String,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Finds the token an `authorization` value (`Bearer <token>`) presents.
///
/// The lookup is by the SHA-256 of the presented token in a hash map. Its timing depends only on
/// that hash, which an attacker can compute but not steer towards a stored hash (that would be a
/// preimage attack), and a stored hash is useless without its token; so no constant-time
/// comparison is needed (docs/decisions.md, "Security").
fn authenticate(table: &TokenTable, value: Option<&[u8]>, now_ms: u64) -> Result<Arc<Token>, AuthError> {
    let Some(value) = value else {
        return Err(AuthError {
            reason: "missing_token",
            message: "missing token: send the metadata 'authorization: Bearer <token>'".into(),
        });
    };
    let malformed = || AuthError {
        reason: "malformed_token",
        message: "malformed authorization: expected 'Bearer <token>'".into(),
    };
    let text = std::str::from_utf8(value).map_err(|_| malformed())?;
    let (scheme, token) = text.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    let hash = switchboard_config::hash_token(token);
    let Some(found) = table.by_hash.get(&hash) else {
        return Err(AuthError { reason: "unknown_token", message: "unknown token".into() });
    };
    if found.spec.expired_at(now_ms) {
        return Err(AuthError {
            reason: "expired_token",
            message: format!(
                "token expired: token '{}' expired at {}",
                found.spec.name,
                found.spec.expires.as_deref().unwrap_or("?")
            ),
        });
    }
    Ok(found.clone())
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// No tokens are configured, or the call came over the Unix socket: everything is allowed.
    Open,
    /// A token, with its roles and accounts.
    Token(Arc<Token>),
}

impl Caller {
    /// Refuses a caller without `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), Status> {
        match self {
            Caller::Token(t) if !t.spec.has_role(role) => {
                let has: Vec<&str> = t.spec.roles.iter().map(|r| r.as_str()).collect();
                Err(Status::permission_denied(format!(
                    "token '{}' lacks the role '{role}' (it has: {})",
                    t.spec.name,
                    has.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// Refuses a caller that may not act on `account`. The message is the same whether the
    /// account exists or not.
    pub(crate) fn account(&self, account: &str) -> Result<(), Status> {
        if self.sees(account) {
            return Ok(());
        }
        let name = match self {
            Caller::Token(t) => t.spec.name.as_str(),
            Caller::Open => "",
        };
        Err(Status::permission_denied(format!("token '{name}' may not act on account {account:?}")))
    }

    /// Refuses a caller whose token does not cover every account (`what` needs them all).
    pub(crate) fn every_account(&self, what: &str) -> Result<(), Status> {
        match self {
            Caller::Token(t) if t.spec.accounts != Accounts::All => Err(Status::permission_denied(format!(
                "token '{}' is limited to some accounts; {what} concerns every account and needs \
                 accounts = [\"*\"]",
                t.spec.name
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the caller may see `account`.
    pub(crate) fn sees(&self, account: &str) -> bool {
        match self {
            Caller::Open => true,
            Caller::Token(t) => t.spec.accounts.contains(account),
        }
    }

    /// The accounts the caller is limited to; `None` for every account.
    pub(crate) fn scope(&self) -> Option<&[String]> {
        match self {
            Caller::Token(t) => match &t.spec.accounts {
                Accounts::Only(list) => Some(list),
                Accounts::All => None,
            },
            Caller::Open => None,
        }
    }
}

/// A token bucket: `rate` a second, at most `burst` at once.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: u64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket; `None` for rate 0 (no limit).
    pub(crate) fn new(rate: u64, burst: u64) -> Option<Bucket> {
        let burst = burst.max(1) as f64;
        (rate > 0).then(|| Bucket { rate, burst, state: Mutex::new((burst, Instant::now())) })
    }

    /// Takes one, or says how long until one is there.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        let mut state = self.state.lock();
        let now = Instant::now();
        let (tokens, last) = *state;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate as f64).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate as f64))
        }
    }
}

/// The security families, in a registry of their own that `/metrics` appends to the runtime's.
pub(crate) struct SecurityMetrics {
    registry: Registry,
    /// `switchboard_auth_failures_total{reason}`.
    auth_failures: IntCounterVec,
    /// `switchboard_rate_limited_total{scope}`.
    rate_limited: IntCounterVec,
    /// `switchboard_tls_handshake_failures_total{listener}`.
    pub(crate) handshake_failures: IntCounterVec,
    /// `switchboard_security_reloads_total{result}`.
    reloads: IntCounterVec,
    /// `switchboard_api_tokens`.
    tokens: IntGauge,
    /// `switchboard_grpc_refused_messages_total{reason}`.
    refused_messages: IntCounterVec,
}

impl SecurityMetrics {
    fn new() -> SecurityMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let auth_failures = counter(
            "switchboard_auth_failures_total",
            "Calls refused for their credentials: missing_token, malformed_token, unknown_token, \
             expired_token, role, account, client_certificate",
            "reason",
        );
        let rate_limited = counter(
            "switchboard_rate_limited_total",
            "Calls refused, and stream events held back, by a rate limit: token or connection",
            "scope",
        );
        let handshake_failures = counter(
            "switchboard_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out (plaintext clients, untrusted or missing client \
             certificates), by listener: grpc or http",
            "listener",
        );
        let reloads = counter(
            "switchboard_security_reloads_total",
            "Reloads (SIGHUP or the Reload RPC) of the configuration file, tokens file and TLS files, by \
             result: ok, or error (nothing changed)",
            "result",
        );
        let refused_messages = counter(
            "switchboard_grpc_refused_messages_total",
            "gRPC messages refused before a method could read them: too_large (over [limits] \
             max_message_bytes) or malformed (not a valid protobuf message)",
            "reason",
        );
        for (c, labels) in [
            (&auth_failures, &["missing_token", "unknown_token", "expired_token", "role", "account"][..]),
            (&rate_limited, &["token", "connection"][..]),
            (&refused_messages, &["too_large", "malformed"][..]),
        ] {
            for l in labels {
                c.with_label_values(&[*l]);
            }
        }
        let tokens = IntGauge::new("switchboard_api_tokens", "API tokens in force (from the tokens file)")
            .expect("a valid metric");
        registry.register(Box::new(tokens.clone())).expect("registered once");
        SecurityMetrics {
            registry,
            auth_failures,
            rate_limited,
            handshake_failures,
            reloads,
            tokens,
            refused_messages,
        }
    }

    /// Counts a message the gRPC library refused to decode; other statuses are not counted here.
    pub(crate) fn refused_message(&self, status: &Status) {
        let reason = match status.code() {
            tonic::Code::OutOfRange => "too_large",
            tonic::Code::Internal if status.message().contains("decode") => "malformed",
            _ => return,
        };
        self.refused_messages.with_label_values(&[reason]).inc();
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut buf = String::new();
        let _ = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut buf);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(specs: &[(&str, &str, Option<u64>)]) -> TokenTable {
        let by_hash = specs
            .iter()
            .map(|(name, secret, expires_ms)| {
                let spec = TokenSpec {
                    name: (*name).into(),
                    sha256: switchboard_config::hash_token(secret),
                    accounts: Accounts::Only(vec!["acme".into()]),
                    roles: vec![Role::Read],
                    expires_ms: *expires_ms,
                    expires: expires_ms.map(|_| "2027-01-01T00:00:00Z".into()),
                };
                (spec.sha256, Arc::new(Token { spec, bucket: None }))
            })
            .collect();
        TokenTable { by_hash }
    }

    #[test]
    fn bearer_tokens_are_found_by_hash() {
        let t = table(&[("a", "sbt_secret", None), ("old", "sbt_old", Some(1000))]);
        let ok = |v: &str| authenticate(&t, Some(v.as_bytes()), 5000).map(|t| t.spec.name.clone());
        let reason = |v: Option<&str>| authenticate(&t, v.map(str::as_bytes), 5000).unwrap_err().reason;
        assert_eq!(ok("Bearer sbt_secret").unwrap(), "a");
        assert_eq!(ok("bearer  sbt_secret ").unwrap(), "a");
        assert_eq!(reason(None), "missing_token");
        assert_eq!(reason(Some("Basic abc")), "malformed_token");
        assert_eq!(reason(Some("Bearer")), "malformed_token");
        assert_eq!(reason(Some("Bearer sbt_wrong")), "unknown_token");
        assert_eq!(reason(Some("Bearer sbt_old")), "expired_token");
        let e = authenticate(&t, Some(b"Bearer sbt_old"), 5000).unwrap_err();
        assert!(e.message.starts_with("token expired"), "{}", e.message);
        assert_eq!(authenticate(&t, Some(b"Bearer \xff"), 0).unwrap_err().reason, "malformed_token");
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let b = Bucket::new(1000, 5).unwrap();
        for _ in 0..5 {
            b.take().unwrap();
        }
        let wait = b.take().unwrap_err();
        assert!(wait <= Duration::from_millis(1), "{wait:?}");
        std::thread::sleep(Duration::from_millis(3));
        b.take().unwrap();
        assert!(Bucket::new(0, 5).is_none());
    }

    #[test]
    fn callers_are_scoped() {
        let t = table(&[("a", "s", None)]);
        let caller = Caller::Token(t.by_hash.values().next().unwrap().clone());
        assert!(caller.require(Role::Read).is_ok());
        let e = caller.require(Role::Ingest).unwrap_err();
        assert_eq!(e.message(), "token 'a' lacks the role 'ingest' (it has: read)");
        assert!(caller.account("acme").is_ok());
        let e = caller.account("beta").unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (tonic::Code::PermissionDenied, "token 'a' may not act on account \"beta\"")
        );
        assert!(caller.every_account("a tick").is_err());
        assert_eq!(caller.scope(), Some(&["acme".to_string()][..]));
        assert!(Caller::Open.every_account("x").is_ok() && Caller::Open.sees("any"));
    }
}
