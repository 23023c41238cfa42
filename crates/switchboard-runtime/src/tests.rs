use super::*;
use crate::watch::RecvError;
use switchboard_core::{CustomerMessage, EffectKind, TicketAttrs};

fn config(offer_timeout_ms: Millis) -> Config {
    let mut c = Config::default();
    Arc::make_mut(&mut c.defaults).channels[0].offer_timeout_ms = offer_timeout_ms;
    c
}

fn options(shards: usize) -> Options {
    Options { shards, ..Options::default() }
}

fn agent(account: &str, id: &str) -> Event {
    Event::AgentUpserted {
        account: account.into(),
        agent: id.into(),
        groups: vec![],
        skills: vec![],
        capacity: vec![("messaging".into(), 2)],
    }
}

fn online(account: &str, id: &str) -> Event {
    Event::AgentStatus { account: account.into(), agent: id.into(), status: "online".into(), channel: None }
}

fn message(account: &str, conversation: &str) -> Event {
    Event::Message(CustomerMessage {
        account: account.into(),
        conversation: conversation.into(),
        requester: "r".into(),
        attrs: TicketAttrs { channel: "messaging".into(), via: "whatsapp".into(), ..TicketAttrs::default() },
    })
}

fn types(effects: &[Effect]) -> Vec<&'static str> {
    effects.iter().map(|e| e.kind.type_name()).collect()
}

#[tokio::test]
async fn ingest_returns_the_effects_and_queries_see_the_state() {
    let rt = Runtime::start(config(30_000), options(2)).unwrap();
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    rt.ingest(online("acme", "a1"), None, None).await.unwrap();
    let applied = rt.ingest(message("acme", "c"), None, None).await.unwrap();
    assert_eq!(types(&applied.effects), vec!["ticket_created", "offered"]);
    let t = rt.query("acme", |e| e.ticket("acme", "c#1")).await.unwrap().unwrap();
    assert_eq!(t.offered_to.as_deref(), Some("a1"));
    let err = rt
        .ingest(
            Event::OfferAccepted { account: "acme".into(), ticket: "c#1".into(), agent: "zz".into() },
            None,
            None,
        )
        .await
        .unwrap_err();
    let IngestError::Refused(r) = err else { panic!("{err:?}") };
    assert_eq!(r.class, ErrorClass::NotFound);
    assert_eq!(r.field, Some("agent"));
    assert_eq!(r.message, "invalid field 'agent': unknown agent \"zz\"");
    rt.shutdown();
}

#[tokio::test]
async fn offer_timeouts_fire_on_the_wall_clock_without_any_event() {
    let rt = Runtime::start(config(80), options(1)).unwrap();
    let mut watch = rt.subscribe();
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    rt.ingest(online("acme", "a1"), None, None).await.unwrap();
    let offered = rt.ingest(message("acme", "c"), None, None).await.unwrap().effects[1].at;
    let withdrawn = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = watch.recv().await.unwrap();
            if matches!(e.kind, EffectKind::OfferWithdrawn { .. }) {
                return e;
            }
        }
    })
    .await
    .expect("the offer timed out");
    assert_eq!(withdrawn.at, offered + 80, "fired at its due time");
    let fired_late_by = rt.now().saturating_sub(withdrawn.at);
    assert!(fired_late_by < 1000, "fired {fired_late_by} ms late");
    rt.shutdown();
}

use std::time::Duration;

#[tokio::test]
async fn an_event_too_far_ahead_of_the_clock_is_refused_and_time_never_goes_back() {
    let rt = Runtime::start(config(30_000), options(1)).unwrap();
    let now = rt.now();
    let err = rt.ingest(agent("acme", "a1"), Some(now + 60_000), None).await.unwrap_err();
    assert!(err.to_string().contains("invalid field 'at'"), "{err}");
    assert!(err.to_string().contains("ahead of the daemon's clock"), "{err}");
    let first = rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    let late = rt.ingest(agent("acme", "a1"), Some(now - 60_000), None).await.unwrap();
    assert_eq!(late.at, first.at, "an earlier `at` is applied at the engine's current time");
    let given = rt.ingest(agent("acme", "a1"), Some(now + 1_000), None).await.unwrap();
    assert_eq!(given.at, now + 1_000, "a slightly early clock on the client is fine");
    rt.shutdown();
}

#[tokio::test]
async fn a_full_shard_says_saturated_instead_of_buffering() {
    let rt = Runtime::start(config(30_000), Options { shard_queue: 2, ..options(1) }).unwrap();
    // Hold the shard in a query until told to go on.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = rt.clone();
    let busy = tokio::spawn(async move {
        holder
            .query("acme", move |_| {
                let _ = go_rx.recv();
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut pending = Vec::new();
    let mut saturated = 0;
    for i in 0..10 {
        let rt = rt.clone();
        let fut = async move { rt.ingest(message("acme", &format!("c{i}")), None, None).await };
        match tokio::time::timeout(Duration::from_millis(20), Box::pin(fut)).await {
            Ok(Err(IngestError::Saturated(0))) => saturated += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => pending.push(i),
        }
    }
    assert!(saturated >= 7, "{saturated} refused, {pending:?} queued");
    assert!(rt.metrics().saturated.get() >= 7);
    go_tx.send(()).unwrap();
    busy.await.unwrap().unwrap();
    rt.shutdown();
}

#[tokio::test]
async fn a_slow_watcher_is_told_how_many_effects_it_missed() {
    let rt = Runtime::start(config(30_000), Options { watch_buffer: 4, ..options(1) }).unwrap();
    let mut slow = rt.subscribe();
    for i in 0..10 {
        rt.ingest(message("acme", &format!("c{i}")), None, None).await.unwrap();
    }
    match slow.recv().await {
        Err(RecvError::Lagged(n)) => assert_eq!(n, 6),
        other => panic!("expected a lag, got {other:?}"),
    }
    rt.shutdown();
}

#[tokio::test]
async fn accounts_spread_over_shards_and_stay_isolated() {
    let rt = Runtime::start(config(30_000), options(4)).unwrap();
    for i in 0..20 {
        let account = format!("acct-{i}");
        rt.ingest(agent(&account, "a1"), None, None).await.unwrap();
    }
    let per_shard = rt.query_all(|e| e.account_names().len()).await.unwrap();
    assert_eq!(per_shard.iter().sum::<usize>(), 20);
    assert!(per_shard.iter().filter(|&&n| n > 0).count() >= 2, "{per_shard:?}");
    let stats = rt.all_stats().await.unwrap();
    assert_eq!(stats.len(), 20);
    assert!(stats.iter().all(|s| s.agents == 1));
    // A tick reaches every shard.
    rt.ingest(Event::Tick, None, None).await.unwrap();
    rt.shutdown();
}

#[tokio::test]
async fn after_shutdown_ingest_says_stopped() {
    let rt = Runtime::start(config(30_000), options(2)).unwrap();
    assert!(rt.is_running());
    rt.shutdown();
    assert!(!rt.is_running());
    assert_eq!(rt.ingest(agent("acme", "a"), None, None).await.unwrap_err(), IngestError::Stopped);
}

#[tokio::test]
async fn metrics_describe_what_happened() {
    let rt = Runtime::start(config(30_000), options(1)).unwrap();
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    rt.ingest(online("acme", "a1"), None, None).await.unwrap();
    rt.ingest(message("acme", "c"), None, None).await.unwrap();
    rt.ingest(message("acme", "d"), None, None).await.unwrap();
    rt.ingest(message("acme", "e"), None, None).await.unwrap();
    rt.ingest(
        Event::OfferDeclined { account: "acme".into(), ticket: "c#1".into(), agent: "a1".into() },
        None,
        None,
    )
    .await
    .unwrap();
    let _ = rt.ingest(online("acme", "nobody"), None, None).await;
    let text = rendered(&rt).await;
    for line in [
        "switchboard_events_total{result=\"accepted\",type=\"message\"} 3",
        "switchboard_events_total{result=\"rejected\",type=\"agent_status\"} 1",
        "switchboard_rejected_events_total{reason=\"not_found\"} 1",
        "switchboard_effects_total{type=\"offered\"} 3",
        "switchboard_offers_total{outcome=\"declined\"} 1",
        "switchboard_queue_depth{channel=\"messaging\",priority=\"normal\"} 1",
        "switchboard_agents{channel=\"messaging\",status=\"online\"} 1",
        "switchboard_capacity{channel=\"messaging\"} 2",
        "switchboard_load{channel=\"messaging\"} 2",
        "switchboard_queue_to_offer_seconds_count{channel=\"messaging\",priority=\"normal\"} 3",
        "switchboard_tickets{status=\"new\"} 3",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    rt.shutdown();
}

#[tokio::test]
async fn per_account_labels_when_asked() {
    let rt = Runtime::start(config(30_000), Options { per_account_metrics: true, ..options(1) }).unwrap();
    rt.ingest(message("acme", "c"), None, None).await.unwrap();
    let text = rendered(&rt).await;
    assert!(
        text.contains("switchboard_events_total{account=\"acme\",result=\"accepted\",type=\"message\"} 1"),
        "{text}"
    );
    rt.shutdown();
}

/// The metrics once the read model has caught up with the events just sent.
async fn rendered(rt: &Runtime) -> String {
    // Counts are published at most every STATS_EVERY_MS: wait for the next publication.
    tokio::time::sleep(Duration::from_millis(crate::read::STATS_EVERY_MS + 50)).await;
    rt.query("acme", |_| ()).await.unwrap();
    rt.render_metrics()
}

fn sub(event: Event) -> Submission {
    Submission { event, at: None, event_id: None }
}

#[tokio::test]
async fn events_submitted_together_are_answered_in_order_across_shards() {
    let rt = Runtime::start(config(30_000), options(3)).unwrap();
    let mut watch = rt.subscribe();
    let mut events = Vec::new();
    for account in ["a", "b", "c", "d"] {
        events.push(sub(agent(account, "x")));
        events.push(sub(online(account, "x")));
        events.push(sub(message(account, "c1")));
    }
    // Refused by the engine: its own outcome, the rest unaffected.
    events.push(sub(Event::OfferAccepted { account: "a".into(), ticket: "nope".into(), agent: "x".into() }));
    // A tick goes to every shard and is answered once.
    events.push(sub(Event::Tick));
    let outcomes = rt.submit_many_patiently(events, std::time::Duration::from_secs(5)).await.wait().await;
    assert_eq!(outcomes.len(), 14);
    // Every event applied is timed once, the tick once per shard.
    assert_eq!(rt.metrics().shard_latency.get_sample_count(), 13 + 3);
    for (i, o) in outcomes.iter().enumerate() {
        match i {
            12 => assert!(matches!(o, Err(IngestError::Refused(r)) if r.field == Some("ticket")), "{o:?}"),
            _ => assert!(matches!(o, Ok(a) if !a.duplicate && a.effects.is_empty()), "{i}: {o:?}"),
        }
    }
    // Per account, the watcher sees each ticket created, then offered.
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let e = watch.recv().await.unwrap();
        seen.push((e.account.to_string(), e.kind.type_name()));
    }
    for account in ["a", "b", "c", "d"] {
        let mine: Vec<_> = seen.iter().filter(|(a, _)| a == account).map(|(_, t)| *t).collect();
        assert_eq!(mine, vec!["ticket_created", "offered"], "{account}");
    }
    rt.shutdown();
}

#[tokio::test]
async fn a_group_goes_in_pieces_as_room_allows_and_the_rest_is_refused_in_order() {
    let rt = Runtime::start(config(30_000), Options { shard_queue: 16, ..options(1) }).unwrap();
    // Hold the shard so its queue fills.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let held = rt.clone();
    let busy = tokio::spawn(async move { held.query("acme", move |_| go_rx.recv().ok()).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // 40 events against a queue of 16: pieces of 4 go in until the queue is full; the others wait
    // out their patience and are refused.
    let big: Vec<_> = (0..40).map(|i| sub(message("acme", &format!("big{i}")))).collect();
    let big = rt.submit_many_patiently(big, std::time::Duration::from_millis(30)).await;
    go_tx.send(()).unwrap();
    busy.await.unwrap().unwrap();
    let outcomes = big.wait().await;
    let applied = outcomes.iter().take_while(|o| o.is_ok()).count();
    assert_eq!(applied, 16, "{outcomes:?}");
    assert!(outcomes[applied..].iter().all(|o| matches!(o, Err(IngestError::Saturated(0)))));
    assert_eq!(rt.metrics().saturated.get(), 24, "counted per event");
    // With room again, a group gets in whole.
    let again: Vec<_> = (0..40).map(|i| sub(message("acme", &format!("again{i}")))).collect();
    let again = rt.submit_many_patiently(again, std::time::Duration::from_secs(5)).await;
    assert!(again.wait().await.iter().all(Result::is_ok));
    rt.shutdown();
}
