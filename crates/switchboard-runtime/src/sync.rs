//! The primitives the hand-written concurrent pieces (`doorbell.rs`, `syncer.rs`) are built on:
//! std's normally, [loom]'s when built with `--cfg switchboard_loom`, so that their loom models
//! check the very code that runs. (Not `--cfg loom`: tokio reads that one and would switch to its
//! own loom build.)
//!
//! `cargo test --workspace` runs the models (`tests/loom.rs`); on their own, without disturbing
//! the usual build:
//!
//! ```text
//! RUSTFLAGS="--cfg switchboard_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p switchboard-runtime --lib --release loom
//! ```
//!
//! [loom]: https://docs.rs/loom

#[cfg(switchboard_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, Ordering, fence};
#[cfg(switchboard_loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(switchboard_loom)]
pub(crate) use loom::thread::park;

#[cfg(not(switchboard_loom))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(switchboard_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(switchboard_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, Ordering, fence};
#[cfg(not(switchboard_loom))]
pub(crate) use std::thread::park;

/// Sleeps until unparked or `timeout` passes. Under loom, until unparked: a timeout only adds
/// wakeups, so a model without it is the stricter check.
pub(crate) fn park_timeout(timeout: std::time::Duration) {
    #[cfg(switchboard_loom)]
    {
        let _ = timeout;
        park();
    }
    #[cfg(not(switchboard_loom))]
    std::thread::park_timeout(timeout);
}

/// Locks `mutex`. (Under loom a poisoned lock is taken as it is; parking_lot has no poisoning.)
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(switchboard_loom)]
    return mutex.lock().unwrap_or_else(|e| e.into_inner());
    #[cfg(not(switchboard_loom))]
    mutex.lock()
}

/// Waits on `condvar`, giving up `guard` meanwhile.
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    #[cfg(switchboard_loom)]
    return condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
    #[cfg(not(switchboard_loom))]
    {
        let mut guard = guard;
        condvar.wait(&mut guard);
        guard
    }
}

/// Waits on `condvar` until `deadline` at the latest. Under loom it returns at once, and
/// [`passed`] says every deadline has passed: the models then cover the schedule in which the
/// interval is as short as can be, without the wall clock.
pub(crate) fn wait_until<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: std::time::Instant,
) -> MutexGuard<'a, T> {
    #[cfg(switchboard_loom)]
    {
        let _ = (condvar, deadline);
        guard
    }
    #[cfg(not(switchboard_loom))]
    {
        let mut guard = guard;
        condvar.wait_until(&mut guard, deadline);
        guard
    }
}

/// Whether `deadline` has passed (under loom: always, see [`wait_until`]).
pub(crate) fn passed(deadline: std::time::Instant) -> bool {
    #[cfg(switchboard_loom)]
    {
        let _ = deadline;
        true
    }
    #[cfg(not(switchboard_loom))]
    {
        std::time::Instant::now() >= deadline
    }
}

/// Runs a loom model over every interleaving with up to three preemptions: enough for each step of
/// the protocols to be interrupted, and models that finish in well under a second.
#[cfg(all(test, switchboard_loom))]
pub(crate) fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}
