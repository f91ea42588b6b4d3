//! What an earlier demo left behind, removed before the next one: shared by `demo` and
//! `demo --watch`, each of which replaces its output at every run.

use std::path::Path;

use anyhow::{Context, Result};

/// Removes what an earlier demo left at `path`, if anything.
pub(super) fn remove_old(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing old {}", path.display())),
    }
}
