//! The bounds of every setting that costs memory, threads or time, in one table, and the size
//! and kind of file a config may be read from.
//!
//! `check`, `run` and every reload go through [`crate::config::Config::load`], whose validation
//! takes its bounds from here, so a config `check` accepts never crashes `run` or a running
//! service (a queue of 10^12 slots, 100,000 threads, a selector of megabytes). The README's
//! configuration table lists the same numbers; a test holds it to them.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The largest config file read, in bytes: a real one is a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The bounds of one setting, inclusive. Seconds are bounded by whole numbers of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The key, as in the file (`threads.crawlers`).
    pub key: &'static str,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
}

/// Pages an "until empty" crawl may fetch (`site.max_pages`): its state grows with them.
pub const MAX_PAGES: Bound = Bound::new("site.max_pages", 1, 100_000_000);
/// Failed pages in a row that stop an "until empty" crawl.
pub const MAX_FAILED_IN_A_ROW: Bound = Bound::new("site.max_failed_in_a_row", 1, 1_000_000);
/// Crawler threads: each is a thread with a connection (and a file descriptor) of its own.
pub const CRAWLERS: Bound = Bound::new("threads.crawlers", 1, 512);
/// Parser threads: CPU-bound, so more than the cores only costs memory.
pub const PARSERS: Bound = Bound::new("threads.parsers", 1, 256);
/// Page numbers waiting for a crawler (the channel's slots are allocated up front).
pub const QUEUE_PAGES: Bound = Bound::new("queues.pages", 1, 65_536);
/// Fetched pages waiting for a parser: each may hold a body of `max_body_bytes`.
pub const QUEUE_HTML: Bound = Bound::new("queues.html", 1, 4_096);
/// Parsed pages waiting for the writer.
pub const QUEUE_ITEMS: Bound = Bound::new("queues.items", 1, 65_536);
/// Bytes of items waiting for the writer.
pub const QUEUE_ITEMS_BYTES: Bound = Bound::new("queues.items_bytes", 1, 4 << 30);
/// The whole-request budget.
pub const TIMEOUT_SECS: Bound = Bound::new("http.timeout_secs", 0, 3_600);
/// The connect budget.
pub const CONNECT_TIMEOUT_SECS: Bound = Bound::new("http.connect_timeout_secs", 0, 3_600);
/// Extra attempts per page.
pub const RETRIES: Bound = Bound::new("http.retries", 0, 20);
/// The backoff base (the backoff itself is capped at a minute).
pub const BACKOFF_MS: Bound = Bound::new("http.backoff_ms", 0, 60_000);
/// The gap between request starts: at most an hour.
pub const DELAY_MS: Bound = Bound::new("http.delay_ms", 0, 3_600_000);
/// The largest body, decoded.
pub const MAX_BODY_BYTES: Bound = Bound::new("http.max_body_bytes", 1, 1 << 30);
/// How long requests in flight may take after a stop.
pub const SHUTDOWN_GRACE_SECS: Bound = Bound::new("http.shutdown_grace_secs", 0, 3_600);
/// Redirects per request (browsers stop at 20).
pub const MAX_REDIRECTS: Bound = Bound::new("http.max_redirects", 0, 20);
/// The User-Agent header, in bytes.
pub const USER_AGENT_BYTES: Bound = Bound::new("http.user_agent", 1, 512);
/// How many `[http.headers]` (see `crate::http::headers::MAX_HEADERS`).
pub const HEADERS: Bound = Bound::new("http.headers", 0, 64);
/// The `http.ca_file` PEM bundle, in bytes (Mozilla's whole root list is about 250 KB).
pub const CA_FILE_BYTES: Bound = Bound::new("http.ca_file", 1, 4 << 20);
/// A selector (`extract.item`, or one field's spec), in bytes.
pub const SELECTOR_BYTES: Bound = Bound::new("extract.item, extract.fields.*", 1, 1_024);
/// How many `[extract.fields]`.
pub const FIELDS: Bound = Bound::new("extract.fields", 1, 100);
/// Items on one page: each takes a copy of its fields' text.
pub const MAX_ITEMS_PER_PAGE: Bound = Bound::new("extract.max_items_per_page", 1, 1_000_000);
/// Bytes of field values on one page.
pub const MAX_BYTES_PER_PAGE: Bound = Bound::new("extract.max_bytes_per_page", 1, 1 << 30);
/// The progress line interval.
pub const STATS_INTERVAL_SECS: Bound = Bound::new("log.stats_interval_secs", 0, 86_400);
/// The round interval: at most a (leap) year.
pub const EVERY_SECS: Bound = Bound::new("schedule.every_secs", 0, 366 * 86_400);
/// A shared frontier's lease.
pub const LEASE_SECS: Bound = Bound::new("frontier.lease_secs", 0, 86_400);
/// Requests in flight to one host (scheme, host and port), by all stages together.
pub const PER_HOST: Bound = Bound::new("http.per_host", 1, 512);
/// Detail page threads: each a thread with a connection of its own, like a crawler.
pub const FOLLOW_CRAWLERS: Bound = Bound::new("follow.crawlers", 1, 512);
/// How many `[follow.fields]`.
pub const FOLLOW_FIELDS: Bound = Bound::new("follow.fields", 1, 100);
/// Download threads.
pub const DOWNLOAD_THREADS: Bound = Bound::new("download.threads", 1, 512);
/// The largest downloaded file: 16 GiB.
pub const DOWNLOAD_MAX_BYTES: Bound = Bound::new("download.max_bytes", 1, 16 << 30);

/// Every bound, in the order of the README's table.
pub const ALL: [Bound; 31] = [
    MAX_PAGES,
    MAX_FAILED_IN_A_ROW,
    CRAWLERS,
    PARSERS,
    QUEUE_PAGES,
    QUEUE_HTML,
    QUEUE_ITEMS,
    QUEUE_ITEMS_BYTES,
    USER_AGENT_BYTES,
    TIMEOUT_SECS,
    CONNECT_TIMEOUT_SECS,
    RETRIES,
    BACKOFF_MS,
    DELAY_MS,
    MAX_BODY_BYTES,
    SHUTDOWN_GRACE_SECS,
    MAX_REDIRECTS,
    PER_HOST,
    HEADERS,
    CA_FILE_BYTES,
    SELECTOR_BYTES,
    FIELDS,
    MAX_ITEMS_PER_PAGE,
    MAX_BYTES_PER_PAGE,
    FOLLOW_CRAWLERS,
    FOLLOW_FIELDS,
    DOWNLOAD_THREADS,
    DOWNLOAD_MAX_BYTES,
    STATS_INTERVAL_SECS,
    EVERY_SECS,
    LEASE_SECS,
];

impl Bound {
    const fn new(key: &'static str, min: u64, max: u64) -> Bound {
        Bound { key, min, max }
    }

    /// `value`, if within the bounds; else an error naming the key and the bound it crossed.
    pub fn check(&self, value: u64) -> Result<u64> {
        if value < self.min {
            bail!("`{}` must be at least {}, got {value}", self.key, self.min);
        }
        if value > self.max {
            bail!("`{}` must be at most {}, got {value}", self.key, self.max);
        }
        Ok(value)
    }

    /// [`Bound::check`] for a count that fits in memory (`usize`).
    pub fn check_usize(&self, value: usize) -> Result<usize> {
        // usize is at most 64 bits on every platform Rust supports.
        self.check(value as u64).map(|v| v as usize)
    }

    /// A number of seconds above 0 and at most `max`, as a duration.
    pub fn check_secs(&self, value: f64) -> Result<Duration> {
        if !(value.is_finite() && value > 0.0 && value <= self.max as f64) {
            bail!(
                "`{}` must be a number of seconds above 0 and at most {}, got {value}",
                self.key,
                self.max
            );
        }
        Ok(Duration::from_secs_f64(value))
    }

    /// A piece of text (a selector, a header) of at most `max` bytes; `what` names it.
    pub fn check_len(&self, what: &str, text: &str) -> Result<()> {
        if text.len() as u64 > self.max {
            // The text itself may be megabytes: it is not repeated in the message.
            bail!(
                "{what} is {} bytes long, over the limit of {} bytes",
                text.len(),
                self.max
            );
        }
        Ok(())
    }
}

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
    fn bounds_name_the_key_and_the_range() {
        assert_eq!(CRAWLERS.check(512).unwrap(), 512);
        let err = format!("{:#}", CRAWLERS.check(100_000).unwrap_err());
        assert_eq!(err, "`threads.crawlers` must be at most 512, got 100000");
        assert_eq!(
            CRAWLERS.check(0).unwrap_err().to_string(),
            "`threads.crawlers` must be at least 1, got 0"
        );
        assert!(RETRIES.check(0).is_ok());
        assert_eq!(
            DELAY_MS.check(3_600_001).unwrap_err().to_string(),
            "`http.delay_ms` must be at most 3600000, got 3600001"
        );
        assert!(TIMEOUT_SECS.check_secs(3600.0).is_ok());
        for bad in [0.0, -1.0, 3600.5, f64::NAN, f64::INFINITY] {
            let err = TIMEOUT_SECS.check_secs(bad).unwrap_err().to_string();
            assert!(err.contains("`http.timeout_secs`"), "{err}");
        }
        let huge = "a ".repeat(1_000_000);
        let err = SELECTOR_BYTES
            .check_len("`extract.item`", &huge)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`extract.item` is 2000000 bytes long, over the limit of 1024 bytes"
        );
    }

    #[test]
    fn the_readme_lists_every_bound() {
        let readme = include_str!("../../README.md");
        let (_, limits) = readme.split_once("### Limits").expect("a Limits section");
        for bound in ALL {
            let row = limits
                .lines()
                .find(|line| line.starts_with(&format!("| `{}`", bound.key)))
                .unwrap_or_else(|| panic!("no row for {} in the README's limits", bound.key));
            assert!(
                row.ends_with(&format!("| {} | {} |", bound.min, bound.max)),
                "README: {row:?}, code: {bound:?}"
            );
        }
    }

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
