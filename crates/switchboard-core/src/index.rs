//! Per-channel index of the agents who could take a ticket now.
//!
//! Only agents online for the channel with spare capacity ≥ 1 are in it, sorted best first by the
//! account's assignment method with its tie-breaks built into the key. Picking the best agent for a
//! ticket walks this order and returns the first agent that also meets the ticket's group, skills
//! and exclusions, so the answer is exact and, in the common case, found within the first few
//! entries. Per skill and per group it also counts the available agents that have it, so a ticket
//! needing something nobody available has is refused in O(needs) without a walk.

use crate::bitset::BitSet;
use crate::config::AssignmentMethod;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

/// An agent's place in the index. `Ord` puts the best agent first.
#[derive(Debug, Clone)]
pub(crate) struct RankKey {
    /// Spare capacity (0 under round robin, where it does not rank).
    spare: i64,
    /// Divisor of `spare` for the spare percentage method, 1 otherwise.
    capacity: i64,
    /// Sequence number of the last real assignment on the channel, 0 for never.
    last_assigned: u64,
    /// The id's first 8 bytes, big-endian: orders like the id in most comparisons without touching
    /// the string (ties on rank and last assignment are common: agents never assigned).
    id_prefix: u64,
    id: Arc<str>,
    pub agent: u32,
}

/// The first 8 bytes of `id` as a big-endian number, zero-padded: `a < b` ⇒ `prefix(a) <= prefix(b)`.
fn prefix(id: &str) -> u64 {
    let mut buf = [0u8; 8];
    let n = id.len().min(8);
    buf[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(buf)
}

impl RankKey {
    pub fn new(
        method: AssignmentMethod,
        spare: i64,
        capacity: u32,
        last_assigned: u64,
        id: Arc<str>,
        agent: u32,
    ) -> Self {
        let (spare, capacity) = match method {
            AssignmentMethod::SpareCapacity => (spare, 1),
            AssignmentMethod::SparePercentage => (spare, i64::from(capacity.max(1))),
            AssignmentMethod::RoundRobin => (0, 1),
        };
        RankKey { spare, capacity, last_assigned, id_prefix: prefix(&id), id, agent }
    }
}

impl Ord for RankKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // a/b > c/d ⇔ a·d > c·b for positive divisors; i128 keeps the products exact.
        let mine = i128::from(self.spare) * i128::from(other.capacity);
        let theirs = i128::from(other.spare) * i128::from(self.capacity);
        theirs
            .cmp(&mine)
            .then(self.last_assigned.cmp(&other.last_assigned))
            .then(self.id_prefix.cmp(&other.id_prefix))
            .then_with(|| self.id.cmp(&other.id))
            .then(self.agent.cmp(&other.agent))
    }
}

impl PartialOrd for RankKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RankKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RankKey {}

/// The available agents of one channel.
#[derive(Debug, Default)]
pub(crate) struct ChannelIndex {
    ranked: BTreeSet<RankKey>,
    skill_available: Vec<u32>,
    group_available: Vec<u32>,
}

fn bump(counts: &mut Vec<u32>, set: &BitSet, up: bool) {
    for i in set.iter() {
        let i = i as usize;
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        if up {
            counts[i] += 1;
        } else {
            counts[i] -= 1;
        }
    }
}

impl ChannelIndex {
    pub fn insert(&mut self, key: RankKey, groups: &BitSet, skills: &BitSet) {
        let fresh = self.ranked.insert(key);
        debug_assert!(fresh, "agent indexed twice");
        bump(&mut self.group_available, groups, true);
        bump(&mut self.skill_available, skills, true);
    }

    pub fn remove(&mut self, key: &RankKey, groups: &BitSet, skills: &BitSet) {
        let was = self.ranked.remove(key);
        debug_assert!(was, "removing an agent that was not indexed");
        bump(&mut self.group_available, groups, false);
        bump(&mut self.skill_available, skills, false);
    }

    /// Moves an agent already in the index to its new place (its rank changed, its skills and
    /// groups did not).
    pub fn rekey(&mut self, old: &RankKey, new: RankKey) {
        let was = self.ranked.remove(old);
        debug_assert!(was, "re-keying an agent that was not indexed");
        self.ranked.insert(new);
    }

    /// Whether some available agent could have every one of these needs.
    pub fn could_serve(&self, group: Option<u32>, skills: &BitSet) -> bool {
        let has = |counts: &[u32], i: u32| counts.get(i as usize).is_some_and(|&n| n > 0);
        group.is_none_or(|g| has(&self.group_available, g))
            && skills.iter().all(|s| has(&self.skill_available, s))
    }

    /// Available agents, best first.
    pub fn ranked(&self) -> impl Iterator<Item = &RankKey> {
        self.ranked.iter()
    }

    pub fn len(&self) -> usize {
        self.ranked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(method: AssignmentMethod, spare: i64, cap: u32, last: u64, id: &str) -> RankKey {
        RankKey::new(method, spare, cap, last, id.into(), 0)
    }

    #[test]
    fn spare_capacity_prefers_more_spare_then_earlier_assignment_then_id() {
        let m = AssignmentMethod::SpareCapacity;
        assert!(key(m, 3, 5, 9, "b") < key(m, 2, 2, 1, "a"));
        assert!(key(m, 2, 5, 1, "b") < key(m, 2, 2, 7, "a"));
        assert!(key(m, 2, 5, 0, "a") < key(m, 2, 2, 0, "b"));
    }

    #[test]
    fn spare_percentage_compares_ratios_exactly() {
        let m = AssignmentMethod::SparePercentage;
        assert!(key(m, 2, 3, 5, "a") < key(m, 3, 5, 1, "b"));
        // 1/2 == 2/4: the earlier last assignment wins.
        assert!(key(m, 2, 4, 1, "b") < key(m, 1, 2, 2, "a"));
    }

    #[test]
    fn round_robin_ignores_spare() {
        let m = AssignmentMethod::RoundRobin;
        assert!(key(m, 1, 5, 1, "b") < key(m, 4, 5, 2, "a"));
    }

    #[test]
    fn counts_say_whether_anyone_available_has_a_skill() {
        let mut ix = ChannelIndex::default();
        let groups: BitSet = [0].into_iter().collect();
        let skills: BitSet = [1, 2].into_iter().collect();
        let k = key(AssignmentMethod::SpareCapacity, 1, 1, 0, "a");
        ix.insert(k.clone(), &groups, &skills);
        assert!(ix.could_serve(Some(0), &[1].into_iter().collect()));
        assert!(!ix.could_serve(Some(1), &BitSet::new()));
        assert!(!ix.could_serve(None, &[3].into_iter().collect()));
        ix.remove(&k, &groups, &skills);
        assert!(!ix.could_serve(None, &[1].into_iter().collect()));
        assert_eq!(ix.len(), 0);
    }
}
