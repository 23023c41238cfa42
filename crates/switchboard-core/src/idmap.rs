//! A map from string ids to values that grows without long pauses.
//!
//! Growing a hash map moves every entry at once, and rehashes every key. With string keys behind
//! pointers, that was a cache miss and a string hash per entry: tens of milliseconds at a few
//! hundred thousand tickets, all inside one event, on the shard thread (the daemon's latency tail).
//! So the hash is kept next to the key (a rehash never touches the string), and the map is split
//! into [`PARTS`] tables by the hash's top bits, each growing on its own: one growth moves a
//! `PARTS`-th of the entries. A lookup compares the stored hash before the string.

use hashbrown::HashTable;
use std::sync::Arc;

/// Tables per map.
const PARTS: usize = 64;

#[derive(Debug)]
struct Entry<V> {
    hash: u64,
    key: Arc<str>,
    value: V,
}

/// Ids to values; the ids are shared with the records that hold them.
#[derive(Debug)]
pub(crate) struct IdMap<V> {
    /// Empty tables allocate nothing, so a small account costs little.
    parts: Box<[HashTable<Entry<V>>]>,
    state: ahash::RandomState,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap { parts: (0..PARTS).map(|_| HashTable::new()).collect(), state: ahash::RandomState::new() }
    }
}

impl<V> IdMap<V> {
    fn hash(&self, key: &str) -> u64 {
        self.state.hash_one(key)
    }

    /// The table for `hash`: six of its middle bits. The tables themselves use the low bits to
    /// choose a bucket and the top seven as a tag to skip non-matching entries; taking the table
    /// from either would leave those tables fewer distinct values to work with.
    fn part(hash: u64) -> usize {
        (hash >> 32) as usize % PARTS
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let hash = self.hash(key);
        self.parts[Self::part(hash)].find(hash, |e| e.hash == hash && &*e.key == key).map(|e| &e.value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub fn insert(&mut self, key: Arc<str>, value: V) -> Option<V> {
        let hash = self.hash(&key);
        let table = &mut self.parts[Self::part(hash)];
        match table.find_mut(hash, |e| e.hash == hash && e.key == key) {
            Some(e) => Some(std::mem::replace(&mut e.value, value)),
            None => {
                table.insert_unique(hash, Entry { hash, key, value }, |e| e.hash);
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let hash = self.hash(key);
        let entry =
            self.parts[Self::part(hash)].find_entry(hash, |e| e.hash == hash && &*e.key == key).ok()?;
        Some(entry.remove().0.value)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.parts.iter().flat_map(HashTable::iter).map(|e| &e.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_through_growth() {
        let mut m = IdMap::default();
        let n = 20_000u32;
        for i in 0..n {
            assert_eq!(m.insert(format!("t{i}").into(), i), None);
        }
        assert_eq!(m.values().count(), n as usize);
        assert!((0..n).all(|i| m.get(&format!("t{i}")) == Some(&i)));
        assert_eq!(m.insert("t7".into(), 70), Some(7));
        assert_eq!(m.get("t7"), Some(&70));
        assert!(!m.contains_key("nope"));
        assert_eq!(m.remove("t8"), Some(8));
        assert_eq!(m.remove("t8"), None);
        assert_eq!(m.values().count(), n as usize - 1);
        // The entries spread over the tables.
        assert!(m.parts.iter().all(|t| t.len() > (n as usize) / PARTS / 2), "uneven parts");
    }
}
