//! The writer stage: the only owner of the output file and of the state journal.
//!
//! One thread receives whole pages of items, encodes them as JSON Lines and appends them through a
//! `BufWriter`. A page is *committed* once its bytes are in the file (synced, per `output.sync`)
//! and a commit record naming it and the file's new length is in the journal; recovery trusts
//! nothing else. Failed pages are recorded too, so the next run retries them. The thread ends when
//! the `items` channel is disconnected and drained, after committing what it holds. Every write
//! happens under the [`OutputLock`], so a forced exit (second Ctrl-C) never cuts a line or a
//! record. No other thread opens, writes or truncates these files.
//!
//! Each commit record carries the checksum of the output bytes it commits, so that recovery can
//! tell an output changed underneath from one merely cut short (see [`crate::store::journal`]). In
//! "until empty" mode every page goes through the [`Listing`] first, which puts pages in page
//! order, decides where the listing ends and drops the pages past it.
//!
//! With `output.dedup`, the writer also owns the [`SeenSet`]: an item whose key is in it is not
//! written, a new one is written with a `first_seen` time and its key added, and the new keys are
//! flushed before the commit record, which names the seen-set's length too.
//!
//! With a shared frontier (`[frontier] kind = "redis"`), the writer tells the frontier's acker
//! about every commit, only once its commit record is written, and about every failed page; with
//! `output.dedup` it asks the seen-set in Redis which keys some daemon wrote before (the acker
//! adds the new ones after the commit).

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use crossbeam_channel::{RecvTimeoutError, Sender};
use log::warn;
use xxhash_rust::xxh3::Xxh3;

use crate::config::SyncMode;
use crate::extract::{Item, PageItems, Parsed};
use crate::frontier::{Ack, SharedSeen};
use crate::listing::Listing;
use crate::pipeline::budget::BudgetReceiver;
use crate::shutdown::{OutputLock, PanicGuard, Shutdown};
use crate::stats::{Queue, Stats};
use crate::store::journal::{Journal, Record};
use crate::store::seen::{self, SeenSet};

/// In `sync = "batch"` mode, the longest a written page waits for its commit.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// In `sync = "batch"` mode, the most pages one commit covers.
const BATCH_PAGES: usize = 64;

/// Opens `path` for appending, creating it and its parent folders.
pub fn open_output(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating output folder {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening output file {}", path.display()))
}

/// Encodes items as JSON lines: `{"page":N,"url":"…","<field>":"…",…}`, and `"first_seen":"…"`
/// last when the writer dedups.
#[derive(Debug, Clone)]
pub struct LineEncoder {
    /// `,"name":` for each field, encoded once.
    keys: Vec<String>,
}

impl LineEncoder {
    /// An encoder for the given field names, in output order.
    pub fn new<'a>(fields: impl IntoIterator<Item = &'a str>) -> LineEncoder {
        let keys = fields
            .into_iter()
            .map(|name| format!(",{}:", serde_json::Value::from(name)))
            .collect();
        LineEncoder { keys }
    }

    /// Appends one line per item of `page` to `out`; returns how many lines it wrote.
    pub fn encode_page(&self, page: &PageItems, out: &mut Vec<u8>) -> u64 {
        self.encode_new(page, None, |_| true, out)
    }

    /// Appends one line for each item of `page` that `keep` accepts, each with a `first_seen`
    /// field when one is given. Returns how many lines it wrote.
    pub fn encode_new(
        &self,
        page: &PageItems,
        first_seen: Option<&str>,
        mut keep: impl FnMut(&Item) -> bool,
        out: &mut Vec<u8>,
    ) -> u64 {
        let mut url = Vec::with_capacity(page.url.len() + 2);
        write_json_str(&mut url, &page.url);
        let mut written = 0;
        for item in page.items.iter().filter(|item| keep(item)) {
            self.encode_item(page.page, &url, item, first_seen, out);
            written += 1;
        }
        written
    }

    fn encode_item(
        &self,
        page: u64,
        url_json: &[u8],
        item: &Item,
        first_seen: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"page\":");
        out.extend_from_slice(page.to_string().as_bytes());
        out.extend_from_slice(b",\"url\":");
        out.extend_from_slice(url_json);
        for (key, value) in self.keys.iter().zip(item) {
            out.extend_from_slice(key.as_bytes());
            match value {
                Some(value) => write_json_str(out, value),
                None => out.extend_from_slice(b"null"),
            }
        }
        if let Some(first_seen) = first_seen {
            out.extend_from_slice(b",\"first_seen\":");
            write_json_str(out, first_seen);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// The dedup key of `item`: its field at `index`, or the whole item when that field is missing.
fn dedup_key(item: &Item, index: usize) -> seen::Key {
    match item.get(index) {
        Some(Some(value)) => seen::key_of([Some(value.as_str())]),
        _ => seen::key_of(item.iter().map(Option::as_deref)),
    }
}

fn write_json_str(out: &mut Vec<u8>, value: &str) {
    // Serialising a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("string to JSON");
}

/// The writer thread's state.
pub struct Writer {
    /// The output file, opened (and recovered) by the pipeline before any thread starts.
    pub file: File,
    /// Its path, for error messages.
    pub path: PathBuf,
    /// Its length now, which the first commit record builds on.
    pub len: u64,
    /// The state journal.
    pub journal: Journal,
    /// When to sync.
    pub sync: SyncMode,
    /// Encodes items.
    pub encoder: LineEncoder,
    /// Held around each write, see [`OutputLock`].
    pub lock: OutputLock,
    /// Counters.
    pub stats: Arc<Stats>,
    /// What a page means for the end of the listing, in "until empty" mode: it puts pages in
    /// order and drops those past the end.
    pub listing: Listing,
    /// Raised when writing fails, so that the crawl stops taking pages.
    pub shutdown: Shutdown,
    /// With `output.dedup`: the seen-set, and the position of the key field among the fields.
    pub dedup: Option<(SeenSet, usize)>,
    /// With a shared frontier: where commits and failures are reported, to be acknowledged in
    /// Redis, and (with `output.dedup`) the shared seen-set with the key field's position.
    pub shared: Option<Shared>,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

/// The writer's side of a shared frontier.
pub struct Shared {
    /// To the acker: pages committed here, and pages that failed.
    pub acks: Sender<Ack>,
    /// With `output.dedup`: the seen-set in Redis, the key field's position, and the keys this
    /// daemon wrote in this crawl (which Redis may not have yet).
    pub dedup: Option<(SharedSeen, usize, HashSet<seen::Key>)>,
}

/// What the writer reports when it is done.
#[derive(Debug, Default)]
pub struct WriterReport {
    /// Pages that failed in this run (after their retries), with the reason.
    pub failed: BTreeMap<u64, String>,
    /// The journal, handed back so that the end of the round can be recorded.
    pub journal: Option<Journal>,
    /// Where the listing ends, in "until empty" mode, if that is known.
    pub end: Option<u64>,
}

/// The writer thread's working state, passed between its steps.
struct Session {
    /// Whether the output is a regular file (a pipe or a device cannot be synced).
    syncable: bool,
    /// The buffered output.
    out: BufWriter<File>,
    /// One page's encoded lines, reused.
    buf: Vec<u8>,
    /// Written but not yet committed.
    pending: Pending,
    /// The checksum of the bytes written since the last commit, for the next commit record.
    sum: Xxh3,
    /// What the writer will report.
    report: WriterReport,
}

/// Pages written but not yet committed.
struct Pending {
    /// `(page, items)` in write order.
    pages: Vec<(u64, u64)>,
    /// Dedup keys of their items, for the shared seen-set.
    keys: Vec<seen::Key>,
    /// When the oldest of them was written.
    since: Option<Instant>,
}

impl Writer {
    /// Writes and commits pages until the `items` channel is disconnected and drained.
    pub fn run(self, items: BudgetReceiver<Parsed>) -> Result<WriterReport> {
        let shutdown = self.shutdown.clone();
        let result = self.write_all(items);
        if result.is_err() {
            // Nothing more can be committed: stop fetching pages that would be lost.
            shutdown.request();
        }
        result
    }

    fn write_all(mut self, items: BudgetReceiver<Parsed>) -> Result<WriterReport> {
        let mut session = Session {
            syncable: self.file.metadata().map(|m| m.is_file()).unwrap_or(false),
            out: BufWriter::with_capacity(256 * 1024, self.file.try_clone()?),
            buf: Vec::with_capacity(16 * 1024),
            pending: Pending {
                pages: Vec::new(),
                keys: Vec::new(),
                since: None,
            },
            sum: Xxh3::new(),
            report: WriterReport::default(),
        };
        loop {
            let message = match session.pending.since {
                // A batch is open: wait for more pages only until its window closes.
                Some(since) => {
                    match items.recv_timeout(BATCH_WINDOW.saturating_sub(since.elapsed())) {
                        Ok(message) => Some(message),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match items.recv() {
                    Ok(message) => Some(message),
                    Err(_) => break,
                },
            };
            self.stats.queue_depth(Queue::Items, items.len());
            match message {
                None => self.commit(&mut session)?,
                Some(message) => {
                    for message in self.listing.push(message) {
                        self.handle(message, &mut session)?;
                    }
                }
            }
        }
        for message in self.listing.finish() {
            self.handle(message, &mut session)?;
        }
        self.commit(&mut session)?;
        let state_path = self.journal.path().to_path_buf();
        if let Some(page) = self.listing.found_end() {
            let _whole = self.lock.lock();
            self.journal
                .append(&Record::End { page }, self.sync != SyncMode::Never)
                .with_context(|| format!("writing state file {}", state_path.display()))?;
        }
        if session.syncable {
            self.file
                .sync_all()
                .with_context(|| format!("syncing output file {}", self.path.display()))?;
        }
        drop(self.guard);
        let mut report = session.report;
        report.end = self.listing.end();
        report.journal = Some(self.journal);
        Ok(report)
    }

    /// Writes a page, or records a failed one.
    fn handle(&mut self, message: Parsed, session: &mut Session) -> Result<()> {
        match message {
            Parsed::Failed { page, reason } => self.record_failure(page, reason, session),
            Parsed::Page(page) => {
                if page.items.is_empty() && !self.listing.until_empty() {
                    warn!(
                        "page {} ({}): no items (a CAPTCHA, a maintenance page, a gap in the \
                         listing?); with a known range (`site.last_page`) it is committed as a \
                         page with no items, and the crawl goes on",
                        page.page, page.url
                    );
                }
                self.write_page(&page, session)
            }
            // A shared crawl commits the page that ended the listing, so that it is
            // acknowledged and no daemon fetches it again.
            Parsed::Gone { page, url, .. } => {
                let page = PageItems {
                    page,
                    url,
                    items: Vec::new(),
                };
                self.write_page(&page, session)
            }
        }
    }

    /// Records a page that failed after its retries, for the next run (and the frontier).
    fn record_failure(&mut self, page: u64, reason: String, session: &mut Session) -> Result<()> {
        self.stats.page_failed();
        let record = Record::Failed {
            page,
            reason: reason.clone(),
        };
        {
            let _whole = self.lock.lock();
            self.journal
                .append(&record, false)
                .with_context(|| format!("writing state file {}", self.journal.path().display()))?;
        }
        if let Some(shared) = &self.shared {
            let failed = Ack::Failed {
                page,
                reason: reason.clone(),
            };
            if shared.acks.send(failed).is_err() {
                bail!("the frontier's acknowledger is gone");
            }
        }
        session.report.failed.insert(page, reason);
        Ok(())
    }

    /// Appends the lines of `page`'s items (those not seen before, with `output.dedup`), and
    /// commits when the batch is full.
    fn write_page(&mut self, page: &PageItems, session: &mut Session) -> Result<()> {
        #[cfg(test)]
        crate::extract::inject_panic(&page.url, "writer");
        let buf = &mut session.buf;
        let pending = &mut session.pending;
        buf.clear();
        let shared_dedup = self.shared.as_mut().and_then(|s| s.dedup.as_mut());
        let written = match (&mut self.dedup, shared_dedup) {
            (None, Some((remote, index, ours))) => {
                let keys: Vec<seen::Key> =
                    page.items.iter().map(|i| dedup_key(i, *index)).collect();
                let known = remote.contains(&keys)?;
                let now = humantime::format_rfc3339_seconds(SystemTime::now());
                let mut at = 0;
                let written = self.encoder.encode_new(
                    page,
                    Some(&now.to_string()),
                    |_| {
                        let (key, known) = (keys[at], known[at]);
                        at += 1;
                        let new = !known && ours.insert(key);
                        if new {
                            pending.keys.push(key);
                        }
                        new
                    },
                    buf,
                );
                self.stats
                    .items_already_seen(page.items.len() as u64 - written);
                written
            }
            (None, None) => self.encoder.encode_page(page, buf),
            (Some((set, index)), _) => {
                let now = humantime::format_rfc3339_seconds(SystemTime::now());
                let written = self.encoder.encode_new(
                    page,
                    Some(&now.to_string()),
                    |item| set.insert(dedup_key(item, *index)),
                    buf,
                );
                self.stats
                    .items_already_seen(page.items.len() as u64 - written);
                written
            }
        };
        {
            let _whole = self.lock.lock();
            session
                .out
                .write_all(buf)
                .with_context(|| format!("writing output file {}", self.path.display()))?;
        }
        self.len += buf.len() as u64;
        session.sum.update(buf);
        session.report.failed.remove(&page.page);
        pending.pages.push((page.page, written));
        pending.since.get_or_insert_with(Instant::now);
        if self.sync != SyncMode::Batch || pending.pages.len() >= BATCH_PAGES {
            self.commit(session)?;
        }
        Ok(())
    }

    /// Makes the pending pages durable: output flushed (and synced), then the commit record.
    fn commit(&mut self, session: &mut Session) -> Result<()> {
        let (out, pending, syncable) = (&mut session.out, &mut session.pending, session.syncable);
        if pending.pages.is_empty() {
            return Ok(());
        }
        let sync = self.sync != SyncMode::Never;
        let _whole = self.lock.lock();
        out.flush()
            .and_then(|()| {
                if sync && syncable {
                    out.get_ref().sync_data()
                } else {
                    Ok(())
                }
            })
            .with_context(|| format!("writing output file {}", self.path.display()))?;
        // The keys after the items they stand for, and before the record that commits both.
        let seen = match &mut self.dedup {
            Some((set, _)) => Some(
                set.flush(sync && syncable)
                    .with_context(|| format!("writing seen-set file {}", set.path().display()))?,
            ),
            None => None,
        };
        let record = Record::Commit {
            pages: pending.pages.iter().map(|&(page, _)| page).collect(),
            len: self.len,
            seen,
            tail: self.listing.tail(),
            sum: Some(session.sum.digest()),
        };
        self.journal
            .append(&record, sync)
            .with_context(|| format!("writing state file {}", self.journal.path().display()))?;
        for &(_, items) in &pending.pages {
            self.stats.page_written(items);
        }
        if let Some(shared) = &self.shared {
            // Only now, with the commit record written, may Redis hear that they are done.
            let ack = Ack::Committed {
                pages: pending.pages.iter().map(|&(page, _)| page).collect(),
                keys: std::mem::take(&mut pending.keys),
            };
            if shared.acks.send(ack).is_err() {
                bail!("the frontier's acknowledger is gone");
            }
        }
        pending.pages.clear();
        pending.keys.clear();
        pending.since = None;
        session.sum.reset();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_json_object_per_item_in_field_order() {
        let encoder = LineEncoder::new(["title", "link"]);
        let page = PageItems {
            page: 3,
            url: "http://x/?start=75".into(),
            items: vec![
                vec![Some("红楼梦 \"1\"".into()), Some("/a".into())],
                vec![None, Some("/b\n".into())],
            ],
        };
        let mut out = Vec::new();
        encoder.encode_page(&page, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"page\":3,\"url\":\"http://x/?start=75\",\"title\":\"红楼梦 \\\"1\\\"\",\"link\":\"/a\"}\n\
             {\"page\":3,\"url\":\"http://x/?start=75\",\"title\":null,\"link\":\"/b\\n\"}\n"
        );
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn open_output_creates_folders_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.jsonl");
        open_output(&path).unwrap();
        assert!(path.exists());
        let blocked = dir.path().join("a/b/out.jsonl/under-a-file.jsonl");
        let err = format!("{:#}", open_output(&blocked).unwrap_err());
        assert!(err.contains("out.jsonl"), "{err}");
    }
}
