//! The engine's configuration: channels, routing policy, conversation styles.
//!
//! These are plain values; reading them from TOML, and the error messages that name a file and a
//! key, live in `switchboard-config`. [`Config::default`] is the shipped default, equal to the
//! shipped `config/switchboard.toml` (a test in `switchboard-config` holds the two together).

use crate::types::{AgentStatus, Millis};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// One day in milliseconds.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;
/// The longest a ticket may stay solved before it closes.
pub const MAX_CLOSE_AFTER_SOLVED_MS: Millis = 28 * DAY_MS;
/// The longest skills timeout.
pub const MAX_SKILLS_TIMEOUT_MS: Millis = 3600 * 1000;

/// How an account picks the best of its eligible agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentMethod {
    /// Most spare capacity on the channel.
    #[default]
    SpareCapacity,
    /// Highest spare/capacity ratio on the channel.
    SparePercentage,
    /// Earliest last assignment on the channel.
    RoundRobin,
}

impl AssignmentMethod {
    /// Every method.
    pub const ALL: [AssignmentMethod; 3] =
        [AssignmentMethod::SpareCapacity, AssignmentMethod::SparePercentage, AssignmentMethod::RoundRobin];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentMethod::SpareCapacity => "spare_capacity",
            AssignmentMethod::SparePercentage => "spare_percentage",
            AssignmentMethod::RoundRobin => "round_robin",
        }
    }

    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Whether routing offers a ticket or assigns it outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentMode {
    /// Offered to the best agent, who accepts or declines.
    Offer,
    /// Assigned to the best agent at once.
    Auto,
}

impl AssignmentMode {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentMode::Offer => "offer",
            AssignmentMode::Auto => "auto",
        }
    }
}

/// Routing settings of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPolicy {
    /// Offer or auto.
    pub mode: AssignmentMode,
    /// How long an offer waits for an answer.
    pub offer_timeout_ms: Millis,
    /// How long a ticket waits before its optional skills relax.
    pub skills_timeout_ms: Millis,
    /// Whether an agent's new/open tickets are requeued when they stop being online.
    pub reassign_on_unavailable: bool,
}

/// A conversation style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// Its name (`live_chat`, ...).
    pub name: Arc<str>,
    /// How long a solved ticket stays reopenable; 0 closes it with the solve.
    pub close_after_solved_ms: Millis,
}

/// A rule choosing the style of a ticket created without one. Every condition given must match;
/// a list matches when it contains the ticket's value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StyleRule {
    /// Channel names.
    pub channel: Option<Vec<String>>,
    /// `via` values.
    pub via: Option<Vec<String>>,
    /// Whether the requester is authenticated.
    pub authenticated: Option<bool>,
    /// Brands; a ticket without a brand never matches a brand condition.
    pub brand: Option<Vec<String>>,
    /// Account names.
    pub account: Option<Vec<String>>,
    /// Index into [`Policy::styles`].
    pub style: usize,
}

/// A unified agent status: one name for a status on every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedStatus {
    /// The name used in `agent_status` without a channel.
    pub name: String,
    /// The status per channel, aligned with [`Config::channels`].
    pub per_channel: Vec<AgentStatus>,
}

/// Everything that may differ between accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How the best agent is picked.
    pub assignment_method: AssignmentMethod,
    /// Per-channel settings, aligned with [`Config::channels`].
    pub channels: Vec<ChannelPolicy>,
    /// Conversation styles.
    pub styles: Vec<Style>,
    /// Rules choosing a style, first match wins.
    pub style_rules: Vec<StyleRule>,
    /// Index into `styles` of the style used when no rule matches.
    pub default_style: usize,
    /// Unified statuses, in the order error messages list them.
    pub unified_statuses: Vec<UnifiedStatus>,
}

/// The whole engine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Channel names, in the order the engine handles them (e.g. when an agent goes offline).
    pub channels: Vec<Arc<str>>,
    /// The policy of every account without an override.
    pub defaults: Arc<Policy>,
    /// Per-account policies, complete (overrides already merged over the defaults).
    pub accounts: BTreeMap<String, Arc<Policy>>,
}

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The policy for an account.
    pub fn policy(&self, account: &str) -> &Arc<Policy> {
        self.accounts.get(account).unwrap_or(&self.defaults)
    }

    /// Index of a channel name.
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| &**c == name)
    }

    /// Checks the structural invariants the engine relies on; `switchboard-config` gives friendlier
    /// errors first, this keeps hand-built configs from making the engine misbehave.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.channels.is_empty() {
            return Err(ConfigError("at least one channel is required".into()));
        }
        if self.channels.len() > 255 {
            return Err(ConfigError("at most 255 channels are supported".into()));
        }
        for (i, c) in self.channels.iter().enumerate() {
            if c.is_empty() || self.channels[..i].contains(c) {
                return Err(ConfigError(format!("channel name {c:?} is empty or repeated")));
            }
        }
        for (name, p) in std::iter::once(("(defaults)", &self.defaults))
            .chain(self.accounts.iter().map(|(k, v)| (k.as_str(), v)))
        {
            p.check(self.channels.len()).map_err(|e| ConfigError(format!("account {name}: {}", e.0)))?;
        }
        Ok(())
    }
}

impl Policy {
    fn check(&self, channels: usize) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.channels.len() != channels {
            return err(format!("{} channel policies for {channels} channels", self.channels.len()));
        }
        for c in &self.channels {
            if c.skills_timeout_ms > MAX_SKILLS_TIMEOUT_MS {
                return err(format!("skills timeout {} ms is over 3600 s", c.skills_timeout_ms));
            }
        }
        if self.styles.is_empty() {
            return err("at least one style is required".into());
        }
        for s in &self.styles {
            if s.close_after_solved_ms > MAX_CLOSE_AFTER_SOLVED_MS {
                return err(format!("style {} closes after more than 28 days", s.name));
            }
        }
        if self.default_style >= self.styles.len()
            || self.style_rules.iter().any(|r| r.style >= self.styles.len())
        {
            return err("a style index is out of range".into());
        }
        if self.unified_statuses.iter().any(|u| u.per_channel.len() != channels) {
            return err("a unified status does not map every channel".into());
        }
        Ok(())
    }

    /// The style index for a ticket created without an explicit style.
    pub fn style_for(
        &self,
        account: &str,
        channel: &str,
        via: &str,
        authenticated: bool,
        brand: Option<&str>,
    ) -> usize {
        let has = |list: &Option<Vec<String>>, v: Option<&str>| match list {
            None => true,
            Some(l) => v.is_some_and(|v| l.iter().any(|x| x == v)),
        };
        self.style_rules
            .iter()
            .find(|r| {
                has(&r.channel, Some(channel))
                    && has(&r.via, Some(via))
                    && r.authenticated.is_none_or(|a| a == authenticated)
                    && has(&r.brand, brand)
                    && has(&r.account, Some(account))
            })
            .map_or(self.default_style, |r| r.style)
    }

    /// Index of a style name.
    pub fn style_index(&self, name: &str) -> Option<usize> {
        self.styles.iter().position(|s| &*s.name == name)
    }

    /// The unified status of that name.
    pub fn unified(&self, name: &str) -> Option<&UnifiedStatus> {
        self.unified_statuses.iter().find(|u| u.name == name)
    }
}

impl Default for Config {
    /// The shipped defaults of `routing.md`.
    fn default() -> Self {
        use AgentStatus::*;
        let channels: Vec<Arc<str>> = ["messaging", "email", "talk"].map(Arc::from).to_vec();
        let channel = |mode, reassign| ChannelPolicy {
            mode,
            offer_timeout_ms: 30_000,
            skills_timeout_ms: 60_000,
            reassign_on_unavailable: reassign,
        };
        let unified = |name: &str, per_channel: [AgentStatus; 3]| UnifiedStatus {
            name: name.into(),
            per_channel: per_channel.to_vec(),
        };
        let style = |name: &str, close_after_solved_ms| Style { name: name.into(), close_after_solved_ms };
        let defaults = Policy {
            assignment_method: AssignmentMethod::SpareCapacity,
            channels: vec![
                channel(AssignmentMode::Offer, true),
                channel(AssignmentMode::Auto, false),
                channel(AssignmentMode::Offer, true),
            ],
            styles: vec![
                style("live_chat", 0),
                style("live_chat_returning", 3_600_000),
                style("social_messaging", 4 * DAY_MS),
            ],
            style_rules: vec![
                StyleRule {
                    via: Some(vec!["web_widget".into()]),
                    authenticated: Some(false),
                    style: 0,
                    ..StyleRule::default()
                },
                StyleRule {
                    via: Some(vec!["web_widget".into(), "mobile_sdk".into()]),
                    authenticated: Some(true),
                    style: 1,
                    ..StyleRule::default()
                },
            ],
            default_style: 2,
            unified_statuses: vec![
                unified("online", [Online, Online, Online]),
                unified("away", [Away, Online, Away]),
                unified("transfers_only", [TransfersOnly, TransfersOnly, TransfersOnly]),
                unified("offline", [Offline, Offline, Offline]),
            ],
        };
        Config { channels, defaults: Arc::new(defaults), accounts: BTreeMap::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_style_rules_follow_the_spec() {
        let c = Config::default();
        let p = &c.defaults;
        let name = |i: usize| p.styles[i].name.to_string();
        assert_eq!(name(p.style_for("a", "messaging", "web_widget", false, None)), "live_chat");
        assert_eq!(name(p.style_for("a", "messaging", "web_widget", true, None)), "live_chat_returning");
        assert_eq!(name(p.style_for("a", "messaging", "mobile_sdk", true, None)), "live_chat_returning");
        assert_eq!(name(p.style_for("a", "messaging", "mobile_sdk", false, None)), "social_messaging");
        assert_eq!(name(p.style_for("a", "messaging", "whatsapp", true, None)), "social_messaging");
        assert_eq!(name(p.style_for("a", "email", "email", false, None)), "social_messaging");
        c.check().unwrap();
    }

    #[test]
    fn check_refuses_a_close_window_over_28_days() {
        let mut c = Config::default();
        Arc::make_mut(&mut c.defaults).styles[2].close_after_solved_ms = MAX_CLOSE_AFTER_SOLVED_MS + 1;
        assert!(c.check().unwrap_err().0.contains("28 days"));
    }

    #[test]
    fn brand_condition_needs_a_brand() {
        let mut p = (*Config::default().defaults).clone();
        p.style_rules.insert(0, StyleRule { brand: Some(vec!["b".into()]), style: 1, ..Default::default() });
        assert_eq!(p.style_for("a", "email", "email", false, None), 2);
        assert_eq!(p.style_for("a", "email", "email", false, Some("b")), 1);
    }
}
