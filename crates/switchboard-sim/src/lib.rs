//! A deterministic, seeded simulator of a contact centre that produces Switchboard routing events and
//! reacts to the engine's effects.
//!
//! Like the engine it has no I/O and no clock: time is passed in and out as milliseconds. The same
//! [`SimParams`] (seed included) give the same events, byte for byte, on every platform (see
//! `rng.rs` for why the randomness is hand-written). It feeds `switchboard gen` (files for replay and
//! benchmarks, through [`generate`]), `switchboard demo` (a live daemon, through
//! [`Simulator::next_due`] with the wall clock) and load generators.
//!
//! # The model
//!
//! The numbers below live in `model.rs`, one constant each. All times are UTC; the run starts at
//! [`SimParams::start_ms`] (default Monday 2026-01-05 00:00).
//!
//! **Accounts** `acme`, `globex`, `initech`, `umbrella`, `hooli`, `stark`, `wayne`, `wonka`,
//! `soylent`, `cyberdyne`, then `acct-11`, ...; each has its own agents and customers.
//!
//! **Agents** (`acme-ag001`, ...), all upserted at the start. Groups `support` (85 % of agents),
//! `billing` (40 %), `sales` (30 %), `vip` (12 %), at least one each. Skills from
//! [`SimParams::skills`] names, languages and product areas interleaved (`english`, `billing`,
//! `spanish`, `tech`, ...; `skill-N` past the 32 named): `english` held by all, skill *i* by
//! 0.6 / (1 + *i*/4) of agents (48 % the second, 22 % the eighth, 4 % the sixty-fourth). Capacity:
//! messaging 2–5, email 5–10, talk 1 for 60 % of agents (none for the rest).
//!
//! **Shifts** of 8 h 30 min starting 06:00 (22 % of agents), 07:30 (14 %), 09:00 (12 %), 14:30 (38 %)
//! and 22:00 (14 %), so that staffing follows the arrival curve; five days in seven, days off going
//! round the week within each shift team. Login (unified `online`) within 10 min of the start,
//! logoff (`offline`) 5 min early to 15 min late; two 12–18 min breaks and a 30–45 min lunch
//! (`away`), spread across the team. Per shift: 15 % of phone agents go off the phones for 30–90 min
//! (`talk` `offline`), 10 % take 15–45 min for email (`messaging` `away`), 5 % spend 20–60 min
//! coaching (`transfers_only`), 3 % are edited by a supervisor (a skill gained or lost, messaging
//! capacity ±1), and 0.2 % leave for good after logging off (`agent_removed`; a replacement is hired
//! on the spot and takes over the shift pattern). Agents already on shift at the start log in
//! during its first five minutes.
//!
//! **Customers** arrive as a Poisson process at [`SimParams::arrivals_per_minute`] per account, as a
//! daily mean, following the hour of day (0.2× at night, 1.8× late morning) unless
//! [`SimParams::diurnal`] is off. Origins: web widget 24 % anonymous (style `live_chat` under the
//! shipped rules) and 16 % signed in (`live_chat_returning`), mobile SDK 8 % signed in and 4 %
//! anonymous, WhatsApp 12 %, Messenger 6 % (all `message` on `messaging`), email 20 %
//! (`ticket_created` with helpdesk ids `em-N`, via `email`, `web_form` or `api`), talk 10 %
//! (`message` on `talk` via `voice`, the caller's number as the conversation). Priority low 10 %,
//! normal 70 %, high 15 %, urgent 5 %; group none 55 %, `support` 25 %, `billing` 10 %, `sales` 7 %,
//! `vip` 3 % (at least high); 30 % require a skill and 25 % carry one or two optional skills,
//! drawn in proportion to how many agents hold them; 10 % carry the brand `<account>-outlet`.
//!
//! **Agents react to effects.** Offered: accept (85 %; 1.5 s plus an Erlang-2 of mean 5 s, at most
//! 29 s), decline (8 %, 1–10 s), or let it time out (7 %; a tenth of those step `away` 5–25 s in,
//! for 5–15 min); calls are picked up 90 % (2–12 s of ringing), declined 5 %, missed 5 %. Assigned
//! (accepted, auto-assigned or transferred) or reopened with them: worked for an Erlang-2 of mean
//! 9 min for a chat (4 min when reopened) or 40 min for email, an Erlang-3 of mean 6 min for a call,
//! at least 30 s; then solved (chat 65 %, email 55 %, call 80 %), `pending` (25 / 30 / 12 %),
//! `on_hold` (4 / 10 / 3 %) or transferred (6 / 5 / 5 %: 60 % to another group, weighted towards
//! `support` and `billing`, else to a colleague online on the channel). Work that falls due while
//! the agent is logged off (email stays assigned) waits for their next login. `on_hold` tickets are
//! reopened by the agent 30 min–4 h later. A supervisor assigns any ticket that has waited 20–40
//! min to someone on the channel, its group's members first.
//!
//! **Customers react to effects.** While a chat is worked they send 0–3 messages, and 30 % nudge
//! 30 s–3 min after opening one; these change nothing for routing. A `pending` chat or call is
//! answered 70 % of the time: 60 % of answers within minutes (mean 8 min), 30 % 1–24 h later, 10 %
//! 2–6 days later; still pending after 1–3 days, the agent solves it. A `pending` email is reopened
//! by the agent 2–24 h later (60 %: the answer came in) or solved 1–3 days on. After a solve, 20 %
//! of chat and 10 % of call customers write again: 50 % within minutes (mean 15 min), 35 % 1–24 h
//! later, 15 % 2–6 days later, which reopens the ticket or, once it has closed, starts a follow-up
//! on the same conversation (always for `live_chat`, which closes on solve).
//!
//! **What it gives.** With the defaults (one account, 50 agents, 2.5 arrivals a minute) the agents
//! on shift have 1.2 to 1.4 times the chat capacity the day's peak needs; tickets wait 10–80 s on
//! average in the daytime and a few minutes at night, and a day of simulated time is about 25,000
//! events, so a million events cover about 40 days.
//!
//! **Validity.** Every action that depends on the engine's state is planned from effects and checked
//! against later effects before it goes out, so a stream driven through the engine ([`generate`])
//! has no refused events except the bad lines asked for ([`SimParams::bad_line_ratio`]: not JSON,
//! not an object, missing, non-integer or backwards `at`, unknown types, tickets and agents,
//! invalid fields, truncated lines, blank lines).

mod bad;
mod encode;
mod generate;
mod gridded;
mod model;
mod rng;
mod sim;

pub use encode::write_event;
pub use generate::{GenError, GenStats, generate};
pub use gridded::{Gridded, gridded};
pub use sim::Simulator;

use switchboard_core::Event;

/// What to simulate. [`SimParams::default`] is one account of 50 agents with 8 skills, 2.5 arrivals a
/// minute on average, no bad lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SimParams {
    /// Number of accounts (tenants).
    pub accounts: usize,
    /// Agents per account at the start (leavers are replaced, so the headcount stays).
    pub agents_per_account: usize,
    /// Distinct skill names per account; 0 means no skills at all.
    pub skills: usize,
    /// Customer arrivals per minute per account, as a daily mean; 0 (or not a positive number)
    /// means none.
    pub arrivals_per_minute: f64,
    /// Whether arrivals follow the hour of day; when off the rate is flat.
    pub diurnal: bool,
    /// Share of lines that are deliberately bad, 0 to 1; the valid events stay the same whatever it
    /// is.
    pub bad_line_ratio: f64,
    /// Interval of `tick` heartbeats, as a driver might send; 0 for none.
    pub tick_interval_ms: u64,
    /// Simulated time at the start, in milliseconds since the Unix epoch.
    pub start_ms: u64,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            accounts: 1,
            agents_per_account: 50,
            skills: 8,
            arrivals_per_minute: 2.5,
            diurnal: true,
            bad_line_ratio: 0.0,
            tick_interval_ms: 0,
            // Monday 2026-01-05 00:00:00 UTC.
            start_ms: 1_767_571_200_000,
            seed: 1,
        }
    }
}

/// One line of input the simulated world produces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every value is an event: boxing it would cost an allocation per event for nothing"
)]
pub enum SimEvent {
    /// An event, valid as far as the effects observed so far tell.
    Event {
        /// When it happens (milliseconds since the Unix epoch).
        at: u64,
        /// What happens.
        event: Event,
    },
    /// A deliberately bad line, without its newline (it may be blank, not JSON, or carry no `at`,
    /// or an `at` earlier than the previous line's).
    Bad {
        /// When it is due; not necessarily the `at` its text carries.
        at: u64,
        /// The text.
        line: String,
    },
}

impl SimEvent {
    /// When it is due. Never less than the previous one's.
    pub fn at(&self) -> u64 {
        match self {
            SimEvent::Event { at, .. } | SimEvent::Bad { at, .. } => *at,
        }
    }

    /// Appends it as one replay-format line with its newline.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        match self {
            SimEvent::Event { at, event } => write_event(*at, event, out),
            SimEvent::Bad { line, .. } => {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
    }
}
