//! The read model shows what the engines hold: after every event of a realistic stream every agent
//! view equals the engine's own, and once the counting interval has passed, so do the counts.

use std::time::Duration;
use switchboard_core::{Config, Effect, Engine};
use switchboard_runtime::read::STATS_EVERY_MS;
use switchboard_runtime::{Options, Runtime};
use switchboard_sim::{SimEvent, SimParams, Simulator};

#[tokio::test(flavor = "multi_thread")]
async fn the_read_model_matches_the_engines_after_a_realistic_stream() {
    let rt = Runtime::start(
        Config::default(),
        Options { shards: 2, max_future_skew_ms: u64::MAX / 4, ..Options::default() },
    )
    .unwrap();
    // The events of a simulated centre, as its own engine saw them, with their times.
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut sim = Simulator::new(SimParams {
        accounts: 3,
        agents_per_account: 15,
        arrivals_per_minute: 8.0,
        ..SimParams::default()
    });
    let mut effects: Vec<Effect> = Vec::new();
    let mut sent = 0;
    while sent < 4000 {
        let deadline = engine.next_deadline().unwrap_or(u64::MAX);
        let due = sim.peek_time().unwrap_or(u64::MAX);
        if deadline <= due {
            effects.clear();
            engine.advance(deadline, &mut effects);
            sim.observe(&effects);
            continue;
        }
        let Some(SimEvent::Event { at, event }) = sim.next_due(due) else { continue };
        effects.clear();
        let _ = engine.apply(&event, at, &mut effects);
        sim.observe(&effects);
        let account = event.account().unwrap_or_default().to_string();
        let answer = rt.ingest(event.clone(), Some(at), None).await;
        sent += 1;
        // Agent views are published before the answer: a client reads its own writes.
        let want = rt
            .query(&account, {
                let a = account.clone();
                move |e| e.agents(&a)
            })
            .await
            .unwrap();
        let got = rt.read_model().agents(&account).unwrap_or_default();
        assert_eq!(got, want, "after {event:?}: {answer:?}");
    }
    tokio::time::sleep(Duration::from_millis(STATS_EVERY_MS + 50)).await;
    for account in engine.account_names() {
        let a = account.to_string();
        let want = rt
            .query(&a, {
                let a = a.clone();
                move |e| (e.agents(&a), e.stats(&a))
            })
            .await
            .unwrap();
        let got = rt.read_model().agents(&a).unwrap();
        for (g, w) in got.iter().zip(&want.0) {
            assert_eq!(g, w, "{a}: agent view");
        }
        assert_eq!(got.len(), want.0.len(), "{a}: agents");
        assert_eq!(rt.read_model().stats(&a), want.1, "{a}: counts");
    }
    rt.shutdown();
}
