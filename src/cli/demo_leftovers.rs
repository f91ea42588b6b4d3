//! What an earlier demo left behind, removed before the next one: shared by `demo` and
//! `demo --watch`, each of which replaces its output at every run, and the files of
//! `demo --follow` and `demo --gallery`.

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

/// Removes the images an earlier demo stored in `dir` (named `<40 hex digits>.png`, as the
/// demo names them; nothing else is touched): the site's port, and so every URL, changes
/// from one demo to the next, and the files would pile up.
pub(super) fn remove_demo_files(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_suffix(".png"))
            .is_some_and(|stem| stem.len() == 40 && stem.bytes().all(|b| b.is_ascii_hexdigit()));
        if ours {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing old {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Removes the galleries an earlier `demo --gallery` stored in `dir`: in each folder, the
/// files named as the demo names them (`3.png`, or `3-2.png` for a name taken), then the
/// folder if that leaves it empty, and the names registry. Nothing else is touched. The
/// site's port, and so every URL, changes from one demo to the next: left in place, the
/// registry would give each new URL the next free name.
pub(super) fn remove_gallery_files(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let folder = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let files =
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?;
        for file in files {
            let file = file.with_context(|| format!("reading {}", folder.display()))?;
            let name = file.file_name();
            let ours = name
                .to_str()
                .and_then(|n| n.strip_suffix(".png"))
                .is_some_and(|stem| {
                    !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                });
            if ours {
                std::fs::remove_file(file.path())
                    .with_context(|| format!("removing old {}", file.path().display()))?;
            }
        }
        // Only if empty: anything else in it is not the demo's.
        let _ = std::fs::remove_dir(&folder);
    }
    remove_old(&dir.join(pagecrawl::NAMES_FILE))
}
