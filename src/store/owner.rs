//! One process per output: an exclusive lock on `<output.state>.lock`, held for the life of the
//! process.
//!
//! Two daemons on one output would both append every item and then cut each other's lines at
//! the next resume. `pagecrawl run` (with `--fresh` too, and for every round of a service) and
//! `pagecrawl demo` take this lock before they touch the output, the state or the seen-set, and
//! a second process is refused at once with the holder's pid. The lock is an `flock`, which the
//! kernel releases when its holder dies, however it dies: a lock file left behind by a `kill -9`
//! does not block the next start. The file holds the holder's pid, for that message only.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::OutputConfig;

/// The lock on one output, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct OwnerLock {
    /// The locked file; the lock lives as long as it is open.
    _file: File,
    /// Its path.
    path: PathBuf,
}

impl OwnerLock {
    /// Takes the lock of `output`, or fails naming the lock file and the pid that holds it.
    pub fn acquire(output: &OutputConfig) -> Result<OwnerLock> {
        let path = lock_path(&output.state);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating output folder {}", parent.display()))?;
        }
        // Not truncated on open: until we hold the lock, the pid in it is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = match pid.trim() {
                    "" => "another pagecrawl".to_string(),
                    pid => format!("another pagecrawl (pid {pid})"),
                };
                bail!(
                    "output {} is in use: {holder} holds {}. Two processes on one output would \
                     write every item twice; stop the other one, or give this one its own \
                     `output.path`",
                    output.path.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("locking {}", path.display()));
            }
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .with_context(|| format!("writing lock file {}", path.display()))?;
        Ok(OwnerLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `<state>.lock`: beside the state, which every output has (the output itself may be a pipe).
fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn output(dir: &Path) -> OutputConfig {
        let text = format!(
            "[site]\nurl = \"http://x/?p={{page}}\"\n[extract]\nitem = \"div\"\n\
             [extract.fields]\nt = \"a\"\n[output]\npath = {:?}\n",
            dir.join("out/o.jsonl").display().to_string()
        );
        Config::from_toml(&text).unwrap().output
    }

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let output = output(dir.path());
        let first = OwnerLock::acquire(&output).unwrap();
        assert!(first.path().ends_with("out/o.jsonl.state.lock"));
        let err = format!("{:#}", OwnerLock::acquire(&output).unwrap_err());
        let pid = std::process::id();
        assert!(
            err.contains(&format!("another pagecrawl (pid {pid})")),
            "{err}"
        );
        assert!(err.contains("o.jsonl.state.lock"), "{err}");
        drop(first);
        let again = OwnerLock::acquire(&output).unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(text, format!("{pid}\n"));
    }
}
