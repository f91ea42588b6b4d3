//! The write stage: the only owner of the output file and of the state journal.
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
//! With `output.dedup`, a [`Dedup`] says which items of a page are new: those are written with a
//! `first_seen` time, and their keys are flushed (or handed over) before the commit record.
//!
//! Once a commit record (or a failed page's record) is written, the writer announces it as a
//! [`Committed`] message to whoever listens (the shared frontier's acker, which acknowledges the
//! pages in Redis). It does not know who listens, nor where pages come from.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use crossbeam_channel::{RecvTimeoutError, Sender};
use log::warn;
use xxhash_rust::xxh3::Xxh3;

mod keyed;
mod shared;

use super::budget::BudgetReceiver;
use super::message::{Committed, Item, Learned, NoContent, PageError, Parsed};
use super::stage::Stage;
use crate::config::{Config, FILES_KEY, SyncMode};
use crate::pipeline::listing::Listing;
use crate::shutdown::OutputLock;
use crate::stats::Queue;
use crate::store::changes::Watch;
use crate::store::dedup::Dedup;
use crate::store::journal::{ChainMark, Journal, Record};
use crate::store::output::LineEncoder;
use crate::store::shared_watch::SharedWatch;

/// In `sync = "batch"` mode, the longest a written page waits for its commit.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// In `sync = "batch"` mode, the most pages one commit covers.
const BATCH_PAGES: usize = 64;

/// What the writer owns, opened (and recovered) by the round's setup before any thread starts.
pub(crate) struct Output {
    /// The output file.
    pub file: File,
    /// Its path, for error messages.
    pub path: PathBuf,
    /// Its length now, which the first commit record builds on.
    pub len: u64,
    /// The state journal.
    pub journal: Journal,
    /// Which items are new, with `output.dedup`.
    pub dedup: Dedup,
    /// With `output.key`: what changed since the last round, and the store that keeps it.
    pub watch: Option<Watch>,
    /// With `output.key` on a shared frontier: the same, with the last values in Redis.
    pub shared: Option<SharedWatch>,
    /// Held around each write, see [`OutputLock`].
    pub lock: OutputLock,
}

/// The writer thread's state.
pub(crate) struct Writer {
    /// The output file.
    file: File,
    /// Its path, for error messages.
    path: PathBuf,
    /// Its length now, which the next commit record builds on.
    len: u64,
    /// The state journal.
    journal: Journal,
    /// When to sync.
    sync: SyncMode,
    /// Encodes items.
    encoder: LineEncoder,
    /// Held around each write, see [`OutputLock`].
    lock: OutputLock,
    /// What a page means for the end of the listing, in "until empty" mode: it puts pages in
    /// order and drops those past the end.
    listing: Listing,
    /// Which items are new, with `output.dedup`.
    dedup: Dedup,
    /// With `output.key`: what changed since the last round.
    watch: Option<Watch>,
    /// With `output.key` on a shared frontier: the same, across daemons.
    shared: Option<SharedWatch>,
    /// With `output.changes`: one line per event instead of every item.
    events: bool,
    /// On a listing paged by next links: commit records carry each page's URL and the next.
    chained: bool,
    /// The round's counters, and the shutdown flag raised when writing fails.
    stage: Stage,
}

/// What the writer reports when it is done.
#[derive(Debug, Default)]
pub(crate) struct WriterReport {
    /// Pages that failed in this run (after their retries), with the reason.
    pub failed: BTreeMap<u64, PageError>,
    /// The journal, handed back so that the end of the round can be recorded.
    pub journal: Option<Journal>,
    /// Where the listing ends, in "until empty" mode, if that is known.
    pub end: Option<u64>,
    /// The URL of the first page robots.txt disallowed, if any, for the warning that names one.
    pub disallowed_example: Option<String>,
}

/// The writer thread's working state, passed between its steps.
struct Session {
    /// Whether the output is a regular file (a pipe or a device cannot be synced).
    syncable: bool,
    /// The buffered output.
    out: BufWriter<File>,
    /// One page's encoded lines, reused.
    buf: Vec<u8>,
    /// Pages written and not yet committed: `(page, lines)` in write order; `None` for lines
    /// that belong to no page (the keys a complete round found gone).
    pending: Vec<(Option<u64>, u64)>,
    /// When the oldest of them was written.
    since: Option<Instant>,
    /// The checksum of the bytes written since the last commit, for the next commit record.
    sum: Xxh3,
    /// On a listing paged by next links: the URLs of the pages pending, and the next page's.
    chain: Option<ChainMark>,
    /// On a shared frontier with `output.key`: the batches of gone keys pending.
    gone: Vec<u64>,
    /// Where commits are announced, if anyone listens.
    listener: Option<Sender<Committed>>,
    /// What the writer will report.
    report: WriterReport,
}

impl Session {
    /// Announces `message` to the listener, if there is one.
    fn announce(&self, message: Committed) -> Result<()> {
        if let Some(listener) = &self.listener
            && listener.send(message).is_err()
        {
            bail!("the listener of commits (the frontier's acknowledger) is gone");
        }
        Ok(())
    }
}

impl Writer {
    /// The writer of a round of `config` into `output`, which hands every page to `listing`
    /// first.
    pub fn new(config: &Config, output: Output, listing: Listing, stage: Stage) -> Writer {
        let fields = config.item_fields();
        let encoder = match &config.download {
            None => LineEncoder::new(fields),
            // The download stage adds `files` after every other field.
            Some(_) => LineEncoder::new(fields.into_iter().chain([FILES_KEY])),
        };
        Writer {
            file: output.file,
            path: output.path,
            len: output.len,
            journal: output.journal,
            sync: config.output.sync,
            encoder,
            lock: output.lock,
            listing,
            dedup: output.dedup,
            watch: output.watch,
            shared: output.shared,
            events: config.output.changes,
            chained: config.next.is_some(),
            stage,
        }
    }

    /// Writes and commits pages until the `items` channel is disconnected and drained, announcing
    /// every commit and failed page to `listener`.
    pub fn run(
        self,
        items: BudgetReceiver<Parsed>,
        listener: Option<Sender<Committed>>,
    ) -> Result<WriterReport> {
        let shutdown = self.stage.shutdown.clone();
        let result = self.write_all(items, listener);
        if result.is_err() {
            // Nothing more can be committed: stop fetching pages that would be lost.
            shutdown.request();
        }
        result
    }

    fn write_all(
        mut self,
        items: BudgetReceiver<Parsed>,
        listener: Option<Sender<Committed>>,
    ) -> Result<WriterReport> {
        let mut session = Session {
            syncable: self.file.metadata().map(|m| m.is_file()).unwrap_or(false),
            out: BufWriter::with_capacity(256 * 1024, self.file.try_clone()?),
            buf: Vec::with_capacity(16 * 1024),
            pending: Vec::new(),
            since: None,
            sum: Xxh3::new(),
            chain: None,
            gone: Vec::new(),
            listener,
            report: WriterReport::default(),
        };
        self.write_unwritten(&mut session)?;
        loop {
            let message = match session.since {
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
            self.stage.stats.queue_depth(Queue::Items, items.len());
            match message {
                None => self.commit(&mut session)?,
                Some(message) => {
                    let message = self.looked_up(message)?;
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
        if self.watch.is_some() && self.round_complete(&session) {
            self.write_gone(&mut session)?;
        }
        self.write_shared_gone(&mut session)?;
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
        let mut report = session.report;
        report.end = self.listing.end();
        report.journal = Some(self.journal);
        Ok(report)
    }

    /// Writes a page, or records a failed one.
    fn handle(&mut self, message: Parsed, session: &mut Session) -> Result<()> {
        let learned = message.learned;
        match message.content {
            Err(NoContent::NotModified { .. }) if self.shared.is_some() => {
                self.write_shared_not_modified(message.number, &message.url, session)
            }
            Err(NoContent::NotModified { .. }) => {
                self.mark_chain(&message.url, &learned, session);
                self.write_not_modified(message.number, &message.url, session)
            }
            Err(NoContent::Failed(reason)) => self.record_failure(message.number, reason, session),
            // Nothing is recorded: the page is neither done nor failed, and the next run or
            // round asks robots.txt again.
            Err(NoContent::Disallowed) => {
                self.stage.stats.page_disallowed();
                session.report.disallowed_example.get_or_insert(message.url);
                session.announce(Committed::Disallowed {
                    page: message.number,
                })
            }
            Ok(items) => {
                if items.is_empty() && !self.listing.until_empty() {
                    warn!(
                        "page {} ({}): no items (a CAPTCHA, a maintenance page, a gap in the \
                         listing?); with a known range (`site.last_page`) it is committed as a \
                         page with no items, and the crawl goes on",
                        message.number, message.url
                    );
                }
                self.write_page(message.number, &message.url, &items, learned, session)
            }
            // A shared crawl commits the page that ended the listing, so that it is
            // acknowledged and no daemon fetches it again.
            Err(NoContent::Gone(_)) => {
                self.write_page(message.number, &message.url, &[], learned, session)
            }
        }
    }

    /// Records a page that failed after its retries, for the next run (and the listeners).
    fn record_failure(
        &mut self,
        page: u64,
        reason: PageError,
        session: &mut Session,
    ) -> Result<()> {
        self.stage.stats.page_failed();
        let record = Record::Failed {
            page,
            reason: reason.to_string(),
        };
        {
            let _whole = self.lock.lock();
            self.journal
                .append(&record, false)
                .with_context(|| format!("writing state file {}", self.journal.path().display()))?;
        }
        session.announce(Committed::Failed {
            page,
            reason: reason.to_string(),
        })?;
        session.report.failed.insert(page, reason);
        Ok(())
    }

    /// On a next-link listing, adds the page at `url` to the next commit's chain mark: a
    /// resumed run starts after the last page committed, at the URL it named (`learned`).
    fn mark_chain(&self, url: &str, learned: &Learned, session: &mut Session) {
        if !self.chained {
            return;
        }
        let mark = session.chain.get_or_insert_with(|| ChainMark {
            urls: Vec::new(),
            next: None,
        });
        mark.urls.push(url.to_string());
        mark.next = learned.next_url().map(str::to_string);
    }

    /// Appends the lines of page `page`'s items (those not seen before, with `output.dedup`),
    /// and commits when the batch is full.
    fn write_page(
        &mut self,
        page: u64,
        url: &str,
        items: &[Item],
        learned: Learned,
        session: &mut Session,
    ) -> Result<()> {
        #[cfg(test)]
        super::stage::inject_panic(url, "writer");
        self.mark_chain(url, &learned, session);
        let mut buf = std::mem::take(&mut session.buf);
        buf.clear();
        let written = if self.shared.is_some() {
            self.encode_shared(page, url, &learned.validators, items, &mut buf)?
        } else if self.watch.is_some() {
            self.encode_keyed(page, url, items, learned, &mut buf)?
        } else if self.dedup.is_on() {
            let new = self.dedup.select(items)?;
            let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            let written =
                self.encoder
                    .encode_kept(page, url, items, Some(&now), |i| new[i], &mut buf);
            self.stage
                .stats
                .items_already_seen(items.len() as u64 - written);
            written
        } else {
            self.encoder.encode_page(page, url, items, &mut buf)
        };
        self.append(&buf, session)?;
        session.buf = buf;
        self.wrote(Some(page), written, session)
    }

    /// `lines` were appended for `page` (`None`: for no page): pending until the next commit,
    /// which comes now unless batches are on and this one is not full.
    fn wrote(&mut self, page: Option<u64>, lines: u64, session: &mut Session) -> Result<()> {
        if let Some(page) = page {
            session.report.failed.remove(&page);
        }
        session.pending.push((page, lines));
        session.since.get_or_insert_with(Instant::now);
        if self.sync != SyncMode::Batch || session.pending.len() >= BATCH_PAGES {
            self.commit(session)?;
        }
        Ok(())
    }

    /// Appends `buf` to the output, as one whole under the [`OutputLock`].
    fn append(&mut self, buf: &[u8], session: &mut Session) -> Result<()> {
        {
            let _whole = self.lock.lock();
            session
                .out
                .write_all(buf)
                .with_context(|| format!("writing output file {}", self.path.display()))?;
        }
        self.len += buf.len() as u64;
        session.sum.update(buf);
        Ok(())
    }

    /// Makes the pending pages durable: output flushed (and synced), then the commit record;
    /// then announces them.
    fn commit(&mut self, session: &mut Session) -> Result<()> {
        if session.pending.is_empty() {
            return Ok(());
        }
        let sync = self.sync != SyncMode::Never;
        let _whole = self.lock.lock();
        let out = &mut session.out;
        out.flush()
            .and_then(|()| {
                if sync && session.syncable {
                    out.get_ref().sync_data()
                } else {
                    Ok(())
                }
            })
            .with_context(|| format!("writing output file {}", self.path.display()))?;
        // The keys after the items they stand for, and before the record that commits both.
        let keys = self.dedup.flush(sync && session.syncable)?;
        let pages: Vec<u64> = session
            .pending
            .iter()
            .filter_map(|&(page, _)| page)
            .collect();
        let mut record = Record::Commit {
            pages: pages.clone(),
            len: self.len,
            seen: keys.seen_len,
            tail: self.listing.tail(),
            sum: Some(session.sum.digest()),
            store: None,
            chain: session.chain.take(),
            gone: session.gone.clone(),
        };
        // With `output.key`, the store's transaction is the commit point: the journal's record
        // follows it, and is made again from the store should it be lost.
        if let Some(watch) = &mut self.watch {
            let seq = watch.commit(&serde_json::to_string(&record).expect("records serialize"))?;
            if let Record::Commit { store, .. } = &mut record {
                *store = Some(seq);
            }
        }
        self.journal
            .append(&record, sync)
            .with_context(|| format!("writing state file {}", self.journal.path().display()))?;
        for &(page, lines) in &session.pending {
            match page {
                Some(_) => self.stage.stats.page_written(lines),
                None => self.stage.stats.lines_written(lines),
            }
        }
        // Only now, with the commit record written, may a listener hear that they are done.
        let gone = std::mem::take(&mut session.gone);
        session.announce(Committed::Pages {
            pages,
            keys: keys.keys,
            gone,
        })?;
        session.pending.clear();
        session.since = None;
        session.sum.reset();
        Ok(())
    }
}
