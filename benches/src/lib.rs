//! Shared pieces of Switchboard's benchmarks: realistic event streams from the simulator.

use switchboard_core::{Config, Event, Millis};
use switchboard_sim::{SimEvent, SimParams, Simulator};

/// `n` events of a simulated contact centre, driven through an in-process engine so that they are
/// valid (accepts answer real offers, replies reach real tickets), with their times.
pub fn events(params: SimParams, n: usize) -> Vec<(Millis, Event)> {
    let mut engine = switchboard_core::Engine::new(Config::default()).expect("the default config is valid");
    let mut sim = Simulator::new(params);
    let mut out = Vec::with_capacity(n);
    let mut effects = Vec::new();
    while out.len() < n {
        // Timers first, so that the simulated people react to what the engine did by then.
        let deadline = engine.next_deadline().unwrap_or(Millis::MAX);
        let due = sim.peek_time().unwrap_or(Millis::MAX);
        if deadline <= due {
            if deadline == Millis::MAX {
                break;
            }
            effects.clear();
            engine.advance(deadline, &mut effects);
            sim.observe(&effects);
            continue;
        }
        let Some(SimEvent::Event { at, event }) = sim.next_due(due) else { continue };
        effects.clear();
        let _ = engine.apply(&event, at, &mut effects);
        sim.observe(&effects);
        out.push((at, event));
    }
    out
}
