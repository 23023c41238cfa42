//! `[security]` end to end: API tokens (wrong, expired, removed on reload, scoped to accounts and
//! roles), TLS and mutual TLS on both listeners, the refusal to expose an unprotected daemon, rate
//! limits, and oversize or malformed input. Daemons run on ephemeral loopback ports; certificates
//! are made here, at test time, with rcgen.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_config::Settings;
use switchboard_proto::v1::router_client::RouterClient;
use switchboard_proto::v1::{self, event::Kind};
use switchboard_server::Daemon;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

// ----- fixtures -------------------------------------------------------------------------------

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("switchboard-security-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `[[token]]` entry: name, secret, accounts, roles, expiry.
struct Tok<'a>(&'a str, &'a str, &'a [&'a str], &'a [&'a str], Option<&'a str>);

fn tokens_toml(tokens: &[Tok<'_>]) -> String {
    let list = |l: &[&str]| l.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    tokens
        .iter()
        .map(|Tok(name, secret, accounts, roles, expires)| {
            let hash = switchboard_config::hex(&switchboard_config::hash_token(secret));
            let expires = expires.map(|e| format!("expires = {e}\n")).unwrap_or_default();
            format!(
                "[[token]]\nname = {name:?}\nsha256 = {hash:?}\naccounts = [{}]\nroles = [{}]\n{expires}\n",
                list(accounts),
                list(roles)
            )
        })
        .collect()
}

/// The tokens most tests use.
const ADMIN: &str = "sbt_admin-secret";
const ACME: &str = "sbt_acme-secret";
const BETA_READ: &str = "sbt_beta-read-secret";
const METRICS: &str = "sbt_metrics-secret";
const ACME_METRICS: &str = "sbt_acme-metrics-secret";
const OLD: &str = "sbt_old-secret";

fn standard_tokens() -> String {
    tokens_toml(&[
        Tok("admin", ADMIN, &["*"], &["admin"], None),
        Tok("acme-app", ACME, &["acme"], &["ingest", "read"], None),
        Tok("beta-reader", BETA_READ, &["beta"], &["read"], None),
        Tok("prometheus", METRICS, &["*"], &["metrics"], None),
        Tok("acme-metrics", ACME_METRICS, &["acme"], &["metrics"], None),
        Tok("old", OLD, &["*"], &["admin"], Some("2020-01-01T00:00:00Z")),
    ])
}

fn settings() -> Settings {
    let mut s = Settings::default();
    s.storage.enabled = false;
    s.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    s.server.http_addr = "127.0.0.1:0".parse().unwrap();
    s.runtime.shards = 2;
    s.server.shutdown_grace_ms = 2000;
    s
}

/// Settings with the standard tokens file in `dir`.
fn with_tokens(dir: &Dir) -> Settings {
    let mut s = settings();
    s.security.tokens_file = Some(dir.write("tokens.toml", &standard_tokens()));
    s
}

/// A test PKI: a CA, a server certificate for localhost and 127.0.0.1, a client certificate the CA
/// signed, and one from another CA.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

impl Pki {
    fn new() -> Pki {
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let leaf = |issuer: &CertifiedIssuer<'_, KeyPair>, names: &[&str]| {
            let params =
                CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (ours, theirs) = (ca("switchboard test CA"), ca("another CA"));
        Pki {
            ca: ours.pem(),
            server: leaf(&ours, &["localhost", "127.0.0.1"]),
            client: leaf(&ours, &["client.test"]),
            stranger: leaf(&theirs, &["stranger.test"]),
        }
    }

    /// `[security.tls]` for these files in `dir`, with or without mutual TLS.
    fn configure(&self, dir: &Dir, s: &mut Settings, mutual: bool) {
        s.security.tls = Some(switchboard_config::TlsSettings {
            cert_file: dir.write("server.crt", &self.server.0),
            key_file: dir.write("server.key", &self.server.1),
            client_ca_file: mutual.then(|| dir.write("ca.crt", &self.ca)),
        });
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Client = RouterClient<InterceptedService<Channel, Bearer>>;

fn bearer(token: Option<&str>) -> Bearer {
    Bearer(token.map(|t| format!("Bearer {t}").parse().unwrap()))
}

async fn plain_channel(daemon: &Daemon) -> Channel {
    Channel::from_shared(format!("http://{}", daemon.grpc_addr())).unwrap().connect().await.unwrap()
}

fn client(channel: &Channel, token: Option<&str>) -> Client {
    RouterClient::with_interceptor(channel.clone(), bearer(token))
}

/// A TLS channel trusting the test CA, optionally presenting a client certificate.
async fn tls_channel(
    daemon: &Daemon,
    pki: &Pki,
    identity: Option<&(String, String)>,
) -> Result<Channel, String> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Endpoint::from_shared(format!("https://127.0.0.1:{}", daemon.grpc_addr().port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

fn ev(kind: Kind) -> v1::Event {
    v1::Event { at: None, event_id: None, kind: Some(kind) }
}

fn agent(account: &str, id: &str) -> v1::Event {
    ev(Kind::AgentUpserted(v1::AgentUpserted {
        account: account.into(),
        agent: id.into(),
        capacity: [("messaging".to_string(), 1)].into_iter().collect(),
        ..Default::default()
    }))
}

fn online(account: &str, id: &str) -> v1::Event {
    ev(Kind::AgentStatus(v1::AgentStatus {
        account: account.into(),
        agent: id.into(),
        status: "online".into(),
        channel: None,
    }))
}

fn message(account: &str, conversation: &str) -> v1::Event {
    ev(Kind::Message(v1::Message {
        account: account.into(),
        conversation: conversation.into(),
        requester: "r".into(),
        via: "whatsapp".into(),
        ..Default::default()
    }))
}

fn code_and_message<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    let e = r.expect_err("refused");
    (e.code(), e.message().to_owned())
}

/// An HTTP/1.1 GET over any stream; the status code (0 if none) and the body.
async fn http_get_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

async fn http_get(daemon: &Daemon, path: &str, token: Option<&str>) -> (u16, String) {
    let s = tokio::net::TcpStream::connect(daemon.http_addr()).await.unwrap();
    http_get_on(s, path, token).await
}

/// An HTTPS GET trusting the test CA, optionally with a client certificate; `Err` when the
/// handshake fails.
async fn https_get(
    daemon: &Daemon,
    pki: &Pki,
    identity: Option<&(String, String)>,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap()).unwrap();
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let tcp = tokio::net::TcpStream::connect(daemon.http_addr()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(http_get_on(stream, path, token).await)
}

/// The value of a metric series in the text format (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

// ----- tokens ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn missing_wrong_malformed_and_expired_tokens_are_unauthenticated() {
    let dir = Dir::new("tokens");
    let daemon = Daemon::start(&with_tokens(&dir)).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let cases: [(Bearer, &str); 5] = [
        (bearer(None), "missing token: send the metadata 'authorization: Bearer <token>'"),
        (bearer(Some("sbt_not-a-token")), "unknown token"),
        (bearer(Some("")), "malformed authorization"),
        (Bearer(Some("Basic YWRtaW46YWRtaW4=".parse().unwrap())), "malformed authorization"),
        (bearer(Some(OLD)), "token expired: token 'old' expired at 2020-01-01T00:00:00Z"),
    ];
    for (auth, text) in cases {
        let mut c = RouterClient::with_interceptor(channel.clone(), auth);
        let (code, message) = code_and_message(c.ingest(agent("acme", "ana")).await);
        assert_eq!(code, Code::Unauthenticated, "{message}");
        assert!(message.starts_with(text), "{message:?} does not start with {text:?}");
        let (code, _) = code_and_message(c.list_accounts(v1::ListAccountsRequest {}).await);
        assert_eq!(code, Code::Unauthenticated);
        let (code, _) = code_and_message(c.watch_effects(v1::WatchRequest::default()).await);
        assert_eq!(code, Code::Unauthenticated);
        let (code, _) = code_and_message(c.ingest_stream(tokio_stream::iter(vec![agent("acme", "x")])).await);
        assert_eq!(code, Code::Unauthenticated);
    }
    // Nothing was applied.
    let mut admin = client(&channel, Some(ADMIN));
    assert!(admin.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner().accounts.is_empty());
    // A token lacking the role is known, but refused.
    let mut reader = client(&channel, Some(BETA_READ));
    let (code, message) = code_and_message(reader.ingest(agent("beta", "bob")).await);
    assert_eq!(
        (code, message.as_str()),
        (Code::PermissionDenied, "token 'beta-reader' lacks the role 'ingest' (it has: read)")
    );
    let mut metrics_only = client(&channel, Some(METRICS));
    let (code, _) = code_and_message(metrics_only.list_accounts(v1::ListAccountsRequest {}).await);
    assert_eq!(code, Code::PermissionDenied);
    // Health and reflection need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let r = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(r.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let (_, text) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    for (series, at_least) in [
        ("switchboard_auth_failures_total{reason=\"missing_token\"}", 4.0),
        ("switchboard_auth_failures_total{reason=\"unknown_token\"}", 4.0),
        ("switchboard_auth_failures_total{reason=\"malformed_token\"}", 8.0),
        ("switchboard_auth_failures_total{reason=\"expired_token\"}", 4.0),
        ("switchboard_auth_failures_total{reason=\"role\"}", 2.0),
        ("switchboard_api_tokens", 6.0),
    ] {
        assert!(metric(&text, series) >= at_least, "{series} in\n{text}");
    }
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_one_account_can_neither_read_nor_change_nor_watch_another() {
    let dir = Dir::new("scope");
    let mut s = with_tokens(&dir);
    s.runtime.shards = 1;
    // Offers time out after a second, and events may come a few seconds ahead (see below).
    std::sync::Arc::make_mut(&mut s.engine.defaults).channels[0].offer_timeout_ms = 1000;
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let (mut admin, mut acme) = (client(&channel, Some(ADMIN)), client(&channel, Some(ACME)));
    let mut acme_watch = acme.watch_effects(v1::WatchRequest::default()).await.unwrap().into_inner();

    for account in ["acme", "beta"] {
        admin.ingest(agent(account, "ana")).await.unwrap();
        admin.ingest(online(account, "ana")).await.unwrap();
    }
    // beta's ticket is offered; its offer times out a second later.
    admin.ingest(message("beta", "b1")).await.unwrap();

    // Changing another account: refused, and nothing happens.
    let (code, text) = code_and_message(acme.ingest(message("beta", "evil")).await);
    assert_eq!(
        (code, text.as_str()),
        (Code::PermissionDenied, "token 'acme-app' may not act on account \"beta\"")
    );
    let (code, _) = code_and_message(acme.ingest(ev(Kind::Tick(v1::Tick {}))).await);
    assert_eq!(code, Code::PermissionDenied);
    let events = vec![message("acme", "a1"), message("beta", "evil2"), message("acme", "a2")];
    let reply = acme.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 2);
    let rejected: Vec<_> = reply.rejected.iter().map(|r| (r.index, r.code, r.field.as_str())).collect();
    assert_eq!(rejected, vec![(1, Code::PermissionDenied as i32, "account")]);

    // Reading another account: refused with the same words whether it exists (beta) or not (gamma).
    for account in ["beta", "gamma"] {
        let expected = format!("token 'acme-app' may not act on account {account:?}");
        let refusals = [
            code_and_message(acme.list_agents(v1::ListAgentsRequest { account: account.into() }).await),
            code_and_message(
                acme.get_agent(v1::GetAgentRequest { account: account.into(), agent: "ana".into() }).await,
            ),
            code_and_message(
                acme.get_ticket(v1::GetTicketRequest { account: account.into(), ticket: "b1#1".into() })
                    .await,
            ),
            code_and_message(
                acme.list_queue(v1::ListQueueRequest { account: account.into(), limit: None }).await,
            ),
            code_and_message(
                acme.get_account_stats(v1::GetAccountStatsRequest { account: account.into() }).await,
            ),
            code_and_message(
                acme.watch_effects(v1::WatchRequest { accounts: vec![account.into()], types: vec![] }).await,
            ),
        ];
        for (code, text) in refusals {
            assert_eq!((code, text.as_str()), (Code::PermissionDenied, expected.as_str()));
        }
    }
    // A cross-account read with a read-only token of the other account is refused as well.
    let mut beta_reader = client(&channel, Some(BETA_READ));
    let (code, _) =
        code_and_message(beta_reader.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await);
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(
        beta_reader
            .list_agents(v1::ListAgentsRequest { account: "beta".into() })
            .await
            .unwrap()
            .into_inner()
            .agents
            .len(),
        1
    );
    // Its own account reads normally, and listings show only what the token covers.
    let agents =
        acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap().into_inner();
    assert_eq!(agents.agents.len(), 1);
    let mine = acme.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner().accounts;
    assert_eq!(mine, vec!["acme"]);
    let all = admin.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner().accounts;
    assert_eq!(all, vec!["acme", "beta"]);

    // An event from ahead moves the shard's clock past beta's offer timeout: the timer's effects
    // come with the reply, and a token for acme sees only acme's.
    let ahead = v1::Event { at: Some(now_ms() + 3000), ..message("acme", "a3") };
    let reply = acme.ingest(ahead).await.unwrap().into_inner();
    assert!(!reply.effects.is_empty());
    assert!(reply.effects.iter().all(|e| e.account == "acme"), "{:?}", reply.effects);

    // The watcher that asked for everything got acme's effects only.
    admin.ingest(message("beta", "b2")).await.unwrap();
    admin.ingest(message("acme", "marker")).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(5), acme_watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(v1::watch_item::Item::Effect(e)) = item.item {
            let done = e.ticket == "marker#1";
            seen.push(e);
            if done {
                break;
            }
        }
    }
    assert!(seen.iter().all(|e| e.account == "acme"), "{seen:?}");
    assert!(seen.iter().any(|e| e.ticket == "a1#1"));
    let (_, text) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    assert!(metric(&text, "switchboard_auth_failures_total{reason=\"account\"}") >= 15.0, "{text}");
    daemon.shutdown().await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_removes_and_expires_tokens_and_a_bad_file_keeps_the_old_ones() {
    let dir = Dir::new("reload");
    let s = with_tokens(&dir);
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let (mut admin, mut acme) = (client(&channel, Some(ADMIN)), client(&channel, Some(ACME)));
    acme.ingest(agent("acme", "ana")).await.unwrap();

    // acme-app removed; admin now expired.
    dir.write(
        "tokens.toml",
        &tokens_toml(&[
            Tok("admin", ADMIN, &["*"], &["admin"], Some("2021-06-01T00:00:00Z")),
            Tok("prometheus", METRICS, &["*"], &["metrics"], None),
        ]),
    );
    daemon.reloader().reload().await.unwrap();
    let (code, text) =
        code_and_message(acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await);
    assert_eq!((code, text.as_str()), (Code::Unauthenticated, "unknown token"));
    let (code, text) = code_and_message(admin.list_accounts(v1::ListAccountsRequest {}).await);
    assert_eq!(code, Code::Unauthenticated);
    assert!(text.starts_with("token expired"), "{text}");

    // A file that does not read changes nothing, and says what is wrong.
    dir.write(
        "tokens.toml",
        "[[token]]\nname = \"x\"\nsha256 = \"nope\"\naccounts = [\"*\"]\nroles = [\"admin\"]\n",
    );
    let err = daemon.reloader().reload().await.unwrap_err();
    assert!(
        err.starts_with("security.tokens_file: ") && err.contains("tokens.toml: token[0].sha256"),
        "{err}"
    );
    let (code, _) =
        code_and_message(acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await);
    assert_eq!(code, Code::Unauthenticated);
    std::fs::remove_file(dir.0.join("tokens.toml")).unwrap();
    let err = daemon.reloader().reload().await.unwrap_err();
    assert!(err.contains("cannot read the file"), "{err}");
    let (code, _) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    assert_eq!(code, 200, "the tokens in force were kept");

    // Back again.
    dir.write("tokens.toml", &standard_tokens());
    daemon.reloader().reload().await.unwrap();
    let agents = acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap();
    assert_eq!(agents.into_inner().agents.len(), 1);
    let (_, text) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    assert_eq!(metric(&text, "switchboard_security_reloads_total{result=\"ok\"}"), 2.0);
    assert_eq!(metric(&text, "switchboard_security_reloads_total{result=\"error\"}"), 2.0);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unix_socket_needs_no_token() {
    let dir = Dir::new("uds");
    let mut s = with_tokens(&dir);
    let path = dir.0.join("grpc.sock");
    s.server.grpc_unix_socket = Some(path.clone());
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .unwrap();
    let mut c = RouterClient::new(channel);
    c.ingest(agent("beta", "bob")).await.unwrap();
    assert_eq!(
        c.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner().accounts,
        vec!["beta"]
    );
    // Over TCP the same call needs a token.
    let mut tcp = client(&plain_channel(&daemon).await, None);
    assert_eq!(
        code_and_message(tcp.list_accounts(v1::ListAccountsRequest {}).await).0,
        Code::Unauthenticated
    );
    daemon.shutdown().await;
}

// ----- HTTP -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_a_metrics_token_for_every_account_and_probes_are_open() {
    let dir = Dir::new("http");
    let daemon = Daemon::start(&with_tokens(&dir)).await.unwrap();
    assert_eq!(http_get(&daemon, "/healthz", None).await, (200, "ok\n".into()));
    assert_eq!(http_get(&daemon, "/readyz", None).await, (200, "ready\n".into()));
    let cases = [
        (None, 401, "missing token"),
        (Some("sbt_nope"), 401, "unknown token"),
        (Some(OLD), 401, "token expired"),
        (Some(ACME), 403, "token 'acme-app' lacks the role 'metrics'"),
        (Some(ACME_METRICS), 403, "needs accounts = [\"*\"]"),
    ];
    for (token, code, text) in cases {
        let (got, body) = http_get(&daemon, "/metrics", token).await;
        assert_eq!(got, code, "{token:?}: {body}");
        assert!(body.contains(text), "{body:?} lacks {text:?}");
        assert!(!body.contains("switchboard_events_total"));
    }
    for token in [METRICS, ADMIN] {
        let (code, body) = http_get(&daemon, "/metrics", Some(token)).await;
        assert_eq!(code, 200);
        assert!(body.contains("switchboard_build_info") && body.contains("switchboard_rate_limited_total"));
    }
    // Malformed HTTP is answered 400, and the server goes on.
    let mut s = tokio::net::TcpStream::connect(daemon.http_addr()).await.unwrap();
    s.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 400"), "{:?}", String::from_utf8_lossy(&buf));
    assert_eq!(http_get(&daemon, "/healthz", None).await.0, 200);
    daemon.shutdown().await;
}

// ----- TLS ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn tls_on_both_listeners_and_a_plaintext_client_is_refused_cleanly() {
    let dir = Dir::new("tls");
    let pki = Pki::new();
    let mut s = with_tokens(&dir);
    pki.configure(&dir, &mut s, false);
    let daemon = Daemon::start(&s).await.unwrap();

    let channel = tls_channel(&daemon, &pki, None).await.unwrap();
    let mut acme = client(&channel, Some(ACME));
    acme.ingest(agent("acme", "ana")).await.unwrap();
    let agents = acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap();
    assert_eq!(agents.into_inner().agents[0].id, "ana");
    let (code, _) = code_and_message(
        client(&channel, None).list_agents(v1::ListAgentsRequest { account: "acme".into() }).await,
    );
    assert_eq!(code, Code::Unauthenticated, "TLS does not replace tokens");

    // A plaintext gRPC client fails promptly, with a transport error rather than an answer.
    let started = Instant::now();
    let plain = async {
        let channel = Channel::from_shared(format!("http://{}", daemon.grpc_addr()))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        client(&channel, Some(ACME))
            .list_agents(v1::ListAgentsRequest { account: "acme".into() })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let result = plain.await;
    assert!(result.is_err(), "a plaintext client was answered");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    // A client that does not trust the server's CA is refused too.
    let stranger_ca = Pki::new();
    assert!(tls_channel(&daemon, &stranger_ca, None).await.is_err());

    // HTTP: HTTPS works, plaintext gets no HTTP answer.
    assert_eq!(https_get(&daemon, &pki, None, "/healthz", None).await.unwrap(), (200, "ok\n".into()));
    assert_eq!(https_get(&daemon, &pki, None, "/metrics", None).await.unwrap().0, 401);
    let (code, text) = https_get(&daemon, &pki, None, "/metrics", Some(METRICS)).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(http_get(&daemon, "/healthz", None).await.0, 0, "plaintext HTTP is not answered");
    // The service still works for TLS clients after the plaintext attempts.
    acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap();
    let (_, text_after) = https_get(&daemon, &pki, None, "/metrics", Some(METRICS)).await.unwrap();
    assert!(
        metric(&text_after, "switchboard_tls_handshake_failures_total{listener=\"grpc\"}") >= 1.0,
        "{text}"
    );
    assert!(metric(&text_after, "switchboard_tls_handshake_failures_total{listener=\"http\"}") >= 1.0);

    // New certificate files are used for new connections after a reload; bad ones are refused and
    // the old ones kept.
    std::fs::write(dir.0.join("server.key"), "not a key").unwrap();
    let err = daemon.reloader().reload().await.unwrap_err();
    assert!(err.starts_with("security.tls.key_file: ") && err.contains("server.key"), "{err}");
    assert!(tls_channel(&daemon, &pki, None).await.is_ok());
    let other = Pki::new();
    other.configure(&dir, &mut s, false);
    daemon.reloader().reload().await.unwrap();
    assert!(tls_channel(&daemon, &pki, None).await.is_err(), "the old certificate is gone");
    let fresh = tls_channel(&daemon, &other, None).await.unwrap();
    client(&fresh, Some(ACME)).list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap();
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_requires_a_client_certificate_the_ca_signed() {
    let dir = Dir::new("mtls");
    let pki = Pki::new();
    let mut s = with_tokens(&dir);
    pki.configure(&dir, &mut s, true);
    let daemon = Daemon::start(&s).await.unwrap();

    // Without a certificate, or with one another CA signed: no gRPC at all.
    for identity in [None, Some(&pki.stranger)] {
        let refused = match tls_channel(&daemon, &pki, identity).await {
            Err(_) => true,
            Ok(channel) => {
                client(&channel, Some(ACME)).list_accounts(v1::ListAccountsRequest {}).await.is_err()
            }
        };
        assert!(refused, "gRPC without a trusted client certificate");
    }
    let channel = tls_channel(&daemon, &pki, Some(&pki.client)).await.unwrap();
    let accounts = client(&channel, Some(ACME)).list_accounts(v1::ListAccountsRequest {}).await.unwrap();
    assert!(accounts.into_inner().accounts.is_empty());

    // HTTP: probes need no certificate; /metrics does, besides its token.
    assert_eq!(https_get(&daemon, &pki, None, "/healthz", None).await.unwrap().0, 200);
    assert_eq!(https_get(&daemon, &pki, None, "/readyz", None).await.unwrap().0, 200);
    let (code, body) = https_get(&daemon, &pki, None, "/metrics", Some(METRICS)).await.unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("client certificate"), "{body}");
    let stranger = https_get(&daemon, &pki, Some(&pki.stranger), "/healthz", None).await;
    assert!(stranger.is_err() || stranger.unwrap().0 == 0, "an untrusted certificate fails the handshake");
    let (code, body) = https_get(&daemon, &pki, Some(&pki.client), "/metrics", Some(METRICS)).await.unwrap();
    assert_eq!(code, 200);
    assert!(metric(&body, "switchboard_auth_failures_total{reason=\"client_certificate\"}") >= 1.0);
    daemon.shutdown().await;
}

// ----- exposure -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_address_needs_tls_and_tokens_or_the_insecure_flag() {
    let dir = Dir::new("exposure");
    let pki = Pki::new();
    for key in ["grpc", "http"] {
        let mut s = settings();
        let any = "0.0.0.0:0".parse().unwrap();
        if key == "grpc" {
            s.server.grpc_addr = any
        } else {
            s.server.http_addr = any
        }
        let err = Daemon::start(&s).await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("server.{key}_addr = 0.0.0.0:0 is not a loopback address")),
            "{err}"
        );
        assert!(err.contains("security.insecure = true") && err.contains("nor API tokens"), "{err}");
        // Tokens alone, or TLS alone, are not enough.
        s.security.tokens_file = Some(dir.write("tokens.toml", &standard_tokens()));
        let err = Daemon::start(&s).await.unwrap_err().to_string();
        assert!(err.contains("served with no TLS ([security.tls])"), "{err}");
        let tokens = s.security.tokens_file.take();
        pki.configure(&dir, &mut s, false);
        let err = Daemon::start(&s).await.unwrap_err().to_string();
        assert!(err.contains("served with no API tokens (security.tokens_file)"), "{err}");
        // Both: it starts.
        s.security.tokens_file = tokens;
        Daemon::start(&s).await.unwrap().shutdown().await;
    }
    // With the flag, it starts and serves (reached here over 127.0.0.1 only).
    let mut s = settings();
    s.server.grpc_addr = "0.0.0.0:0".parse().unwrap();
    s.security.insecure = true;
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = Channel::from_shared(format!("http://127.0.0.1:{}", daemon.grpc_addr().port()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    RouterClient::new(channel).ingest(agent("acme", "ana")).await.unwrap();
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_or_invalid_security_files_fail_the_start_naming_the_file() {
    let dir = Dir::new("files");
    let pki = Pki::new();
    let mut s = settings();
    s.security.tokens_file = Some(dir.0.join("absent.toml"));
    let err = Daemon::start(&s).await.unwrap_err().to_string();
    assert!(
        err.starts_with("security.tokens_file: ") && err.contains("absent.toml: cannot read the file"),
        "{err}"
    );
    s.security.tokens_file = Some(dir.write("bad.toml", "[[token]]\nname = \"a\"\n"));
    let err = Daemon::start(&s).await.unwrap_err().to_string();
    assert!(err.contains("bad.toml: token[0].sha256: is required"), "{err}");

    let mut s = settings();
    pki.configure(&dir, &mut s, true);
    let tls = s.security.tls.clone().unwrap();
    let check = |s: &Settings, parts: &'static [&'static str]| {
        let s = s.clone();
        async move {
            let err = Daemon::start(&s).await.unwrap_err().to_string();
            for part in parts {
                assert!(err.contains(part), "{err:?} lacks {part:?}");
            }
        }
    };
    s.security.tls.as_mut().unwrap().cert_file = dir.0.join("none.crt");
    check(&s, &["security.tls.cert_file: ", "none.crt: cannot read the file"]).await;
    s.security.tls.as_mut().unwrap().cert_file = dir.write("garbage.crt", "hello");
    check(&s, &["security.tls.cert_file: ", "garbage.crt: no certificate in the file"]).await;
    s.security.tls = Some(tls.clone());
    s.security.tls.as_mut().unwrap().key_file = tls.cert_file.clone();
    check(&s, &["security.tls.key_file: ", "server.crt: no private key in the file"]).await;
    s.security.tls = Some(tls.clone());
    s.security.tls.as_mut().unwrap().key_file = dir.write("other.key", &pki.client.1);
    check(&s, &["security.tls: the key in ", "does not fit the certificate"]).await;
    s.security.tls = Some(tls.clone());
    s.security.tls.as_mut().unwrap().client_ca_file =
        Some(dir.write("ca-garbage.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
    check(&s, &["security.tls.client_ca_file: ", "ca-garbage.crt"]).await;
    // The good files start.
    s.security.tls = Some(tls);
    Daemon::start(&s).await.unwrap().shutdown().await;
}

// ----- limits ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_refuse_calls_and_slow_streams_down() {
    let dir = Dir::new("rate");
    let mut s = with_tokens(&dir);
    s.security.rate_per_token = 1;
    s.security.rate_per_connection = 0;
    s.security.rate_burst = 5;
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let mut acme = client(&channel, Some(ACME));
    let mut outcomes = Vec::new();
    for _ in 0..7 {
        let r = acme.list_accounts(v1::ListAccountsRequest {}).await;
        outcomes.push(r.map(|_| ()).map_err(|e| (e.code(), e.message().to_owned())));
    }
    assert!(outcomes[..5].iter().all(Result::is_ok), "{outcomes:?}");
    let refused = (Code::ResourceExhausted, "rate limit: 1/s for token 'acme-app'".to_owned());
    assert_eq!(outcomes[5..], [Err(refused.clone()), Err(refused)]);
    // The limit is the token's, over all its connections; other tokens have their own.
    let mut again = client(&plain_channel(&daemon).await, Some(ACME));
    assert_eq!(
        code_and_message(again.list_accounts(v1::ListAccountsRequest {}).await).0,
        Code::ResourceExhausted
    );
    client(&channel, Some(ADMIN)).list_accounts(v1::ListAccountsRequest {}).await.unwrap();
    let (_, text) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    assert_eq!(metric(&text, "switchboard_rate_limited_total{scope=\"token\"}"), 3.0, "{text}");
    daemon.shutdown().await;

    // A stream is slowed down to the rate rather than refused: 40 events at 50/s, 5 at once, take
    // about 0.7 s.
    s.security.rate_per_token = 50;
    let daemon = Daemon::start(&s).await.unwrap();
    let mut acme = client(&plain_channel(&daemon).await, Some(ACME));
    let started = Instant::now();
    let events: Vec<_> = (0..40).map(|i| message("acme", &format!("c{i}"))).collect();
    let reply = acme.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.rejected.len()), (40, 0));
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
    daemon.shutdown().await;

    // Per connection, without tokens: each connection has a bucket of its own.
    let mut s = settings();
    s.security.rate_per_connection = 2;
    s.security.rate_burst = 3;
    let daemon = Daemon::start(&s).await.unwrap();
    let mut c = RouterClient::new(plain_channel(&daemon).await);
    for _ in 0..3 {
        c.list_accounts(v1::ListAccountsRequest {}).await.unwrap();
    }
    let (code, text) = code_and_message(c.list_accounts(v1::ListAccountsRequest {}).await);
    assert_eq!((code, text.as_str()), (Code::ResourceExhausted, "rate limit: 2/s for this connection"));
    RouterClient::new(plain_channel(&daemon).await).list_accounts(v1::ListAccountsRequest {}).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.list_accounts(v1::ListAccountsRequest {}).await.unwrap();
    let (_, text) = http_get(&daemon, "/metrics", None).await;
    assert_eq!(metric(&text, "switchboard_rate_limited_total{scope=\"connection\"}"), 1.0, "{text}");
    daemon.shutdown().await;
}

/// Raw bytes as a gRPC message, to send what no generated client would.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_and_malformed_input_is_refused_and_changes_nothing() {
    let dir = Dir::new("input");
    let mut s = with_tokens(&dir);
    s.limits.max_message_bytes = 4096;
    let daemon = Daemon::start(&s).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let mut acme = client(&channel, Some(ACME));
    acme.ingest(agent("acme", "ana")).await.unwrap();

    // A message over [limits] max_message_bytes.
    let huge = ev(Kind::AgentUpserted(v1::AgentUpserted {
        account: "acme".into(),
        agent: "ana".into(),
        groups: (0..60).map(|i| format!("{i:0>100}")).collect(),
        ..Default::default()
    }));
    let (code, _) = code_and_message(acme.ingest(huge).await);
    assert!(matches!(code, Code::OutOfRange | Code::ResourceExhausted), "{code:?}");
    // Fields over [limits] max_id_bytes, in events and in queries.
    let (code, text) = code_and_message(acme.ingest(agent("acme", &"a".repeat(300))).await);
    assert_eq!(
        (code, text.as_str()),
        (Code::InvalidArgument, "invalid field 'agent': longer than 256 bytes")
    );
    let (code, text) = code_and_message(
        acme.get_agent(v1::GetAgentRequest { account: "acme".into(), agent: "a".repeat(300) }).await,
    );
    assert_eq!(
        (code, text.as_str()),
        (Code::InvalidArgument, "invalid field 'agent': longer than 256 bytes")
    );
    let (code, text) = code_and_message(
        acme.watch_effects(v1::WatchRequest { accounts: vec!["x".repeat(300)], types: vec![] }).await,
    );
    assert_eq!(
        (code, text.as_str()),
        (Code::InvalidArgument, "invalid field 'accounts': longer than 256 bytes")
    );
    // A huge authorization value is refused by the transport or as unknown, never applied.
    let big = Bearer(Some(format!("Bearer {}", "x".repeat(64 * 1024)).parse().unwrap()));
    let r = RouterClient::with_interceptor(plain_channel(&daemon).await, big)
        .ingest(agent("acme", "mallory"))
        .await;
    assert!(r.is_err());

    // Bytes that are no protobuf message, with a valid token.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]);
    request.metadata_mut().insert("authorization", format!("Bearer {ACME}").parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/switchboard.v1.Router/Ingest");
    let r = grpc.unary::<Vec<u8>, Vec<u8>, _>(request, path, RawCodec).await;
    let e = r.expect_err("malformed protobuf refused");
    assert_ne!(e.code(), Code::Ok);
    // Without a token the same bytes are refused before being read.
    let mut request = tonic::Request::new(vec![0xff; 8]);
    request.metadata_mut().insert("authorization", "Bearer nope".parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/switchboard.v1.Router/Ingest");
    grpc.ready().await.unwrap();
    let e = grpc.unary::<Vec<u8>, Vec<u8>, _>(request, path, RawCodec).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Garbage on the gRPC port: the connection is dropped, the daemon goes on.
    let mut raw = tokio::net::TcpStream::connect(daemon.grpc_addr()).await.unwrap();
    raw.write_all(b"\x16\x03\x01 definitely not HTTP/2\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await;

    // Nothing changed.
    let agents =
        acme.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap().into_inner();
    assert_eq!(agents.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec!["ana"]);
    assert_eq!(agents.agents[0].channels[0].capacity, 1);
    let (_, text) = http_get(&daemon, "/metrics", Some(METRICS)).await;
    assert_eq!(metric(&text, "switchboard_grpc_refused_messages_total{reason=\"too_large\"}"), 1.0, "{text}");
    assert_eq!(metric(&text, "switchboard_grpc_refused_messages_total{reason=\"malformed\"}"), 1.0, "{text}");
    daemon.shutdown().await;
}

// ----- reload ---------------------------------------------------------------------------------

/// A daemon configuration file with the tokens in `dir` and messaging in `mode`.
fn config_file(dir: &Dir, mode: &str) -> PathBuf {
    let tokens = dir.0.join("tokens.toml");
    dir.write(
        "switchboard.toml",
        &format!(
            "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\nshutdown_grace_s = 2\n\n\
             [security]\ntokens_file = {:?}\n\n[runtime]\nshards = 2\n\n[storage]\nenabled = false\n\n\
             [channels.messaging]\nmode = {mode:?}\n",
            tokens.display().to_string()
        ),
    )
}

/// The effect types an `Ingest` reply carries.
fn effect_types(reply: v1::IngestReply) -> Vec<String> {
    reply.effects.into_iter().map(|e| e.r#type).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_puts_a_new_routing_configuration_in_force_for_admins_only() {
    let dir = Dir::new("reload-config");
    dir.write("tokens.toml", &standard_tokens());
    let path = config_file(&dir, "offer");
    let settings = switchboard_config::load(&path).unwrap();
    let daemon = Daemon::start_from(&settings, Some(path.clone())).await.unwrap();
    let channel = plain_channel(&daemon).await;
    let (mut admin, mut acme) = (client(&channel, Some(ADMIN)), client(&channel, Some(ACME)));
    acme.ingest(agent("acme", "ana")).await.unwrap();
    acme.ingest(online("acme", "ana")).await.unwrap();
    let first = acme.ingest(message("acme", "c1")).await.unwrap().into_inner();
    assert_eq!(effect_types(first), ["ticket_created", "offered"], "offer mode");

    // Only an admin of every account may reload.
    let (code, text) = code_and_message(acme.reload(v1::ReloadRequest {}).await);
    assert_eq!(
        (code, text.as_str()),
        (Code::PermissionDenied, "token 'acme-app' lacks the role 'admin' (it has: ingest, read)")
    );

    // Messaging switched to auto: the next ticket is assigned without an offer; c1's offer stays.
    config_file(&dir, "auto");
    let reply = admin.reload(v1::ReloadRequest {}).await.unwrap().into_inner();
    assert_eq!(
        reply,
        v1::ReloadReply {
            source: path.display().to_string(),
            engine_changed: true,
            tokens: 6,
            restart_needed: vec![]
        }
    );
    acme.ingest(agent("acme", "bob")).await.unwrap();
    let second = acme.ingest(online("acme", "bob")).await.unwrap().into_inner();
    assert_eq!(effect_types(second), Vec::<String>::new(), "nothing waits");
    let third = acme.ingest(message("acme", "c2")).await.unwrap().into_inner();
    assert_eq!(effect_types(third), ["ticket_created", "assigned", "status_changed"], "auto mode");
    let c1 = acme
        .get_ticket(v1::GetTicketRequest { account: "acme".into(), ticket: "c1#1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c1.offered_to.as_deref(), Some("ana"), "the offer made before stays");

    // An invalid file is refused with its reason; the configuration in force stays.
    dir.write("switchboard.toml", "[channels.messaging]\nmode = \"sometimes\"\n");
    let (code, text) = code_and_message(admin.reload(v1::ReloadRequest {}).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert!(text.contains("switchboard.toml") && text.contains("mode"), "{text}");
    // So is one the running state does not fit, and one that changes a section needing a restart
    // is applied for the rest and says so.
    let channels_changed = std::fs::read_to_string(config_file(&dir, "auto")).unwrap()
        + "\n[channels.video]\nmode = \"offer\"\n";
    dir.write("switchboard.toml", &channels_changed);
    let (code, text) = code_and_message(admin.reload(v1::ReloadRequest {}).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert!(text.contains("the channels cannot change while running"), "{text}");
    let restart =
        std::fs::read_to_string(config_file(&dir, "offer")).unwrap().replace("shards = 2", "shards = 3");
    dir.write("switchboard.toml", &restart);
    let reply = admin.reload(v1::ReloadRequest {}).await.unwrap().into_inner();
    assert_eq!((reply.engine_changed, reply.restart_needed), (true, vec!["runtime".to_owned()]));
    daemon.shutdown().await;
}
