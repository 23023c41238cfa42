//! The data directory: which shard layout is current, and moving to another shard count.
//!
//! ```text
//! <dir>/CURRENT            "shards-4"
//! <dir>/shards-4/shard-0/  log segments and snapshots of shard 0
//! <dir>/shards-4/shard-1/  ...
//! ```
//! Accounts are spread over shards by a fixed hash of their name, so a different shard count puts
//! them elsewhere. On such a change the old shards are recovered, their accounts regrouped into
//! snapshots for the new shards, written under `shards-<new>/`, and only then does `CURRENT` switch
//! (write, fsync, rename, fsync): a crash at any point leaves either the old layout or the new one.

use crate::shard_index;
use crate::store::{
    Recovered, SeenId, ShardState, Store, StoreError, StoreOptions, read_state, write_initial,
};
use std::path::{Path, PathBuf};
use switchboard_core::snapshot::EngineSnapshot;
use switchboard_core::{Config, Engine};

fn layout_name(shards: usize) -> String {
    format!("shards-{shards}")
}

fn shard_dir(root: &Path, layout: &str, i: usize) -> PathBuf {
    root.join(layout).join(format!("shard-{i}"))
}

fn layout_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Layout(format!("{}: {e}", path.display()))
}

/// The current layout's shard count, if the directory has one.
fn current(root: &Path) -> Result<Option<usize>, StoreError> {
    let path = root.join("CURRENT");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .strip_prefix("shards-")
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .map(Some)
            .ok_or_else(|| {
                StoreError::Layout(format!(
                    "{}: expected \"shards-<n>\", found {:?}",
                    path.display(),
                    text.trim()
                ))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(layout_err(&path, e)),
    }
}

fn set_current(root: &Path, shards: usize) -> Result<(), StoreError> {
    let temp = root.join("CURRENT.tmp");
    let path = root.join("CURRENT");
    std::fs::write(&temp, format!("{}\n", layout_name(shards))).map_err(|e| layout_err(&temp, e))?;
    std::fs::File::open(&temp).and_then(|f| f.sync_all()).map_err(|e| layout_err(&temp, e))?;
    std::fs::rename(&temp, &path).map_err(|e| layout_err(&path, e))?;
    std::fs::File::open(root).and_then(|d| d.sync_all()).map_err(|e| layout_err(root, e))
}

/// Opens the data directory for `shards` shards, recovering each, and regrouping first if it was
/// written with another shard count. Shards recover in parallel.
pub(crate) fn open(
    config: &Config,
    opts: &StoreOptions,
    shards: usize,
    keep_effects: bool,
) -> Result<Vec<(Store, Engine, Recovered)>, StoreError> {
    let root = &opts.dir;
    std::fs::create_dir_all(root).map_err(|e| layout_err(root, e))?;
    match current(root)? {
        Some(n) if n == shards => {}
        None => set_current(root, shards)?,
        Some(old) => regroup(root, config, opts, old, shards)?,
    }
    let layout = layout_name(shards);
    std::thread::scope(|s| {
        let jobs: Vec<_> = (0..shards)
            .map(|i| {
                let dir = shard_dir(root, &layout, i);
                s.spawn(move || Store::recover(&dir, config, opts, keep_effects))
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join().unwrap_or_else(|_| Err(StoreError::Layout("a shard's recovery panicked".into())))
            })
            .collect()
    })
}

/// Moves the data from `old` shards to `new` ones.
fn regroup(
    root: &Path,
    config: &Config,
    opts: &StoreOptions,
    old: usize,
    new: usize,
) -> Result<(), StoreError> {
    tracing::info!(from = old, to = new, "the shard count changed: regrouping accounts");
    let old_layout = layout_name(old);
    let states: Vec<ShardState> = (0..old)
        .map(|i| read_state(&shard_dir(root, &old_layout, i), config, opts))
        .collect::<Result<_, _>>()?;
    let mut seen: Vec<Vec<SeenId>> = vec![Vec::new(); new];
    let mut engines: Vec<EngineSnapshot> = Vec::with_capacity(states.len());
    for state in states {
        for entry in state.seen {
            seen[shard_index(&entry.0, new)].push(entry);
        }
        engines.push(state.engine);
    }
    let new_layout = layout_name(new);
    let target = root.join(&new_layout);
    // A leftover from a regroup that crashed before switching: start it again.
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| layout_err(&target, e))?;
    }
    for (i, engine) in EngineSnapshot::regroup(engines, new, |a| shard_index(a, new)).into_iter().enumerate()
    {
        let mut ids = std::mem::take(&mut seen[i]);
        ids.sort_by_key(|e| e.2);
        write_initial(&shard_dir(root, &new_layout, i), &ShardState { engine, seen: ids })?;
    }
    set_current(root, new)?;
    let old_dir = root.join(&old_layout);
    std::fs::remove_dir_all(&old_dir).map_err(|e| layout_err(&old_dir, e))?;
    Ok(())
}
