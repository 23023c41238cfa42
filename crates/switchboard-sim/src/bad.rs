//! Deliberately bad input lines, for testing that drivers report and skip them.
//!
//! They come from their own random stream, so turning them on or changing their ratio leaves the
//! valid events exactly as they were: a rejected line changes nothing in the engine, and the bad lines
//! that carry a valid `at` carry the time of the event they precede, whose timers fire anyway.

use crate::rng::Rng;
use serde_json::Value;

/// Mixed into the seed so the bad lines' stream is not the simulation's.
const STREAM: u64 = 0x6261_645f_6c69_6e65;

#[derive(Debug)]
pub(crate) struct BadLines {
    rng: Rng,
    ratio: f64,
    /// The latest `at` a replay has accepted: the `at` of the previous line that had a valid one.
    previous_at: Option<u64>,
    /// Numbers the made-up ids, so no two bad lines are alike.
    count: u64,
}

impl BadLines {
    pub(crate) fn new(seed: u64, ratio: f64) -> Self {
        BadLines {
            rng: Rng::new(seed ^ STREAM),
            // NaN fails both comparisons and ends up 0: no bad lines.
            ratio: if ratio > 0.0 { ratio.min(1.0) } else { 0.0 },
            previous_at: None,
            count: 0,
        }
    }

    /// A valid line due at `at` goes out.
    pub(crate) fn passed(&mut self, at: u64) {
        self.previous_at = Some(at);
    }

    /// Whether a bad line goes before the event due at `at` (about `account`, if it has one), and
    /// its text (no newline).
    pub(crate) fn line(&mut self, at: u64, account: Option<&str>) -> Option<String> {
        if self.ratio == 0.0 || !self.rng.chance(self.ratio) {
            return None;
        }
        self.count += 1;
        let n = self.count;
        // Every id below is made up (`zz-`, `ghost-` never come out of the simulator), so each line
        // is refused whatever the engine holds.
        let acct = Value::from(account.unwrap_or("acme")).to_string();
        let head = |type_name: &str| format!("{{\"at\":{at},\"type\":\"{type_name}\",\"account\":{acct}");
        let kind = self.rng.below(15);
        let line = match kind {
            0 => "garbage in the pipe".to_owned(),
            1 => "[1, 2, 3]".to_owned(),
            2 => "{\"type\":\"tick\"}".to_owned(),
            3 => format!("{},\"agent\":\"ghost-{n}\"}}", head("agent_login")),
            4 => format!(
                "{},\"conversation\":\"zz-{n}\",\"requester\":\"cust-0\",\"via\":\"web_widget\"}}",
                head("Message")
            ),
            5 => format!(
                "{},\"conversation\":\"zz-{n}\",\"requester\":\"cust-0\",\"via\":\"web_widget\",\"priority\":\"super-urgent\"}}",
                head("message")
            ),
            6 => format!("{},\"ticket\":\"zz-{n}\",\"status\":\"closed\"}}", head("ticket_status")),
            7 => format!("{},\"ticket\":\"zz-{n}\",\"status\":\"solved\"}}", head("ticket_status")),
            8 => format!("{},\"agent\":\"ghost-{n}\",\"status\":\"online\"}}", head("agent_status")),
            9 => format!(
                "{},\"ticket\":\"zz-{n}\",\"agent\":\"ghost-{n}\",\"group\":\"billing\"}}",
                head("ticket_transferred")
            ),
            10 => format!(
                "{},\"agent\":\"ghost-{n}\",\"capacity\":{{\"messaging\":-1}}}}",
                head("agent_upserted")
            ),
            11 => format!("{},\"conversation\":\"zz-{n}\"", head("message")),
            12 => format!("{{\"at\":\"{at}\",\"type\":\"tick\"}}"),
            13 => String::new(),
            // Before the previous line: refused, and time does not move. At the very start there
            // is no previous line, so it is an `at` that is not an integer instead.
            _ => match self.previous_at.and_then(|p| p.checked_sub(1)) {
                Some(before) => format!("{{\"at\":{before},\"type\":\"tick\"}}"),
                None => format!("{{\"at\":{at}.5,\"type\":\"tick\"}}"),
            },
        };
        // The lines with a valid `at` (those built on `head`) move a replay's clock even though
        // they are refused.
        if (3..=11).contains(&kind) {
            self.previous_at = Some(at);
        }
        Some(line)
    }
}
