//! Reading a file the config names, bounded: the config file itself, and `http.ca_file`.
//!
//! A FIFO or a device is refused before a byte is read from it, since reading one may block
//! forever (a FIFO with no writer) or never end (`/dev/zero`); a regular file is read up to a
//! bound, so a config that names a huge file cannot fill memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The largest config file read, in bytes: a real one is a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a config file: a regular file (or a link to one) of at most [`MAX_FILE_BYTES`].
///
/// A FIFO or a device is refused before a byte is read from it, since reading one may block
/// forever (a FIFO with no writer) or never end (`/dev/zero`). The file is opened without
/// blocking, so that opening a FIFO does not wait for a writer either, and its kind is taken
/// from the open file, not from the path, so it cannot change in between.
pub fn read_config_file(path: &Path) -> Result<String> {
    let bytes = read_bounded(path, MAX_FILE_BYTES, "a config file")?;
    String::from_utf8(bytes).context("not UTF-8 text")
}

/// Reads a regular file (or a link to one) of at most `max` bytes, as [`read_config_file`]
/// does (a FIFO or a device refused unread); `what` names the file's role in the errors
/// ("a config file", "`http.ca_file`").
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        bail!("not a regular file ({what} must be one, not a FIFO, a device or a folder)");
    }
    if meta.len() > max {
        bail!("{} bytes; {what} may be at most {max} bytes", meta.len());
    }
    // The length may change while we read: read one byte more than allowed to notice.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        bail!("it grew past {max} bytes while being read");
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "[site]\n").unwrap();
        assert_eq!(read_config_file(&ok).unwrap(), "[site]\n");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_config_file(&big).unwrap_err().to_string();
        assert!(err.contains("at most 1048576 bytes"), "{err}");
        for special in [Path::new("/dev/zero"), dir.path()] {
            let err = read_config_file(special).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{special:?}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        // No writer ever opens it: a blocking open or read would hang this test.
        let err = read_config_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
