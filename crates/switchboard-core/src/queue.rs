//! The account's queue of tickets waiting for an agent.
//!
//! One order for the whole account (priority, then queue time, then ticket id), kept twice: once
//! whole, for listing and positions, and once split into buckets of tickets that need the same
//! thing (channel, group, effective skills, and agents they exclude). When an agent frees capacity,
//! only the buckets whose needs the agent meets are looked at, and in each only its head matters,
//! so routing after a release costs O(buckets × log n) instead of a walk over the whole queue.
//! Exclusions are part of the bucket so that an agent who declined many waiting tickets skips them
//! a bucket at a time instead of one ticket at a time.

use crate::bitset::BitSet;
use crate::types::{Millis, Priority};
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

/// Position of a ticket in queue order. Field order is the sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct QueueKey {
    /// 0 for urgent .. 3 for low, so urgent sorts first.
    urgency: u8,
    time: Millis,
    id: Arc<str>,
}

impl QueueKey {
    pub fn new(priority: Priority, time: Millis, id: Arc<str>) -> Self {
        QueueKey { urgency: urgency(priority), time, id }
    }
}

fn urgency(priority: Priority) -> u8 {
    Priority::Urgent as u8 - priority as u8
}

/// What a ticket needs of an agent; tickets needing the same share a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Needs {
    pub channel: u8,
    pub group: Option<u32>,
    /// Required skills, plus the optional ones until they relax.
    pub skills: BitSet,
    /// Agents who declined or let an offer time out, sorted.
    pub excluded: SmallVec<[u32; 2]>,
}

impl Needs {
    /// Whether this agent, with these groups and skills, meets the needs (capacity aside).
    pub fn met_by(&self, agent: u32, groups: &BitSet, skills: &BitSet) -> bool {
        self.group.is_none_or(|g| groups.contains(g))
            && self.skills.is_subset(skills)
            && self.excluded.binary_search(&agent).is_err()
    }
}

#[derive(Debug)]
struct Bucket {
    needs: Needs,
    tickets: BTreeMap<QueueKey, u32>,
}

/// The queue. Ticket handles are the account's ticket indices.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    order: BTreeMap<QueueKey, u32>,
    buckets: Vec<Option<Bucket>>,
    free: Vec<u32>,
    by_needs: HashMap<Needs, u32, ahash::RandomState>,
    per_channel: Vec<Vec<u32>>,
    /// Waiting tickets per channel and urgency, kept as they come and go so stats cost nothing.
    counts: Vec<[u32; 4]>,
}

impl Queue {
    /// Adds a ticket; returns its bucket, which `remove` needs.
    pub fn insert(&mut self, key: QueueKey, needs: Needs, ticket: u32) -> u32 {
        let ch = needs.channel as usize;
        let b = match self.by_needs.get(&needs) {
            Some(&b) => b,
            None => {
                let bucket = Some(Bucket { needs: needs.clone(), tickets: BTreeMap::new() });
                let b = match self.free.pop() {
                    Some(b) => {
                        self.buckets[b as usize] = bucket;
                        b
                    }
                    None => {
                        self.buckets.push(bucket);
                        (self.buckets.len() - 1) as u32
                    }
                };
                self.by_needs.insert(needs, b);
                if self.per_channel.len() <= ch {
                    self.per_channel.resize_with(ch + 1, Vec::new);
                }
                self.per_channel[ch].push(b);
                b
            }
        };
        if self.counts.len() <= ch {
            self.counts.resize(ch + 1, [0; 4]);
        }
        self.counts[ch][key.urgency as usize] += 1;
        let bucket = self.buckets[b as usize].as_mut().expect("live bucket");
        bucket.tickets.insert(key.clone(), ticket);
        self.order.insert(key, ticket);
        b
    }

    pub fn remove(&mut self, key: &QueueKey, bucket: u32) {
        self.order.remove(key);
        let Some(Some(b)) = self.buckets.get_mut(bucket as usize) else {
            debug_assert!(false, "removing from a dead bucket");
            return;
        };
        if b.tickets.remove(key).is_some() {
            self.counts[b.needs.channel as usize][key.urgency as usize] -= 1;
        }
        if b.tickets.is_empty() {
            let b = self.buckets[bucket as usize].take().expect("live bucket");
            self.by_needs.remove(&b.needs);
            let list = &mut self.per_channel[b.needs.channel as usize];
            if let Some(i) = list.iter().position(|&x| x == bucket) {
                list.swap_remove(i);
            }
            self.free.push(bucket);
        }
    }

    /// The first ticket after `after`, in queue order, on `channel`, whose needs this agent with
    /// these groups and skills meets.
    pub fn first_for(
        &self,
        channel: u8,
        agent: u32,
        groups: &BitSet,
        skills: &BitSet,
        after: Option<&QueueKey>,
    ) -> Option<(QueueKey, u32)> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut best: Option<(&QueueKey, u32)> = None;
        for &b in self.per_channel.get(channel as usize).map_or(&[][..], |v| v) {
            let bucket = self.buckets[b as usize].as_ref().expect("listed buckets are live");
            if !bucket.needs.met_by(agent, groups, skills) {
                continue;
            }
            let hit = bucket.tickets.range((lower, Bound::Unbounded)).next();
            if let Some((k, &t)) = hit
                && best.is_none_or(|(bk, _)| k < bk)
            {
                best = Some((k, t));
            }
        }
        best.map(|(k, t)| (k.clone(), t))
    }

    /// Waiting tickets in queue order.
    pub fn iter(&self) -> impl Iterator<Item = (&QueueKey, u32)> {
        self.order.iter().map(|(k, &t)| (k, t))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Zero-based position of a queued ticket. Walks the queue: for queries, not for routing.
    pub fn position(&self, key: &QueueKey) -> usize {
        self.order.range(..key).count()
    }

    /// Waiting tickets on the channel with this priority.
    pub fn count(&self, channel: u8, priority: Priority) -> u32 {
        self.counts.get(channel as usize).map_or(0, |c| c[urgency(priority) as usize])
    }

    /// The earliest queue time among waiting tickets on the channel with this priority: the head,
    /// for that priority, of each bucket of the channel.
    pub fn oldest(&self, channel: u8, priority: Priority) -> Option<Millis> {
        let u = urgency(priority);
        let from = QueueKey { urgency: u, time: 0, id: Arc::from("") };
        self.per_channel
            .get(channel as usize)?
            .iter()
            .filter_map(|&b| {
                let bucket = self.buckets[b as usize].as_ref()?;
                let (k, _) = bucket.tickets.range(&from..).next()?;
                (k.urgency == u).then_some(k.time)
            })
            .min()
    }

    #[cfg(test)]
    pub fn bucket_count(&self) -> usize {
        self.by_needs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: Priority, t: Millis, id: &str) -> QueueKey {
        QueueKey::new(p, t, id.into())
    }

    fn needs(channel: u8, skills: &[u32], excluded: &[u32]) -> Needs {
        Needs {
            channel,
            group: None,
            skills: skills.iter().copied().collect(),
            excluded: excluded.iter().copied().collect(),
        }
    }

    #[test]
    fn order_is_priority_then_time_then_id_in_code_point_order() {
        let mut q = Queue::default();
        let n = needs(0, &[], &[]);
        q.insert(key(Priority::Normal, 5, "c#9"), n.clone(), 1);
        q.insert(key(Priority::Normal, 5, "c#10"), n.clone(), 2);
        q.insert(key(Priority::Urgent, 9, "z"), n.clone(), 3);
        q.insert(key(Priority::Low, 1, "a"), n.clone(), 4);
        q.insert(key(Priority::Normal, 4, "y"), n, 5);
        let order: Vec<u32> = q.iter().map(|(_, t)| t).collect();
        assert_eq!(order, vec![3, 5, 2, 1, 4]);
    }

    #[test]
    fn first_for_skips_buckets_the_agent_cannot_serve_or_is_excluded_from() {
        let mut q = Queue::default();
        q.insert(key(Priority::Urgent, 1, "a"), needs(0, &[7], &[]), 1);
        q.insert(key(Priority::Normal, 1, "b"), needs(0, &[], &[9]), 2);
        q.insert(key(Priority::Normal, 2, "c"), needs(0, &[], &[]), 3);
        q.insert(key(Priority::Urgent, 0, "d"), needs(1, &[], &[]), 4);
        let none = BitSet::new();
        let first = |agent, skills: &BitSet, after| q.first_for(0, agent, &none, skills, after);
        assert_eq!(first(8, &none, None).map(|x| x.1), Some(2));
        assert_eq!(first(9, &none, None).map(|x| x.1), Some(3));
        let seven: BitSet = [7].into_iter().collect();
        let found = first(8, &seven, None);
        assert_eq!(found.as_ref().map(|x| x.1), Some(1));
        let after = found.unwrap().0;
        assert_eq!(first(8, &seven, Some(&after)).map(|x| x.1), Some(2));
    }

    #[test]
    fn empty_buckets_are_dropped_and_reused() {
        let mut q = Queue::default();
        let n = Needs { group: Some(1), ..needs(0, &[], &[]) };
        let k = key(Priority::Normal, 1, "a");
        let b = q.insert(k.clone(), n.clone(), 1);
        q.remove(&k, b);
        assert_eq!(q.bucket_count(), 0);
        assert_eq!(q.len(), 0);
        let b2 = q.insert(k, n, 1);
        assert_eq!(b, b2);
        assert_eq!(q.bucket_count(), 1);
    }
}
