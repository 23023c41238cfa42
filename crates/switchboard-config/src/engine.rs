//! From the file as written to the engine's [`Config`]: defaults for what the file leaves out,
//! every check that involves ranges or names, and the per-account merge.
//!
//! Defaults come from [`Config::default`], the engine's shipped values; a test holds them equal to
//! `config/switchboard.toml`, so a file that leaves a key out gets the value that file shows.

use crate::error::{Bad, index, join, listing};
use crate::raw::{self, Mapping, Table, TableList};
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_core::config::{
    ChannelPolicy, MAX_CLOSE_AFTER_SOLVED_MS, MAX_SKILLS_TIMEOUT_MS, Style, StyleRule, UnifiedStatus,
};
use switchboard_core::{AgentStatus, AssignmentMethod, AssignmentMode, Config, Millis, Policy};

/// The longest offer timeout, in seconds. The contract sets no bound; one day is far beyond any
/// real wait for an answer, and a bound keeps `at + timeout` far from overflowing in the engine.
const MAX_OFFER_TIMEOUT_S: u64 = 24 * 60 * 60;

/// Settings of a channel whose name the shipped config does not have.
const NEW_CHANNEL: ChannelPolicy = ChannelPolicy {
    mode: AssignmentMode::Offer,
    offer_timeout_ms: 30_000,
    skills_timeout_ms: 60_000,
    reassign_on_unavailable: true,
};

/// The engine configuration a file describes.
pub(crate) fn build(file: &raw::File) -> Result<Config, Bad> {
    let shipped = Config::default();
    let (channels, policies) = match &file.channels {
        None => (shipped.channels.clone(), shipped.defaults.channels.clone()),
        Some(Table(set)) => channel_set(set, &shipped)?,
    };
    // The shipped styles and rules stay at their indices whatever the file adds, so the shipped
    // rules and default style remain valid until the file replaces them.
    let mut defaults = Policy {
        channels: policies,
        unified_statuses: shipped_unified(&channels),
        ..(*shipped.defaults).clone()
    };
    let routing = &file.routing.0;
    Layer {
        routing_at: "routing".into(),
        at: String::new(),
        assignment_method: routing.assignment_method.map(|m| m.0),
        default_style: routing.default_style.as_ref().map(|s| s.0.as_str()),
        styles: &file.styles.0,
        style_rules: file.style_rules.as_ref(),
        unified_statuses: &file.unified_statuses.0,
    }
    .apply(&mut defaults, &channels)?;

    let mut accounts = BTreeMap::new();
    for (name, Table(account)) in &file.accounts.0 {
        let at = join("accounts", name);
        if name.is_empty() {
            return Err(Bad::new(at, "an account id must not be empty"));
        }
        let mut policy = defaults.clone();
        for (channel, Table(raw)) in &account.channels.0 {
            let key = join(&join(&at, "channels"), channel);
            let Some(i) = channels.iter().position(|c| **c == **channel) else {
                return Err(Bad::new(
                    key,
                    format!("unknown channel {channel:?} (channels cannot be added per account)"),
                ));
            };
            policy.channels[i] = channel_policy(raw, &policy.channels[i], &key)?;
        }
        Layer {
            routing_at: at.clone(),
            at,
            assignment_method: account.assignment_method.map(|m| m.0),
            default_style: account.default_style.as_ref().map(|s| s.0.as_str()),
            styles: &account.styles.0,
            style_rules: account.style_rules.as_ref(),
            unified_statuses: &account.unified_statuses.0,
        }
        .apply(&mut policy, &channels)?;
        accounts.insert(name.clone(), Arc::new(policy));
    }
    Ok(Config { channels, defaults: Arc::new(defaults), accounts })
}

/// A `[channels]` section: it replaces the shipped set.
fn channel_set(
    set: &IndexMap<String, Table<raw::Channel>>,
    shipped: &Config,
) -> Result<(Vec<Arc<str>>, Vec<ChannelPolicy>), Bad> {
    if set.is_empty() {
        return Err(Bad::new("channels", "at least one channel is required"));
    }
    // The engine's own bound (`Config::check`), reported here with the key.
    if set.len() > 255 {
        return Err(Bad::new("channels", format!("at most 255 channels are supported, got {}", set.len())));
    }
    let mut names = Vec::with_capacity(set.len());
    let mut policies = Vec::with_capacity(set.len());
    for (name, Table(raw)) in set {
        let at = join("channels", name);
        if name.is_empty() {
            return Err(Bad::new(at, "a channel name must not be empty"));
        }
        // A key left out takes the shipped value of the channel of that name (a bare
        // `[channels.email]` stays auto), or the generic one for a new name.
        let base = shipped.channel_index(name).map_or(&NEW_CHANNEL, |i| &shipped.defaults.channels[i]);
        policies.push(channel_policy(raw, base, &at)?);
        names.push(Arc::from(name.as_str()));
    }
    Ok((names, policies))
}

/// `base` with the keys a channel table gives.
fn channel_policy(raw: &raw::Channel, base: &ChannelPolicy, at: &str) -> Result<ChannelPolicy, Bad> {
    let mut policy = base.clone();
    if let Some(mode) = raw.mode {
        policy.mode = mode.0;
    }
    if let Some(raw::Count(s)) = raw.offer_timeout_s {
        let key = join(at, "offer_timeout_s");
        if s == 0 {
            return Err(Bad::new(
                key,
                "must be at least 1 s (an offer that expires at once could never be accepted)",
            ));
        }
        policy.offer_timeout_ms = seconds(s, MAX_OFFER_TIMEOUT_S, "1-day", key)?;
    }
    if let Some(raw::Count(s)) = raw.skills_timeout_s {
        let key = join(at, "skills_timeout_s");
        policy.skills_timeout_ms = seconds(s, MAX_SKILLS_TIMEOUT_MS / 1000, "1-hour", key)?;
    }
    if let Some(flag) = raw.reassign_on_unavailable {
        policy.reassign_on_unavailable = flag.0;
    }
    Ok(policy)
}

/// A duration of `s` seconds, in milliseconds, refused over `max_s` (`limit` names that bound).
pub(crate) fn seconds(s: u64, max_s: u64, limit: &str, key: String) -> Result<Millis, Bad> {
    if s > max_s {
        return Err(Bad::new(key, format!("{s} s is over the {limit} limit ({max_s} s)")));
    }
    Ok(s * 1000)
}

/// The shipped unified statuses for a channel set: `away` keeps a channel named `email` online
/// (an away agent can still be routed email) and sets every other channel away.
fn shipped_unified(channels: &[Arc<str>]) -> Vec<UnifiedStatus> {
    let status = |name: &str, per_channel: &dyn Fn(&str) -> AgentStatus| UnifiedStatus {
        name: name.into(),
        per_channel: channels.iter().map(|c| per_channel(c)).collect(),
    };
    vec![
        status("online", &|_| AgentStatus::Online),
        status("away", &|c| {
            if c == "email" { AgentStatus::Online } else { AgentStatus::Away }
        }),
        status("transfers_only", &|_| AgentStatus::TransfersOnly),
        status("offline", &|_| AgentStatus::Offline),
    ]
}

/// The policy keys that both the top level and an account may set, and where they were written.
struct Layer<'a> {
    /// Key path holding `assignment_method` and `default_style`: `routing` at the top level, the
    /// account's table in an account.
    routing_at: String,
    /// Key path holding `styles`, `style_rules` and `unified_statuses`: the top level ("") or the
    /// account's table.
    at: String,
    assignment_method: Option<AssignmentMethod>,
    default_style: Option<&'a str>,
    /// Added or changed by name.
    styles: &'a IndexMap<String, Table<raw::Style>>,
    /// Replace the rules when given.
    style_rules: Option<&'a TableList<raw::Rule>>,
    /// Added or replaced by name.
    unified_statuses: &'a IndexMap<String, Mapping>,
}

impl Layer<'_> {
    /// Merges this layer over `policy`. Styles come first so that the default style and the rules
    /// may name a style the same layer adds.
    fn apply(&self, policy: &mut Policy, channels: &[Arc<str>]) -> Result<(), Bad> {
        if let Some(method) = self.assignment_method {
            policy.assignment_method = method;
        }
        for (name, Table(raw)) in self.styles {
            merge_style(policy, name, raw, &join(&join(&self.at, "styles"), name))?;
        }
        if let Some(name) = self.default_style {
            policy.default_style = style_index(policy, name, join(&self.routing_at, "default_style"))?;
        }
        if let Some(TableList(rules)) = self.style_rules {
            let at = join(&self.at, "style_rules");
            policy.style_rules = rules
                .iter()
                .enumerate()
                .map(|(i, Table(rule))| style_rule(rule, &index(&at, i), policy, channels))
                .collect::<Result<_, _>>()?;
        }
        for (name, Table(mapping)) in self.unified_statuses {
            let status = unified(name, mapping, &join(&join(&self.at, "unified_statuses"), name), channels)?;
            match policy.unified_statuses.iter_mut().find(|u| u.name == status.name) {
                Some(existing) => *existing = status,
                None => policy.unified_statuses.push(status),
            }
        }
        Ok(())
    }
}

/// Changes the style `name`, or adds it.
fn merge_style(policy: &mut Policy, name: &str, raw: &raw::Style, at: &str) -> Result<(), Bad> {
    if name.is_empty() {
        return Err(Bad::new(at, "a style name must not be empty"));
    }
    let key = join(at, "close_after_solved_s");
    let close = raw
        .close_after_solved_s
        .map(|raw::Count(s)| seconds(s, MAX_CLOSE_AFTER_SOLVED_MS / 1000, "28-day", key.clone()))
        .transpose()?;
    match (policy.style_index(name), close) {
        (Some(i), Some(ms)) => policy.styles[i].close_after_solved_ms = ms,
        // An empty table for an existing style changes nothing.
        (Some(_), None) => {}
        (None, Some(ms)) => policy.styles.push(Style { name: name.into(), close_after_solved_ms: ms }),
        (None, None) => {
            return Err(Bad::new(key, "missing (a new style needs its close window)"));
        }
    }
    Ok(())
}

/// The index of the style `name`, refused at `key` when there is no such style.
fn style_index(policy: &Policy, name: &str, key: String) -> Result<usize, Bad> {
    policy.style_index(name).ok_or_else(|| {
        let known = listing(policy.styles.iter().map(|s| &*s.name));
        Bad::new(key, format!("unknown style {name:?} (known: {known})"))
    })
}

/// One `[[style_rules]]` entry, at key path `at`.
fn style_rule(raw: &raw::Rule, at: &str, policy: &Policy, channels: &[Arc<str>]) -> Result<StyleRule, Bad> {
    // An empty list or an empty string could never match a ticket: surely a mistake.
    let condition = |values: &Option<raw::Texts>, name: &str| -> Result<Option<Vec<String>>, Bad> {
        let Some(raw::Texts(values)) = values else {
            return Ok(None);
        };
        let key = join(at, name);
        if values.is_empty() {
            return Err(Bad::new(key, "must not be an empty list (it could never match)"));
        }
        if values.iter().any(String::is_empty) {
            return Err(Bad::new(key, "must not contain an empty string (it could never match)"));
        }
        Ok(Some(values.clone()))
    };
    let channel = condition(&raw.channel, "channel")?;
    if let Some(unknown) = channel.iter().flatten().find(|c| !channels.iter().any(|k| **k == ***c)) {
        let known = listing(channels.iter().map(|c| &**c));
        return Err(Bad::new(join(at, "channel"), format!("unknown channel {unknown:?} (known: {known})")));
    }
    let Some(style) = &raw.style else {
        return Err(Bad::new(join(at, "style"), "missing (every rule names the style it picks)"));
    };
    Ok(StyleRule {
        channel,
        via: condition(&raw.via, "via")?,
        authenticated: raw.authenticated.map(|f| f.0),
        brand: condition(&raw.brand, "brand")?,
        account: condition(&raw.account, "account")?,
        style: style_index(policy, &style.0, join(at, "style"))?,
    })
}

/// The unified status `name` from its table at key path `at`; it must map every channel.
fn unified(
    name: &str,
    mapping: &IndexMap<String, raw::OneOf<AgentStatus>>,
    at: &str,
    channels: &[Arc<str>],
) -> Result<UnifiedStatus, Bad> {
    if name.is_empty() {
        return Err(Bad::new(at, "a unified status name must not be empty"));
    }
    let mut per_channel = vec![None; channels.len()];
    for (channel, status) in mapping {
        let Some(i) = channels.iter().position(|c| **c == **channel) else {
            let known = listing(channels.iter().map(|c| &**c));
            return Err(Bad::new(join(at, channel), format!("unknown channel {channel:?} (known: {known})")));
        };
        per_channel[i] = Some(status.0);
    }
    let per_channel = per_channel
        .into_iter()
        .zip(channels)
        .map(|(status, channel)| {
            status.ok_or_else(|| Bad::new(join(at, channel), "missing (every channel must be mapped)"))
        })
        .collect::<Result<_, _>>()?;
    Ok(UnifiedStatus { name: name.to_owned(), per_channel })
}
