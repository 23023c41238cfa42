//! The model's numbers and names, in one place so the crate documentation can cite them and a reader
//! can tune them. Times are milliseconds; probabilities are per decision; weights are relative.
//! Where a number comes from experience of real contact centres rather than from the spec, the
//! comment says what it stands for.

use switchboard_core::Priority;

pub(crate) const SECOND: u64 = 1000;
pub(crate) const MINUTE: u64 = 60 * SECOND;
pub(crate) const HOUR: u64 = 60 * MINUTE;
pub(crate) const DAY: u64 = 24 * HOUR;

/// Account names in order; after these, `acct-N` (N counting from 1 over all accounts).
pub(crate) const ACCOUNT_NAMES: [&str; 10] =
    ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "soylent", "cyberdyne"];

pub(crate) fn account_name(i: usize) -> String {
    ACCOUNT_NAMES.get(i).map_or_else(|| format!("acct-{}", i + 1), |&n| n.to_owned())
}

/// Skill names: languages and product areas interleaved, so that the first 8 (the benchmark's middle
/// setting) are a realistic mix; after these, `skill-N`.
pub(crate) const SKILL_NAMES: [&str; 32] = [
    "english",
    "billing",
    "spanish",
    "tech",
    "french",
    "returns",
    "german",
    "shipping",
    "portuguese",
    "accounts",
    "italian",
    "refunds",
    "dutch",
    "payments",
    "japanese",
    "subscriptions",
    "korean",
    "hardware",
    "chinese",
    "software",
    "arabic",
    "api",
    "turkish",
    "security",
    "polish",
    "privacy",
    "swedish",
    "warranty",
    "hindi",
    "integrations",
    "russian",
    "enterprise",
];

pub(crate) fn skill_name(i: usize) -> String {
    SKILL_NAMES.get(i).map_or_else(|| format!("skill-{}", i + 1), |&n| n.to_owned())
}

/// How likely an agent is to hold skill `i`. Skill 0 (`english`) is everyone's; the others fall off
/// like 0.6 / (1 + i/4): 48 % hold the second skill, 22 % the eighth, 4 % the sixty-fourth (two agents
/// of fifty), the long tail of rare languages and niche products real teams have.
pub(crate) fn skill_share(i: usize) -> f64 {
    if i == 0 { 1.0 } else { 0.6 / (1.0 + i as f64 / 4.0) }
}

/// Share of tickets that require one skill, and that carry one or two optional skills. Skills are
/// drawn in proportion to [`skill_share`], so demand for a skill follows its supply.
pub(crate) const REQUIRED_SKILL_P: f64 = 0.30;
pub(crate) const OPTIONAL_SKILLS_P: f64 = 0.25;

/// Groups, with the share of agents in each (every agent is in at least one: `support` if the draw
/// gives none) and the share of tickets that come with it (the rest have no group).
pub(crate) const GROUPS: [&str; 4] = ["support", "billing", "sales", "vip"];
pub(crate) const GROUP_MEMBERSHIP: [f64; 4] = [0.85, 0.40, 0.30, 0.12];
pub(crate) const TICKET_GROUP: [(Option<usize>, u32); 5] =
    [(None, 55), (Some(0), 25), (Some(1), 10), (Some(2), 7), (Some(3), 3)];

/// Ticket priority mix; `vip` tickets are at least `high`.
pub(crate) const PRIORITIES: [(Priority, u32); 4] =
    [(Priority::Low, 10), (Priority::Normal, 70), (Priority::High, 15), (Priority::Urgent, 5)];

/// Share of tickets that carry the account's second brand (`<account>-outlet`).
pub(crate) const BRAND_P: f64 = 0.10;

/// Capacity per channel: messaging 2–5 concurrent chats, email 5–10 open tickets, talk 1 call for the
/// 60 % of agents on phones (0, left out of the map, for the rest).
pub(crate) const MESSAGING_CAPACITY: (u64, u64) = (2, 5);
pub(crate) const EMAIL_CAPACITY: (u64, u64) = (5, 10);
pub(crate) const TALK_AGENT_P: f64 = 0.60;

/// Where a new contact comes from, per mille: 70 % messaging, 20 % email, 10 % talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    WebWidget { authenticated: bool },
    MobileSdk { authenticated: bool },
    WhatsApp,
    Messenger,
    Email,
    Talk,
}

pub(crate) const ORIGINS: [(Origin, u32); 8] = [
    (Origin::WebWidget { authenticated: false }, 240),
    (Origin::WebWidget { authenticated: true }, 160),
    (Origin::MobileSdk { authenticated: true }, 80),
    (Origin::MobileSdk { authenticated: false }, 40),
    (Origin::WhatsApp, 120),
    (Origin::Messenger, 60),
    (Origin::Email, 200),
    (Origin::Talk, 100),
];

/// The `via` of an email ticket: mostly mail, some web forms and API integrations.
pub(crate) const EMAIL_VIAS: [(&str, u32); 3] = [("email", 80), ("web_form", 15), ("api", 5)];

/// Arrivals per hour of the day (UTC), relative to the daily mean (normalised at start): quiet nights,
/// a morning ramp, a plateau through business hours and a long evening tail.
pub(crate) const DIURNAL: [f64; 24] = [
    0.25, 0.20, 0.20, 0.20, 0.25, 0.35, 0.60, 0.90, 1.30, 1.60, 1.70, 1.70, 1.60, 1.60, 1.60, 1.50, 1.40,
    1.20, 1.00, 0.90, 0.80, 0.60, 0.45, 0.35,
];

/// Shifts: start (UTC), and the share of agents on each (by index into [`SHIFT_STARTS`]), 8 h 30 min
/// long, lunch included. Chosen so that the agents on shift follow [`DIURNAL`]: at the default
/// rate, with 85 % of those on shift available (breaks), there are 1.2 to 1.4 times the agents the
/// chats need at 100 % occupancy from 07:00 to 17:00, and more in the evening and at night.
pub(crate) const SHIFT_STARTS: [u64; 5] =
    [6 * HOUR, 7 * HOUR + 30 * MINUTE, 9 * HOUR, 14 * HOUR + 30 * MINUTE, 22 * HOUR];
pub(crate) const SHIFT_SHARES: [(usize, u32); 5] = [(0, 22), (1, 14), (2, 12), (3, 38), (4, 14)];
pub(crate) const SHIFT_LENGTH: u64 = 8 * HOUR + 30 * MINUTE;
/// Logins are staggered by up to this much either side of the shift start; logoffs come up to 5 min
/// early or 15 min late.
pub(crate) const LOGIN_JITTER: u64 = 10 * MINUTE;
pub(crate) const LOGOFF_JITTER: (u64, u64) = (5 * MINUTE, 15 * MINUTE);
/// Each agent works 5 days of 7; within a shift team the days off go round the week in turn, so
/// every day has the same crew.
pub(crate) const WORK_DAYS: u64 = 5;

/// Breaks within a shift: (offset from shift start, spread either side, duration range). Two coffee
/// breaks and a lunch, taken as the unified `away`, spread wide so a shift is never all at lunch
/// at once.
pub(crate) const BREAKS: [(u64, u64, (u64, u64)); 3] = [
    (2 * HOUR, 30 * MINUTE, (12 * MINUTE, 18 * MINUTE)),
    (4 * HOUR + 15 * MINUTE, 45 * MINUTE, (30 * MINUTE, 45 * MINUTE)),
    (6 * HOUR + 30 * MINUTE, 30 * MINUTE, (12 * MINUTE, 18 * MINUTE)),
];
/// Per shift: the chance of stepping off the phones (`talk` offline, for agents with talk capacity),
/// of a focus block on email (`messaging` away), and of a coaching session in `transfers_only`, with
/// their durations.
pub(crate) const TALK_OFF_P: f64 = 0.15;
pub(crate) const TALK_OFF_LENGTH: (u64, u64) = (30 * MINUTE, 90 * MINUTE);
pub(crate) const EMAIL_FOCUS_P: f64 = 0.10;
pub(crate) const EMAIL_FOCUS_LENGTH: (u64, u64) = (15 * MINUTE, 45 * MINUTE);
pub(crate) const COACHING_P: f64 = 0.05;
pub(crate) const COACHING_LENGTH: (u64, u64) = (20 * MINUTE, 60 * MINUTE);
/// Per shift: the chance a supervisor edits the agent (a skill gained or lost, messaging capacity
/// moved by one), and the chance the agent leaves for good at the end of it (a replacement is hired
/// the same minute and takes over the shift pattern).
pub(crate) const EDIT_P: f64 = 0.03;
pub(crate) const LEAVE_P: f64 = 0.002;

/// Answering an offer, per channel kind: accept, decline, or let it time out, with the delays. A
/// messaging accept takes 1.5 s plus an Erlang-2 of mean 5 s, never past 29 s (offer timeout 30 s);
/// a call rings 2–12 s before it is picked up.
pub(crate) const OFFER_MESSAGING: [(OfferAnswer, u32); 3] =
    [(OfferAnswer::Accept, 85), (OfferAnswer::Decline, 8), (OfferAnswer::Ignore, 7)];
pub(crate) const OFFER_TALK: [(OfferAnswer, u32); 3] =
    [(OfferAnswer::Accept, 90), (OfferAnswer::Decline, 5), (OfferAnswer::Ignore, 5)];
pub(crate) const ACCEPT_BASE: u64 = 1500;
pub(crate) const ACCEPT_MEAN: f64 = 5000.0;
pub(crate) const ACCEPT_LATEST: u64 = 29 * SECOND;
pub(crate) const TALK_RING: (u64, u64) = (2 * SECOND, 12 * SECOND);
pub(crate) const DECLINE_DELAY: (u64, u64) = (SECOND, 10 * SECOND);
/// An agent who lets an offer ring out has sometimes just stepped away: this share of them go
/// `away` 5–25 s into the offer (before it times out) for 5–15 minutes.
pub(crate) const IGNORED_AWAY_P: f64 = 0.10;
pub(crate) const IGNORED_AWAY_AFTER: (u64, u64) = (5 * SECOND, 25 * SECOND);
pub(crate) const IGNORED_AWAY_LENGTH: (u64, u64) = (5 * MINUTE, 15 * MINUTE);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferAnswer {
    Accept,
    Decline,
    Ignore,
}

/// Handle time, from assignment (or reopening) to the agent's next status change: Erlang(k, mean).
/// Email tickets are worked side by side, so their "handle time" stands for an inbox worked through
/// in order, not for one email's typing time.
pub(crate) const HANDLE_CHAT: (u32, f64) = (2, 9.0 * MINUTE as f64);
pub(crate) const HANDLE_CHAT_AGAIN: (u32, f64) = (2, 4.0 * MINUTE as f64);
pub(crate) const HANDLE_EMAIL: (u32, f64) = (2, 40.0 * MINUTE as f64);
pub(crate) const HANDLE_TALK: (u32, f64) = (3, 6.0 * MINUTE as f64);
pub(crate) const HANDLE_MIN: u64 = 30 * SECOND;

/// What the agent does when done for now, per channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Solve,
    Pending,
    Hold,
    Transfer,
}

pub(crate) const OUTCOME_MESSAGING: [(Outcome, u32); 4] =
    [(Outcome::Solve, 65), (Outcome::Pending, 25), (Outcome::Hold, 4), (Outcome::Transfer, 6)];
pub(crate) const OUTCOME_EMAIL: [(Outcome, u32); 4] =
    [(Outcome::Solve, 55), (Outcome::Pending, 30), (Outcome::Hold, 10), (Outcome::Transfer, 5)];
pub(crate) const OUTCOME_TALK: [(Outcome, u32); 4] =
    [(Outcome::Solve, 80), (Outcome::Pending, 12), (Outcome::Hold, 3), (Outcome::Transfer, 5)];
/// A transfer goes to another group (60 %) or to a colleague online on the channel (40 %; to a group
/// when nobody is). Groups are chosen by these weights, the ticket's own group left out.
pub(crate) const TRANSFER_TO_GROUP_P: f64 = 0.60;
pub(crate) const TRANSFER_GROUPS: [u32; 4] = [50, 30, 15, 5];

/// A supervisor watching the queue assigns a ticket that has waited 20–40 min by hand to someone
/// on the channel (its group's members first), over capacity if need be; with nobody there, they
/// look again as long later.
pub(crate) const SWEEP_AFTER: (u64, u64) = (20 * MINUTE, 40 * MINUTE);

/// Customer messages that change nothing for routing: 0–3 while a chat is being worked, and one
/// "are you there?" 30 s–3 min after opening a chat (sent only while it is still new or open).
pub(crate) const CHATTER_MAX: u64 = 3;
pub(crate) const NUDGE_P: f64 = 0.30;
pub(crate) const NUDGE_AFTER: (u64, u64) = (30 * SECOND, 3 * MINUTE);

/// A `pending` messaging or talk ticket: the customer answers with this chance, after a delay drawn
/// from [`REPLY_DELAYS`]. Whether or not they do, the assignee solves a still-pending ticket 1–3 days
/// later (the usual pending-reminder automation).
pub(crate) const PENDING_REPLY_P: f64 = 0.70;
pub(crate) const PENDING_SOLVE_AFTER: (u64, u64) = (DAY, 3 * DAY);
/// A `pending` email ticket cannot be answered through a conversation (email tickets come with
/// helpdesk ids): the assignee reopens it when the answer lands (60 %, 2–24 h later) or solves it.
pub(crate) const EMAIL_ANSWERED_P: f64 = 0.60;
pub(crate) const EMAIL_ANSWERED_AFTER: (u64, u64) = (2 * HOUR, 24 * HOUR);
/// `on_hold` (waiting on a third party): the assignee reopens it 30 min–4 h later.
pub(crate) const HOLD_LENGTH: (u64, u64) = (30 * MINUTE, 4 * HOUR);

/// A `solved` messaging or talk ticket: the customer writes again with this chance.
pub(crate) const RETURN_P_MESSAGING: f64 = 0.20;
pub(crate) const RETURN_P_TALK: f64 = 0.10;

/// How long a customer takes to answer or come back: soon (exponential, mean given), later the same
/// day, or days later. Against the shipped styles, "soon" mostly reopens, "later" reopens
/// `social_messaging` tickets but follows up `live_chat_returning` ones, and "days later" straddles
/// the 4-day `social_messaging` window; every reply to a `live_chat` ticket is a follow-up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delay {
    Soon(f64),
    Later,
    DaysLater,
}

pub(crate) const REPLY_DELAYS: [(Delay, u32); 3] =
    [(Delay::Soon(8.0 * MINUTE as f64), 60), (Delay::Later, 30), (Delay::DaysLater, 10)];
pub(crate) const RETURN_DELAYS: [(Delay, u32); 3] =
    [(Delay::Soon(15.0 * MINUTE as f64), 50), (Delay::Later, 35), (Delay::DaysLater, 15)];
pub(crate) const LATER: (u64, u64) = (HOUR, 24 * HOUR);
pub(crate) const DAYS_LATER: (u64, u64) = (2 * DAY, 6 * DAY);
