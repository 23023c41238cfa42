//! A vector that grows without moving what it holds.
//!
//! Tickets are only ever added, and an account can hold millions. In a `Vec`, each doubling copies
//! every ticket into freshly zeroed pages: a stall of tens of milliseconds on a shard thread at a
//! million tickets, and a tenth of the engine's time in a growing workload. Fixed-size chunks make
//! a push at worst one chunk allocation, at the price of one more indirection per access.

use std::ops::{Index, IndexMut};

/// Elements per chunk: big enough that the chunk list stays short, small enough that allocating
/// one chunk is cheap.
const CHUNK: usize = 1024;

/// An append-only sequence indexed like a slice.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        // The last chunk has room: a new one was just added when the others were full.
        if let Some(last) = self.chunks.last_mut() {
            last.push(value);
        }
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = Chunked::default();
        for value in iter {
            out.push(value);
        }
        out
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_iterates_and_never_moves_what_it_holds() {
        let mut c = Chunked::default();
        assert!(c.is_empty());
        c.push(0usize);
        let first = &c[0] as *const usize;
        for i in 1..(3 * CHUNK + 5) {
            c.push(i);
        }
        assert_eq!(c.len(), 3 * CHUNK + 5);
        assert_eq!(&c[0] as *const usize, first, "growing did not move the first element");
        assert!((0..c.len()).all(|i| c[i] == i));
        c[CHUNK] = 7;
        assert_eq!(c[CHUNK], 7);
        assert_eq!(c.iter().count(), c.len());
        assert_eq!((&c).into_iter().nth(CHUNK + 1), Some(&(CHUNK + 1)));
        let copy: Chunked<usize> = c.iter().copied().collect();
        assert_eq!(copy.len(), c.len());
    }
}
