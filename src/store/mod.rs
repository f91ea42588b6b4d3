//! What a crawl keeps on disk, and nothing else: the journal of committed pages (`journal.rs`),
//! what it proves after a crash (`recovery.rs`), opening a round on it (`resume.rs`, with
//! `verify.rs`), the output file and its lines (`output.rs`), the seen-set of `output.dedup`
//! (`seen.rs`) and which items it lets through (`dedup.rs`), the lock that keeps a second
//! process off an output (`owner.rs`), and what changed by `output.key`: judged against the
//! SQLite store (`changes.rs`, `items/`) or, on a shared frontier, against the last values the
//! daemons share (`shared_watch.rs`).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::config::OutputConfig;

pub(crate) mod changes;
pub(crate) mod dedup;
pub(crate) mod file_names;
pub(crate) mod files;
pub(crate) mod items;
pub(crate) mod journal;
pub(crate) mod output;
pub(crate) mod owner;
pub(crate) mod recovery;
pub(crate) mod resume;
pub(crate) mod seen;
pub(crate) mod shared_watch;
mod verify;

/// `--fresh`: moves the output, the state, the seen-set and the store aside (renamed
/// `<path>.<unix seconds>.old`, never deleted; a pipe or a device is left alone), so that the
/// crawl starts over. Returns what moved where.
pub fn start_fresh(output: &OutputConfig) -> Result<Vec<(PathBuf, PathBuf)>> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut moved = Vec::new();
    for path in [&output.path, &output.state, &output.seen, &output.store] {
        // A pipe or a device (`/dev/stdout`) is not ours to rename, and holds nothing to keep.
        if output::is_stream(path) {
            continue;
        }
        if let Some(to) = journal::move_aside(path, stamp)? {
            moved.push((path.clone(), to));
        }
    }
    Ok(moved)
}
