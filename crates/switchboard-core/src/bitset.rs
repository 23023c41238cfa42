//! Small growable bitsets for skill and group sets.
//!
//! Skills and groups are interned per account to dense indices, so "has every required skill" is a
//! word-wise `required & !held == 0`. Two words inline cover 128 distinct names per account without
//! touching the heap. Trailing zero words are never stored, so equal sets compare and hash equal.

use smallvec::SmallVec;

/// A set of small integers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BitSet {
    words: SmallVec<[u64; 2]>,
}

impl BitSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `i`.
    pub fn insert(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    /// Whether `i` is in the set.
    pub fn contains(&self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    /// Whether every member of `self` is in `other`.
    pub fn is_subset(&self, other: &BitSet) -> bool {
        self.words.iter().enumerate().all(|(i, w)| w & !other.words.get(i).copied().unwrap_or(0) == 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The union of both sets.
    pub fn union(&self, other: &BitSet) -> BitSet {
        let (long, short) = if self.words.len() >= other.words.len() { (self, other) } else { (other, self) };
        let mut words = long.words.clone();
        for (w, s) in words.iter_mut().zip(short.words.iter()) {
            *w |= s;
        }
        BitSet { words }
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros();
                rest &= rest - 1;
                Some(wi as u32 * 64 + b)
            })
        })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl FromIterator<u32> for BitSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut s = BitSet::new();
        for i in iter {
            s.insert(i);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_across_word_boundaries() {
        let a: BitSet = [1, 70].into_iter().collect();
        let b: BitSet = [1, 2, 70, 200].into_iter().collect();
        assert!(a.is_subset(&b));
        assert!(!b.is_subset(&a));
        assert!(BitSet::new().is_subset(&a));
        let c: BitSet = [130].into_iter().collect();
        assert!(!c.is_subset(&a));
    }

    #[test]
    fn equal_sets_built_differently_are_equal() {
        let a: BitSet = [3, 5].into_iter().collect();
        let b: BitSet = [5, 3].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn union_keeps_both() {
        let a: BitSet = [1].into_iter().collect();
        let b: BitSet = [64, 65].into_iter().collect();
        assert_eq!(a.union(&b).iter().collect::<Vec<_>>(), vec![1, 64, 65]);
        assert_eq!(b.union(&a), a.union(&b));
    }
}
