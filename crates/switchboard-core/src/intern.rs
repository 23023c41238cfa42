//! Per-account string interning for skills and groups, so sets of them are bitsets.

use std::collections::HashMap;
use std::sync::Arc;

/// Maps names to dense indices and back.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    names: Vec<Arc<str>>,
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, i);
        i
    }

    /// Every name, by index.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    pub fn name(&self, i: u32) -> &Arc<str> {
        &self.names[i as usize]
    }
}
