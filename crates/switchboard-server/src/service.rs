//! The `switchboard.v1.Router` gRPC service, on top of the runtime.
//!
//! Every call passes the [`Gate`] before its message is read: the connection's rate limit, the
//! caller's token (when tokens are configured and the call did not come over the Unix socket), the
//! token's rate limit. The method then checks the role it needs, and that the token covers the
//! account it names before looking anything up, so a refusal says nothing about whether the
//! account exists; what comes back (effects, account lists) is filtered to the accounts the token
//! covers.

use crate::security::{Caller, Security};
use crate::tls::ConnInfo;
use futures_util::FutureExt;
use futures_util::stream::{FuturesOrdered, Stream, StreamExt};
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use switchboard_config::Role;
use switchboard_core::{Effect, ErrorClass};
use switchboard_proto::convert::{self, FieldError, FieldLimits};
use switchboard_proto::v1;
use switchboard_runtime::metrics::Metrics;
use switchboard_runtime::watch::RecvError;
use switchboard_runtime::{IngestError, Runtime, Submission};
use tokio::sync::watch;
use tonic::{Code, Request, Response, Status, Streaming};

/// Events of one `IngestStream` in flight at once: enough to keep the shards busy, small enough that
/// HTTP/2 flow control pushes back on a fast client instead of buffering here.
const STREAM_WINDOW: usize = 512;

/// Most events of one `IngestStream` handed to the shards at once: whatever has arrived, up to this.
const STREAM_CHUNK: usize = 256;

/// How long a stream waits for room in a full shard before refusing an event.
const STREAM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// What the service needs to know of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    /// Sizes of incoming fields.
    pub fields: FieldLimits,
    /// Concurrent `WatchEffects` streams.
    pub max_watchers: usize,
    /// Most entries `ListQueue` returns.
    pub max_queue_listing: usize,
}

/// The gRPC service.
#[derive(Clone)]
pub struct RouterService {
    runtime: Runtime,
    limits: ServiceLimits,
    watchers: Arc<AtomicUsize>,
    shutdown: watch::Receiver<bool>,
    security: Arc<Security>,
    /// How `Reload` reloads; `None` when the service runs outside a daemon.
    reloader: Option<crate::Reloader>,
}

/// Admits calls before their message is read: the connection's rate limit, the caller's token
/// (unless the call came over the Unix socket, whose file permissions are its authentication), the
/// token's rate limit. The [`Caller`] it finds goes into the request's extensions for the method,
/// which checks the role and the accounts.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) security: Arc<Security>,
    /// Calls come over the Unix socket: no token is asked for.
    pub(crate) trusted: bool,
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let conn = request.extensions().get::<ConnInfo>();
        // The connection's limit comes first: it also bounds how fast one connection can guess.
        let bucket = conn.and_then(|c| c.bucket.as_deref());
        self.security.take(bucket, &Caller::Open).map_err(Status::resource_exhausted)?;
        let caller = if self.trusted {
            Caller::Open
        } else {
            self.security.caller(request.metadata()).inspect_err(|e| {
                let remote = conn.map(|c| c.remote.to_string()).unwrap_or_default();
                tracing::debug!(%remote, error = e.message(), "call refused: not authenticated");
            })?
        };
        self.security.take(None, &caller).map_err(Status::resource_exhausted)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

impl RouterService {
    /// A service over `runtime`; watch streams end when `shutdown` turns true. On its own it is
    /// open to every caller: the daemon puts a [`Gate`] in front of it.
    pub fn new(runtime: Runtime, limits: ServiceLimits, shutdown: watch::Receiver<bool>) -> Self {
        RouterService {
            runtime,
            limits,
            watchers: Arc::new(AtomicUsize::new(0)),
            shutdown,
            security: Arc::new(Security::open()),
            reloader: None,
        }
    }

    /// The same service, answering `Reload` with `reloader`.
    pub(crate) fn with_reloader(self, reloader: crate::Reloader) -> Self {
        RouterService { reloader: Some(reloader), ..self }
    }

    /// The same service under `security`.
    pub(crate) fn with_security(self, security: Arc<Security>) -> Self {
        RouterService { security, ..self }
    }

    /// The caller the [`Gate`] admitted, if it has `role`.
    fn admit<T>(&self, request: &Request<T>, role: Role) -> Result<Caller, Status> {
        let caller = request.extensions().get::<Caller>().cloned().unwrap_or(Caller::Open);
        caller.require(role).inspect_err(|_| self.security.denied("role"))?;
        Ok(caller)
    }

    /// Refuses `caller` for `account` (counted).
    fn account(&self, caller: &Caller, account: &str) -> Result<(), Status> {
        caller.account(account).inspect_err(|_| self.security.denied("account"))
    }

    /// A required id of a query: present and within `[limits] max_id_bytes`.
    fn id(&self, field: &str, value: &str) -> Result<(), Status> {
        required(field, value)?;
        if value.len() > self.limits.fields.max_id_bytes {
            return Err(Status::invalid_argument(format!(
                "invalid field '{field}': longer than {} bytes",
                self.limits.fields.max_id_bytes
            )));
        }
        Ok(())
    }

    fn metrics(&self) -> &Metrics {
        self.runtime.metrics()
    }

    /// Records the latency and outcome of a call.
    fn observe<T>(&self, method: &str, started: Instant, result: &Result<T, Status>) {
        let code = match result {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        self.metrics()
            .grpc_duration
            .with_label_values(&[method, code_name(code)])
            .observe(started.elapsed().as_secs_f64());
    }

    async fn ingest_one(&self, caller: &Caller, event: v1::Event) -> Result<v1::IngestReply, Status> {
        let incoming = convert::event_from_proto(event, self.limits.fields).map_err(field_status)?;
        self.may_ingest(caller, &incoming.event)?;
        let applied = self
            .runtime
            .ingest(incoming.event, incoming.at, incoming.event_id)
            .await
            .map_err(ingest_status)?;
        // Timers of other accounts of the same shard that fell due before the event are among its
        // effects: a token sees only its own accounts'.
        Ok(v1::IngestReply {
            applied: !applied.duplicate,
            effects: applied
                .effects
                .iter()
                .filter(|e| caller.sees(&e.account))
                .map(convert::effect_to_proto)
                .collect(),
        })
    }

    /// Refuses an event whose account the caller does not cover; a tick, which moves every
    /// account's time, needs a token for every account.
    fn may_ingest(&self, caller: &Caller, event: &switchboard_core::Event) -> Result<(), Status> {
        match event.account() {
            Some(account) => self.account(caller, account),
            None => caller.every_account("a tick").inspect_err(|_| self.security.denied("account")),
        }
    }
}

/// The `Status` for an event the message alone shows to be bad.
fn field_status(e: FieldError) -> Status {
    Status::invalid_argument(e.message)
}

/// The `Status` for an event the runtime did not apply.
pub(crate) fn ingest_status(e: IngestError) -> Status {
    match e {
        IngestError::Refused(r) => {
            let code = match r.class {
                ErrorClass::InvalidArgument => Code::InvalidArgument,
                ErrorClass::NotFound => Code::NotFound,
                ErrorClass::FailedPrecondition => Code::FailedPrecondition,
                ErrorClass::AlreadyExists => Code::AlreadyExists,
            };
            Status::new(code, r.message)
        }
        IngestError::Saturated(_) => Status::resource_exhausted(e.to_string()),
        IngestError::Stopped | IngestError::Unavailable(_) => Status::unavailable(e.to_string()),
    }
}

fn unknown_account(account: &str) -> Status {
    Status::not_found(format!("invalid field 'account': unknown account {account:?}"))
}

fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("missing field '{field}'")));
    }
    Ok(())
}

/// The lower-case name Prometheus labels use for a status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// A `WatchEffects` stream.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchItem, Status>> + Send>>;

/// What a watcher asked to see.
struct Filter {
    accounts: HashSet<String>,
    types: HashSet<String>,
}

impl Filter {
    fn wants(&self, e: &Effect) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&*e.account))
            && (self.types.is_empty() || self.types.contains(e.kind.type_name()))
    }
}

/// Decrements the watcher count when a stream ends, however it ends.
struct WatcherSlot {
    watchers: Arc<AtomicUsize>,
    runtime: Runtime,
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::AcqRel);
        self.runtime.metrics().watchers.dec();
    }
}

#[tonic::async_trait]
impl v1::router_server::Router for RouterService {
    async fn ingest(&self, request: Request<v1::Event>) -> Result<Response<v1::IngestReply>, Status> {
        let started = Instant::now();
        let result = match self.admit(&request, Role::Ingest) {
            Ok(caller) => self.ingest_one(&caller, request.into_inner()).await,
            Err(status) => Err(status),
        };
        self.observe("Ingest", started, &result);
        result.map(Response::new)
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<v1::Event>>,
    ) -> Result<Response<v1::IngestStreamReply>, Status> {
        let started = Instant::now();
        let caller = match self.admit(&request, Role::Ingest) {
            Ok(caller) => caller,
            Err(status) => {
                let result = Err(status);
                self.observe("IngestStream", started, &result);
                return result;
            }
        };
        let bucket = request.extensions().get::<ConnInfo>().and_then(|c| c.bucket.clone());
        let mut stream = request.into_inner();
        let mut reply = v1::IngestStreamReply::default();
        let mut in_flight = FuturesOrdered::new();
        let mut in_flight_events = 0;
        let mut index = 0u64;
        let mut ended = false;
        while !ended {
            // Whatever has already arrived goes to the shards together: one hand-over per shard
            // rather than one per event.
            let mut chunk = match stream.next().await {
                None => break,
                Some(item) => vec![item],
            };
            while chunk.len() < STREAM_CHUNK {
                match stream.next().now_or_never() {
                    Some(Some(item)) => chunk.push(item),
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            let mut submissions = Vec::with_capacity(chunk.len());
            let mut indexes = Vec::with_capacity(chunk.len());
            for item in chunk {
                let event = match item {
                    Ok(event) => event,
                    // A message the stream cannot decode (too large, malformed) ends the stream;
                    // what came before it is reported, and so is this one, at its position.
                    Err(status) => {
                        self.security.metrics.refused_message(&status);
                        reply.rejected.push(rejection(index, &status, ""));
                        ended = true;
                        break;
                    }
                };
                let i = index;
                index += 1;
                // Over a rate limit, the stream waits rather than refusing: reading slower pushes
                // back on the client through HTTP/2 flow control.
                self.security.pace(bucket.as_deref(), &caller).await;
                match convert::event_from_proto(event, self.limits.fields) {
                    Err(e) => reply.rejected.push(rejection(i, &field_status(e.clone()), e.field)),
                    Ok(incoming) => match self.may_ingest(&caller, &incoming.event) {
                        Err(status) => {
                            let field = if incoming.event.account().is_some() { "account" } else { "type" };
                            reply.rejected.push(rejection(i, &status, field));
                        }
                        Ok(()) => {
                            indexes.push(i);
                            submissions.push(Submission {
                                event: incoming.event,
                                at: incoming.at,
                                event_id: incoming.event_id,
                            });
                        }
                    },
                }
            }
            // Submitting in arrival order keeps per-account order; awaiting later keeps many
            // events in flight. A full shard makes the stream wait, not fail.
            if !submissions.is_empty() {
                let pending = self.runtime.submit_many_patiently(submissions, STREAM_PATIENCE).await;
                in_flight_events += indexes.len();
                in_flight.push_back(async move { (indexes, pending.wait().await) });
            }
            while in_flight_events >= STREAM_WINDOW {
                if let Some((indexes, outcomes)) = in_flight.next().await {
                    in_flight_events -= indexes.len();
                    for (i, outcome) in indexes.into_iter().zip(outcomes) {
                        tally(&mut reply, i, outcome);
                    }
                }
            }
        }
        while let Some((indexes, outcomes)) = in_flight.next().await {
            for (i, outcome) in indexes.into_iter().zip(outcomes) {
                tally(&mut reply, i, outcome);
            }
        }
        reply.rejected.sort_by_key(|r| r.index);
        let result = Ok(reply);
        self.observe("IngestStream", started, &result);
        result.map(Response::new)
    }

    type WatchEffectsStream = WatchStream;

    async fn watch_effects(
        &self,
        request: Request<v1::WatchRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let started = Instant::now();
        let result = match self.admit(&request, Role::Read) {
            Ok(caller) => self.watch(&caller, request.into_inner()),
            Err(status) => Err(status),
        };
        self.observe("WatchEffects", started, &result);
        result.map(Response::new)
    }

    async fn get_agent(&self, request: Request<v1::GetAgentRequest>) -> Result<Response<v1::Agent>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let r = request.into_inner();
        let result = async {
            let caller = caller?;
            self.id("account", &r.account)?;
            self.id("agent", &r.agent)?;
            self.account(&caller, &r.account)?;
            let view = self.runtime.read_model().agent(&r.account, &r.agent);
            view.map(|a| convert::agent_to_proto(&a)).ok_or_else(|| {
                Status::not_found(format!("invalid field 'agent': unknown agent {:?}", r.agent))
            })
        }
        .await;
        self.observe("GetAgent", started, &result);
        result.map(Response::new)
    }

    async fn list_agents(
        &self,
        request: Request<v1::ListAgentsRequest>,
    ) -> Result<Response<v1::ListAgentsReply>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let r = request.into_inner();
        let result = async {
            let caller = caller?;
            self.id("account", &r.account)?;
            self.account(&caller, &r.account)?;
            let agents =
                self.runtime.read_model().agents(&r.account).ok_or_else(|| unknown_account(&r.account))?;
            Ok(v1::ListAgentsReply { agents: agents.iter().map(convert::agent_to_proto).collect() })
        }
        .await;
        self.observe("ListAgents", started, &result);
        result.map(Response::new)
    }

    async fn get_ticket(
        &self,
        request: Request<v1::GetTicketRequest>,
    ) -> Result<Response<v1::Ticket>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let r = request.into_inner();
        let result = async {
            let caller = caller?;
            self.id("account", &r.account)?;
            self.id("ticket", &r.ticket)?;
            self.account(&caller, &r.account)?;
            let (account, ticket) = (r.account.clone(), r.ticket.clone());
            let view = self
                .runtime
                .query(&r.account, move |e| e.ticket(&account, &ticket).map(|t| (t, e.now())))
                .await
                .map_err(ingest_status)?;
            view.map(|(t, engine_now)| convert::ticket_to_proto(&t, self.runtime.now().max(engine_now)))
                .ok_or_else(|| {
                    Status::not_found(format!("invalid field 'ticket': unknown ticket {:?}", r.ticket))
                })
        }
        .await;
        self.observe("GetTicket", started, &result);
        result.map(Response::new)
    }

    async fn list_queue(
        &self,
        request: Request<v1::ListQueueRequest>,
    ) -> Result<Response<v1::ListQueueReply>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let r = request.into_inner();
        let result = async {
            let caller = caller?;
            self.id("account", &r.account)?;
            self.account(&caller, &r.account)?;
            let max = self.limits.max_queue_listing;
            let limit = r.limit.map_or(max, |l| (l as usize).min(max));
            let account = r.account.clone();
            let (entries, total, engine_now) = self
                .runtime
                .query(&r.account, move |e| {
                    e.stats(&account).map(|s| (e.queue(&account, limit), s.queued, e.now()))
                })
                .await
                .map_err(ingest_status)?
                .ok_or_else(|| unknown_account(&r.account))?;
            // An event may carry an `at` slightly ahead of the clock: waits never go negative.
            let now = self.runtime.now().max(engine_now);
            Ok(v1::ListQueueReply {
                entries: entries
                    .iter()
                    .enumerate()
                    .map(|(i, q)| convert::queue_entry_to_proto(i, q, now))
                    .collect(),
                total: u64::from(total),
            })
        }
        .await;
        self.observe("ListQueue", started, &result);
        result.map(Response::new)
    }

    async fn get_account_stats(
        &self,
        request: Request<v1::GetAccountStatsRequest>,
    ) -> Result<Response<v1::AccountStats>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let r = request.into_inner();
        let result = async {
            let caller = caller?;
            self.id("account", &r.account)?;
            self.account(&caller, &r.account)?;
            let account = r.account.clone();
            let stats = self
                .runtime
                .query(&r.account, move |e| e.stats(&account).map(|s| (s, e.now())))
                .await
                .map_err(ingest_status)?;
            stats
                .map(|(s, engine_now)| convert::stats_to_proto(&s, self.runtime.now().max(engine_now)))
                .ok_or_else(|| unknown_account(&r.account))
        }
        .await;
        self.observe("GetAccountStats", started, &result);
        result.map(Response::new)
    }

    async fn list_accounts(
        &self,
        request: Request<v1::ListAccountsRequest>,
    ) -> Result<Response<v1::ListAccountsReply>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Read);
        let result = async {
            let caller = caller?;
            // A token limited to some accounts is told about those only.
            let accounts = self
                .runtime
                .read_model()
                .account_names()
                .iter()
                .filter(|a| caller.sees(a))
                .map(|a| a.to_string())
                .collect();
            Ok::<_, Status>(v1::ListAccountsReply { accounts })
        }
        .await;
        self.observe("ListAccounts", started, &result);
        result.map(Response::new)
    }

    async fn reload(&self, request: Request<v1::ReloadRequest>) -> Result<Response<v1::ReloadReply>, Status> {
        let started = Instant::now();
        let caller = self.admit(&request, Role::Admin);
        let result = async {
            caller?.every_account("a reload").inspect_err(|_| self.security.denied("account"))?;
            let reloader = self.reloader.as_ref().ok_or_else(|| {
                Status::unimplemented("this service runs outside a daemon: nothing to reload")
            })?;
            let report = reloader.reload().await.map_err(Status::failed_precondition)?;
            Ok(v1::ReloadReply {
                source: report.source.map(|p| p.display().to_string()).unwrap_or_default(),
                engine_changed: report.engine_changed,
                tokens: report.tokens as u32,
                restart_needed: report.restart_needed.iter().map(|s| s.to_string()).collect(),
            })
        }
        .await;
        self.observe("Reload", started, &result);
        result.map(Response::new)
    }
}

fn tally(
    reply: &mut v1::IngestStreamReply,
    index: u64,
    outcome: Result<switchboard_runtime::Applied, IngestError>,
) {
    match outcome {
        Ok(applied) if applied.duplicate => reply.duplicates += 1,
        Ok(_) => reply.accepted += 1,
        Err(e) => refused(reply, index, e),
    }
}

fn refused(reply: &mut v1::IngestStreamReply, index: u64, e: IngestError) {
    let field = match &e {
        IngestError::Refused(r) => r.field.unwrap_or(""),
        _ => "",
    };
    reply.rejected.push(rejection(index, &ingest_status(e.clone()), field));
}

fn rejection(index: u64, status: &Status, field: &str) -> v1::Rejection {
    v1::Rejection { index, code: status.code() as i32, field: field.into(), error: status.message().into() }
}

impl RouterService {
    fn watch(&self, caller: &Caller, mut r: v1::WatchRequest) -> Result<WatchStream, Status> {
        for account in &r.accounts {
            self.id("accounts", account)?;
        }
        // A token limited to some accounts watches those: all of them when it names none, and
        // never one it does not cover.
        if let Some(scope) = caller.scope() {
            if r.accounts.is_empty() {
                r.accounts = scope.to_vec();
            }
            for account in &r.accounts {
                self.account(caller, account)?;
            }
        }
        for t in &r.types {
            if !switchboard_core::EffectKind::TYPE_NAMES.contains(&t.as_str()) {
                return Err(Status::invalid_argument(format!(
                    "invalid field 'types': unknown effect type {t:?} (one of {})",
                    switchboard_core::EffectKind::TYPE_NAMES.join(", ")
                )));
            }
        }
        let taken = self.watchers.fetch_add(1, Ordering::AcqRel);
        if taken >= self.limits.max_watchers {
            self.watchers.fetch_sub(1, Ordering::AcqRel);
            return Err(Status::resource_exhausted(format!(
                "too many watchers: at most {} WatchEffects streams at once",
                self.limits.max_watchers
            )));
        }
        self.metrics().watchers.inc();
        let slot = WatcherSlot { watchers: self.watchers.clone(), runtime: self.runtime.clone() };
        let filter =
            Filter { accounts: r.accounts.into_iter().collect(), types: r.types.into_iter().collect() };
        let state = (self.runtime.subscribe(), self.shutdown.clone(), filter, slot);
        let stream = futures_util::stream::unfold(state, |(mut rx, mut shutdown, filter, slot)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                let item = tokio::select! {
                    _ = shutdown.changed() => return None,
                    item = rx.recv() => item,
                };
                let out = match item {
                    Ok(e) if filter.wants(&e) => v1::WatchItem {
                        item: Some(v1::watch_item::Item::Effect(convert::effect_to_proto(&e))),
                    },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => {
                        slot.runtime.metrics().watch_lagged.inc_by(n);
                        v1::WatchItem { item: Some(v1::watch_item::Item::Lagged(n)) }
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(out), (rx, shutdown, filter, slot)));
            }
        });
        Ok(Box::pin(stream))
    }
}
