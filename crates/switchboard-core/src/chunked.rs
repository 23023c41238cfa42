//! A vector that grows without moving what it holds, and that can be shared with a snapshot
//! writer without copying.
//!
//! Tickets are only ever added, and an account can hold millions. In a `Vec`, each doubling copies
//! every ticket into freshly zeroed pages: a stall of tens of milliseconds on a shard thread at a
//! million tickets, and a tenth of the engine's time in a growing workload. Fixed-size chunks make
//! a push at worst one chunk allocation, at the price of one more indirection per access.
//!
//! [`Chunked::freeze`] hands out every chunk behind an `Arc` (copy-on-write): the snapshot writer
//! reads them on its own thread while the engine goes on, and the first change to a chunk the
//! writer still holds copies that one chunk. Closed tickets never change, so a snapshot copies
//! only the few chunks of recent tickets, whatever the total.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// Elements per chunk: big enough that the chunk list stays short, small enough that allocating
/// or copying one chunk is cheap.
const CHUNK: usize = 1024;

#[derive(Debug)]
enum Chunk<T> {
    /// Only the engine has it.
    Own(Vec<T>),
    /// Handed out by [`Chunked::freeze`]; made `Own` again at the first change.
    Shared(Arc<Vec<T>>),
}

impl<T> Chunk<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Chunk::Own(v) => v,
            Chunk::Shared(v) => v,
        }
    }
}

impl<T: Clone> Chunk<T> {
    /// The chunk's elements for changing: taken back from the `Arc` when nobody else holds it,
    /// copied when a snapshot writer still does.
    fn own(&mut self) -> &mut Vec<T> {
        if let Chunk::Shared(shared) = self {
            let shared = std::mem::take(shared);
            *self = Chunk::Own(Arc::try_unwrap(shared).unwrap_or_else(|still| {
                // A full chunk's room, so that pushes into a copied last chunk never reallocate.
                let mut copy = Vec::with_capacity(CHUNK.max(still.len()));
                copy.extend_from_slice(&still);
                copy
            }));
        }
        match self {
            Chunk::Own(v) => v,
            Chunk::Shared(_) => unreachable!("made owned just above"),
        }
    }
}

/// An append-only sequence indexed like a slice.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Chunk<T>>,
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

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(Chunk::as_slice)
    }

    /// Every element as it is now, shared rather than copied (see the module's doc).
    pub fn freeze(&mut self) -> Frozen<T> {
        let chunks = self
            .chunks
            .iter_mut()
            .map(|chunk| {
                if let Chunk::Own(v) = chunk {
                    *chunk = Chunk::Shared(Arc::new(std::mem::take(v)));
                }
                match chunk {
                    Chunk::Shared(shared) => shared.clone(),
                    Chunk::Own(_) => unreachable!("made shared just above"),
                }
            })
            .collect();
        Frozen { chunks }
    }
}

impl<T: Clone> Chunked<T> {
    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Chunk::Own(Vec::with_capacity(CHUNK)));
        }
        // The last chunk has room: a new one was just added when the others were full.
        if let Some(last) = self.chunks.last_mut() {
            last.own().push(value);
        }
        self.len += 1;
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK].as_slice()[i % CHUNK]
    }
}

impl<T: Clone> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK].own()[i % CHUNK]
    }
}

impl<T: Clone> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = Chunked::default();
        for value in iter {
            out.push(value);
        }
        out
    }
}

/// The elements of a [`Chunked`] at the moment it was frozen; cheap to take, `Send` when `T` is.
#[derive(Debug, Clone)]
pub(crate) struct Frozen<T> {
    chunks: Vec<Arc<Vec<T>>>,
}

impl<T> Frozen<T> {
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter())
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
        let copy: Chunked<usize> = c.iter().copied().collect();
        assert_eq!(copy.len(), c.len());
    }

    #[test]
    fn a_frozen_view_keeps_its_moment_and_copies_only_what_changes_after() {
        let mut c: Chunked<usize> = (0..(2 * CHUNK + 10)).collect();
        let frozen = c.freeze();
        c[5] = 500;
        c.push(1);
        let untouched = &c[CHUNK + 3] as *const usize;
        assert!(frozen.iter().copied().eq(0..(2 * CHUNK + 10)), "the view is the state at freezing");
        assert_eq!((c[5], c[2 * CHUNK + 10]), (500, 1));
        // The middle chunk was never changed: still the very memory the view holds.
        assert_eq!(frozen.iter().nth(CHUNK + 3).map(|x| x as *const usize), Some(untouched));
        drop(frozen);
        // Nobody else holds it now: changing takes it back without a copy.
        c[CHUNK + 3] = 9;
        assert_eq!(&c[CHUNK + 3] as *const usize, untouched);
        assert_eq!(c.iter().count(), 2 * CHUNK + 11);
    }
}
