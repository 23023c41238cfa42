//! Where the daemon's time comes from.
//!
//! The engine has no clock; the runtime gives it one. [`MonotonicClock`] reads the wall clock once
//! at start and then counts with `Instant`, so the engine's time is milliseconds since the Unix epoch
//! as users expect, yet never jumps backwards when NTP or an operator moves the system clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use switchboard_core::Millis;

/// A source of "now" in milliseconds since the Unix epoch; never decreasing.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now_ms(&self) -> Millis;
}

/// Wall-clock time at start, advanced by a monotonic timer.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    anchor_ms: Millis,
    anchor: Instant,
}

impl MonotonicClock {
    /// A clock anchored at the current wall-clock time.
    pub fn new() -> Self {
        let anchor_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis);
        MonotonicClock { anchor_ms, anchor: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> Millis {
        self.anchor_ms + self.anchor.elapsed().as_millis() as Millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_near_the_wall_clock_and_never_goes_back() {
        let c = MonotonicClock::new();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as Millis;
        let a = c.now_ms();
        assert!(a.abs_diff(wall) < 1000, "{a} vs {wall}");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = c.now_ms();
        assert!(b >= a + 5, "{a} then {b}");
    }
}
