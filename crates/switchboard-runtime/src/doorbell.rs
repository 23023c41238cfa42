//! How a shard thread sleeps when its queue is empty, and how senders wake it.
//!
//! The thread sleeps at once rather than spinning first (as the channel's own blocking receive
//! does): on a small machine that spinning took a sizeable share of the CPU the gRPC threads and
//! the clients needed. A sender pays for a wakeup only when the thread sleeps or is about to, so
//! under load work passes without any.
//!
//! The protocol is Dekker's: the sleeper sets `sleeping`, then looks for work; a sender puts work
//! in, then looks at `sleeping`. With a SeqCst fence between each side's two steps, at least one
//! of them sees the other's first step: the sleeper finds the work, or the sender wakes it. A
//! wakeup that comes before the sleeper parks is kept by the thread's park token. The loom model
//! below checks it.

use crate::sync::{AtomicBool, Ordering, fence, park, park_timeout};
use std::time::Duration;

/// Shared by a sleeping thread and the threads that give it work.
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    sleeping: AtomicBool,
}

impl Doorbell {
    /// Called by a sender after it has put work where the sleeper looks: calls `unpark` (the
    /// sleeping thread's) if the sleeper sleeps or is about to.
    pub fn ring(&self, unpark: impl FnOnce()) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            unpark();
        }
    }

    /// Called by the sleeper: sleeps unless `has_work()` says there is work, for at most `timeout`
    /// (`None`: until woken). May return early; callers look for work again.
    pub fn sleep(&self, has_work: impl Fn() -> bool, timeout: Option<Duration>) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() {
            match timeout {
                None => park(),
                Some(t) => park_timeout(t),
            }
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

#[cfg(all(test, switchboard_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    /// A sender puts items in a queue (an atomic count standing in for the channel) and rings;
    /// the sleeper sleeps whenever the queue looks empty. It must get every item: a lost wakeup
    /// leaves it parked for ever, which loom reports as a deadlock.
    fn model(items: usize) {
        crate::sync::check(move || {
            let bell = Arc::new(Doorbell::default());
            let queue = Arc::new(AtomicUsize::new(0));
            let (b, q) = (bell.clone(), queue.clone());
            let sleeper = loom::thread::spawn(move || {
                let mut got = 0;
                while got < items {
                    let n = q.swap(0, Ordering::AcqRel);
                    got += n;
                    if n == 0 {
                        b.sleep(|| q.load(Ordering::Acquire) > 0, None);
                    }
                }
            });
            let handle = sleeper.thread().clone();
            for _ in 0..items {
                queue.fetch_add(1, Ordering::AcqRel);
                bell.ring(|| handle.unpark());
            }
            sleeper.join().unwrap();
        });
    }

    #[test]
    fn no_wakeup_is_lost() {
        model(1);
    }

    #[test]
    fn no_wakeup_is_lost_when_items_follow_each_other() {
        model(2);
    }
}
