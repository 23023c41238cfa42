//! The real daemon on ephemeral loopback ports, driven over gRPC and HTTP as clients drive it.

use std::time::Duration;
use switchboard_config::Settings;
use switchboard_proto::v1::router_client::RouterClient;
use switchboard_proto::v1::{self, event::Kind};
use switchboard_server::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::transport::Channel;

fn settings() -> Settings {
    let mut s = Settings::default();
    // In memory: these tests are about the API (durability has its own).
    s.storage.enabled = false;
    s.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    s.server.http_addr = "127.0.0.1:0".parse().unwrap();
    s.runtime.shards = 2;
    s.server.shutdown_grace_ms = 2000;
    s
}

async fn start(settings: Settings) -> (Daemon, RouterClient<Channel>) {
    let daemon = Daemon::start(&settings).await.expect("daemon starts");
    let client = RouterClient::connect(format!("http://{}", daemon.grpc_addr())).await.expect("connect");
    (daemon, client)
}

fn ev(kind: Kind) -> v1::Event {
    v1::Event { at: None, event_id: None, kind: Some(kind) }
}

fn agent(id: &str, cap: u32) -> v1::Event {
    ev(Kind::AgentUpserted(v1::AgentUpserted {
        account: "acme".into(),
        agent: id.into(),
        groups: vec!["support".into()],
        skills: vec!["english".into()],
        capacity: [("messaging".to_string(), cap), ("email".to_string(), cap)].into_iter().collect(),
    }))
}

fn online(id: &str) -> v1::Event {
    ev(Kind::AgentStatus(v1::AgentStatus {
        account: "acme".into(),
        agent: id.into(),
        status: "online".into(),
        channel: None,
    }))
}

fn message(conversation: &str, via: &str) -> v1::Event {
    ev(Kind::Message(v1::Message {
        account: "acme".into(),
        conversation: conversation.into(),
        requester: "r".into(),
        via: via.into(),
        ..Default::default()
    }))
}

fn answer(ticket: &str, agent: &str) -> v1::OfferAnswer {
    v1::OfferAnswer { account: "acme".into(), ticket: ticket.into(), agent: agent.into() }
}

fn status(ticket: &str, status: &str) -> v1::Event {
    ev(Kind::TicketStatus(v1::TicketStatus {
        account: "acme".into(),
        ticket: ticket.into(),
        status: status.into(),
    }))
}

fn types(reply: &v1::IngestReply) -> Vec<String> {
    reply.effects.iter().map(|e| format!("{} {}", e.r#type, e.ticket)).collect()
}

async fn http_get(daemon: &Daemon, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(daemon.http_addr()).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_chat_conversation_end_to_end() {
    let (daemon, mut c) = start(settings()).await;
    let mut watch = c.watch_effects(v1::WatchRequest::default()).await.unwrap().into_inner();
    c.ingest(agent("ana", 2)).await.unwrap();
    c.ingest(online("ana")).await.unwrap();
    let r = c.ingest(message("v1", "web_widget")).await.unwrap().into_inner();
    assert_eq!(types(&r), vec!["ticket_created v1#1", "offered v1#1"]);
    assert_eq!(r.effects[0].style.as_deref(), Some("live_chat"));
    let r = c.ingest(ev(Kind::OfferAccepted(answer("v1#1", "ana")))).await.unwrap().into_inner();
    assert_eq!(types(&r), vec!["assigned v1#1", "status_changed v1#1"]);
    let t = c
        .get_ticket(v1::GetTicketRequest { account: "acme".into(), ticket: "v1#1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (t.status.as_str(), t.assignee.as_deref(), t.style.as_str()),
        ("open", Some("ana"), "live_chat")
    );
    let r = c.ingest(status("v1#1", "solved")).await.unwrap().into_inner();
    assert_eq!(r.effects.last().unwrap().to.as_deref(), Some("closed"));
    let r = c.ingest(message("v1", "web_widget")).await.unwrap().into_inner();
    assert_eq!(r.effects[0].follow_up_of.as_deref(), Some("v1#1"));
    // The watcher saw all of it, in order.
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let item =
            tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
        if let Some(v1::watch_item::Item::Effect(e)) = item.item {
            seen.push(format!("{} {}", e.r#type, e.ticket));
        }
    }
    assert_eq!(seen[..4], ["ticket_created v1#1", "offered v1#1", "assigned v1#1", "status_changed v1#1"]);
    assert_eq!(seen[6..], ["ticket_created v1#2", "offered v1#2"]);
    daemon.shutdown().await;
    // The stream ends cleanly with the daemon.
    let end = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn offer_timeouts_fire_on_the_wall_clock() {
    let mut s = settings();
    std::sync::Arc::make_mut(&mut s.engine.defaults).channels[0].offer_timeout_ms = 300;
    let (daemon, mut c) = start(s).await;
    let mut watch = c
        .watch_effects(v1::WatchRequest {
            accounts: vec!["acme".into()],
            types: vec!["offer_withdrawn".into()],
        })
        .await
        .unwrap()
        .into_inner();
    c.ingest(agent("ana", 1)).await.unwrap();
    c.ingest(online("ana")).await.unwrap();
    let offered_at = c.ingest(message("c", "whatsapp")).await.unwrap().into_inner().effects[1].at;
    let item = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
    let Some(v1::watch_item::Item::Effect(e)) = item.item else { panic!("{item:?}") };
    assert_eq!(
        (e.r#type.as_str(), e.reason.as_deref(), e.at),
        ("offer_withdrawn", Some("timeout"), offered_at + 300)
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_show_agents_queue_and_stats() {
    let (daemon, mut c) = start(settings()).await;
    c.ingest(agent("ana", 1)).await.unwrap();
    c.ingest(online("ana")).await.unwrap();
    for conv in ["c1", "c2", "c3"] {
        c.ingest(message(conv, "whatsapp")).await.unwrap();
    }
    let a = c
        .get_agent(v1::GetAgentRequest { account: "acme".into(), agent: "ana".into() })
        .await
        .unwrap()
        .into_inner();
    let m = &a.channels[0];
    assert_eq!(
        (m.channel.as_str(), m.status.as_str(), m.load, m.capacity, m.offered),
        ("messaging", "online", 1, 1, 1)
    );
    let list = c.list_agents(v1::ListAgentsRequest { account: "acme".into() }).await.unwrap().into_inner();
    assert_eq!(list.agents.len(), 1);
    let q = c
        .list_queue(v1::ListQueueRequest { account: "acme".into(), limit: Some(1) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.total, 2);
    assert_eq!(q.entries.len(), 1);
    assert_eq!((q.entries[0].position, q.entries[0].ticket.as_str()), (0, "c2#1"));
    let t = c
        .get_ticket(v1::GetTicketRequest { account: "acme".into(), ticket: "c3#1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((t.queue_position, t.status.as_str()), (Some(1), "new"));
    assert!(t.wait_ms.is_some());
    let s = c
        .get_account_stats(v1::GetAccountStatsRequest { account: "acme".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.agents, s.queued, s.tickets_by_status["new"]), (1, 2, 3));
    assert_eq!(s.channels[0].queued_by_priority["normal"], 2);
    let accounts = c.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner();
    assert_eq!(accounts.accounts, vec!["acme"]);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_precise_status_and_changes_nothing() {
    let mut s = settings();
    s.limits.max_message_bytes = 4096;
    let (daemon, mut c) = start(s).await;
    c.ingest(agent("ana", 2)).await.unwrap();
    c.ingest(online("ana")).await.unwrap();
    c.ingest(message("c", "whatsapp")).await.unwrap();
    let stats = |c: &mut RouterClient<Channel>| {
        let mut c = c.clone();
        async move {
            c.get_account_stats(v1::GetAccountStatsRequest { account: "acme".into() })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let before = stats(&mut c).await;
    let cases: Vec<(v1::Event, Code, &str)> = vec![
        (v1::Event::default(), Code::InvalidArgument, "missing field 'type'"),
        (
            ev(Kind::Message(v1::Message { requester: String::new(), ..Default::default() })),
            Code::InvalidArgument,
            "missing field 'account'",
        ),
        (
            ev(Kind::Message(v1::Message {
                account: "acme".into(),
                conversation: "d".into(),
                requester: "r".into(),
                via: "sms".into(),
                priority: Some("asap".into()),
                ..Default::default()
            })),
            Code::InvalidArgument,
            "invalid field 'priority'",
        ),
        (
            ev(Kind::Message(v1::Message {
                account: "acme".into(),
                conversation: "x".repeat(300),
                requester: "r".into(),
                via: "sms".into(),
                ..Default::default()
            })),
            Code::InvalidArgument,
            "invalid field 'conversation': longer than 256 bytes",
        ),
        (
            ev(Kind::Message(v1::Message {
                account: "acme".into(),
                conversation: "d".into(),
                requester: "r".into(),
                via: "sms".into(),
                channel: Some("fax".into()),
                ..Default::default()
            })),
            Code::InvalidArgument,
            "invalid field 'channel': unknown channel \"fax\"",
        ),
        (ev(Kind::OfferAccepted(answer("nope", "ana"))), Code::NotFound, "unknown ticket \"nope\""),
        (ev(Kind::OfferAccepted(answer("c#1", "bob"))), Code::NotFound, "unknown agent \"bob\""),
        (status("c#1", "solved"), Code::FailedPrecondition, "has no assignee"),
        (status("c#1", "closed"), Code::InvalidArgument, "invalid field 'status'"),
        (
            ev(Kind::TicketCreated(v1::TicketCreated {
                account: "acme".into(),
                ticket: "c#1".into(),
                channel: "email".into(),
                via: "email".into(),
                ..Default::default()
            })),
            Code::AlreadyExists,
            "already exists",
        ),
        (
            ev(Kind::TicketTransferred(v1::TicketTransferred {
                account: "acme".into(),
                ticket: "c#1".into(),
                agent: None,
                group: None,
            })),
            Code::InvalidArgument,
            "exactly one of them is required",
        ),
        (
            v1::Event { at: Some(u64::MAX / 2), ..agent("ana", 1) },
            Code::InvalidArgument,
            "ahead of the daemon's clock",
        ),
    ];
    for (event, code, text) in cases {
        let err = c.ingest(event).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(err.message().contains(text), "{:?} does not contain {text:?}", err.message());
    }
    // Too big for the configured message limit.
    let huge = ev(Kind::AgentUpserted(v1::AgentUpserted {
        account: "acme".into(),
        agent: "ana".into(),
        groups: (0..60).map(|i| format!("{i:0>100}")).collect(),
        ..Default::default()
    }));
    let err = c.ingest(huge).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument),
        "{err:?}"
    );
    // Queries with bad input.
    let err =
        c.get_agent(v1::GetAgentRequest { account: "acme".into(), agent: String::new() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing field 'agent'"));
    let err =
        c.get_ticket(v1::GetTicketRequest { account: "acme".into(), ticket: "zz".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .watch_effects(v1::WatchRequest { accounts: vec![], types: vec!["offerd".into()] })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // Nothing else changed.
    assert_eq!(stats(&mut c).await, before);
    let a = c
        .get_agent(v1::GetAgentRequest { account: "acme".into(), agent: "ana".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.channels[0].capacity, 2);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_stream_applies_in_order_and_reports_each_rejection() {
    let (daemon, mut c) = start(settings()).await;
    let mut events = vec![agent("ana", 5), online("ana")];
    for i in 0..200 {
        events.push(message(&format!("c{i}"), "whatsapp"));
    }
    events.insert(10, status("nope", "open"));
    events.insert(20, v1::Event::default());
    let reply = c.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 202);
    let rejected: Vec<_> = reply.rejected.iter().map(|r| (r.index, r.code, r.field.as_str())).collect();
    assert_eq!(
        rejected,
        vec![(10, Code::NotFound as i32, "ticket"), (20, Code::InvalidArgument as i32, "type")]
    );
    // In order: the first five conversations got the agent's five slots.
    let q = c
        .list_queue(v1::ListQueueRequest { account: "acme".into(), limit: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.total, 195);
    for i in 0..200 {
        let id = format!("c{i}#1");
        let t = c
            .get_ticket(v1::GetTicketRequest { account: "acme".into(), ticket: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(t.offered_to.is_some(), i < 5, "{id}");
    }
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_watchers_are_refused() {
    let mut s = settings();
    s.limits.max_watchers = 2;
    let (daemon, mut c) = start(s).await;
    let w1 = c.watch_effects(v1::WatchRequest::default()).await.unwrap();
    let w2 = c.watch_effects(v1::WatchRequest::default()).await.unwrap();
    let err = c.watch_effects(v1::WatchRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    drop((w1, w2));
    // A freed slot can be taken again once the server has seen the streams end.
    let mut ok = false;
    for _ in 0..50 {
        if c.watch_effects(v1::WatchRequest::default()).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "slots freed when watchers leave");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_reflection_answer_like_standard_tools_expect() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let (daemon, _) = start(settings()).await;
    let channel =
        Channel::from_shared(format!("http://{}", daemon.grpc_addr())).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    let r = health
        .check(tonic_health::pb::HealthCheckRequest { service: "switchboard.v1.Router".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    // What `grpcurl -plaintext host:port list` asks.
    let mut reflection = ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies =
        reflection.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("{reply:?}")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"switchboard.v1.Router"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_endpoints_expose_health_and_every_metric_family() {
    let (daemon, mut c) = start(settings()).await;
    c.ingest(agent("ana", 1)).await.unwrap();
    c.ingest(online("ana")).await.unwrap();
    c.ingest(message("a", "whatsapp")).await.unwrap();
    c.ingest(message("b", "whatsapp")).await.unwrap();
    c.ingest(ev(Kind::OfferAccepted(answer("a#1", "ana")))).await.unwrap();
    c.ingest(status("a#1", "solved")).await.unwrap(); // frees ana: b#1 offered
    c.ingest(ev(Kind::OfferDeclined(answer("b#1", "ana")))).await.unwrap();
    c.ingest(message("a", "whatsapp")).await.unwrap(); // reopens a#1
    c.ingest(message("w", "web_widget")).await.unwrap();
    let _ = c.ingest(status("nope", "open")).await;
    // State gauges come from the read model, whose counts follow within its interval.
    tokio::time::sleep(Duration::from_millis(switchboard_runtime::read::STATS_EVERY_MS + 50)).await;
    assert_eq!(http_get(&daemon, "/healthz").await.0, 200);
    assert_eq!(http_get(&daemon, "/readyz").await, (200, "ready\n".into()));
    let (code, text) = http_get(&daemon, "/metrics").await;
    assert_eq!(code, 200);
    for family in [
        "switchboard_events_total{result=\"accepted\",type=\"message\"} 4",
        "switchboard_events_total{result=\"rejected\",type=\"ticket_status\"} 1",
        "switchboard_rejected_events_total{reason=\"not_found\"} 1",
        "switchboard_effects_total{type=\"reopened\"} 1",
        "switchboard_offers_total{outcome=\"accepted\"} 1",
        "switchboard_offers_total{outcome=\"declined\"} 1",
        "switchboard_queue_to_offer_seconds_bucket{channel=\"messaging\",priority=\"normal\",le=\"0.001\"}",
        "switchboard_queue_to_assignment_seconds_count{channel=\"messaging\",priority=\"normal\"} 1",
        "switchboard_queue_depth{channel=\"messaging\",priority=\"normal\"}",
        "switchboard_queue_oldest_wait_seconds{channel=\"messaging\",priority=\"normal\"}",
        "switchboard_agents{channel=\"messaging\",status=\"online\"} 1",
        "switchboard_capacity{channel=\"messaging\"} 1",
        "switchboard_load{channel=\"messaging\"} 1",
        "switchboard_tickets{status=\"open\"} 1",
        "switchboard_reopens_total{style=\"social_messaging\"} 1",
        "switchboard_grpc_request_duration_seconds_count{code=\"ok\",method=\"Ingest\"}",
        "switchboard_grpc_request_duration_seconds_count{code=\"not_found\",method=\"Ingest\"} 1",
        "switchboard_watchers 0",
        "switchboard_build_info{version=",
    ] {
        assert!(text.contains(family), "missing {family:?} in\n{text}");
    }
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("switchboard-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("grpc.sock");
    let mut s = settings();
    s.server.grpc_unix_socket = Some(path.clone());
    let daemon = Daemon::start(&s).await.unwrap();
    let socket = path.clone();
    let channel = tonic::transport::Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .unwrap();
    let mut c = RouterClient::new(channel);
    c.ingest(agent("ana", 1)).await.unwrap();
    let a = c.get_agent(v1::GetAgentRequest { account: "acme".into(), agent: "ana".into() }).await.unwrap();
    assert_eq!(a.into_inner().id, "ana");
    daemon.shutdown().await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_in_use_fails_the_start_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = settings();
    s.server.http_addr = taken.local_addr().unwrap();
    let err = Daemon::start(&s).await.unwrap_err().to_string();
    assert!(err.contains("cannot listen for HTTP on 127.0.0.1:"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_waits_for_a_full_shard_instead_of_refusing() {
    let mut s = settings();
    s.runtime.shards = 1;
    s.runtime.shard_queue = 16;
    let (daemon, mut c) = start(s).await;
    let events: Vec<_> = (0..3000).map(|i| message(&format!("c{i}"), "whatsapp")).collect();
    let reply = c.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.rejected.len()), (3000, 0));
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_event_in_a_stream_is_reported_with_what_came_before() {
    let mut s = settings();
    s.limits.max_message_bytes = 4096;
    let (daemon, mut c) = start(s).await;
    let mut events = vec![agent("ana", 1), message("a", "whatsapp")];
    events.push(ev(Kind::AgentUpserted(v1::AgentUpserted {
        account: "acme".into(),
        agent: "big".into(),
        groups: (0..60).map(|i| format!("{i:0>100}")).collect(),
        ..Default::default()
    })));
    let reply = c.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 2);
    assert_eq!(reply.rejected.len(), 1);
    assert_eq!(reply.rejected[0].index, 2);
    assert_ne!(reply.rejected[0].code, 0);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_account_is_not_found_everywhere() {
    let (daemon, mut c) = start(settings()).await;
    let e = c.list_agents(v1::ListAgentsRequest { account: "nobody".into() }).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "invalid field 'account': unknown account \"nobody\"")
    );
    let e = c.list_queue(v1::ListQueueRequest { account: "nobody".into(), limit: None }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c.get_account_stats(v1::GetAccountStatsRequest { account: "nobody".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    daemon.shutdown().await;
}
