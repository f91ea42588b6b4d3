//! Crawl counters, and the summary line they add up to.
//!
//! Counters are relaxed atomics bumped by the stages; nothing here synchronises the stages.
//! Observers (the binary's progress reporter, its metrics) only read them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;

/// Log target of progress and summary lines.
pub const TARGET: &str = "pagecrawl::stats";

/// The bounded channels between the stages, for their depth gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Page numbers waiting for a crawler.
    Pages = 0,
    /// Fetched pages waiting for a parser.
    Html = 1,
    /// Parsed pages waiting for the writer.
    Items = 2,
}

impl Queue {
    /// Every queue, in pipeline order.
    pub const ALL: [Queue; 3] = [Queue::Pages, Queue::Html, Queue::Items];

    /// The name used in metrics: the `[queues]` key.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Pages => "pages",
            Queue::Html => "html",
            Queue::Items => "items",
        }
    }
}

/// The buckets of the fetch latency histogram, in seconds: 5 ms to about 41 s.
pub fn fetch_latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 14,
    ))
}

/// Live counters of one crawl (one round), shared by all stages.
#[derive(Debug)]
pub struct Stats {
    /// When the crawl started.
    started: Instant,
    /// Pages in the configured range, if it is known.
    planned: Option<u64>,
    /// Pages fetched with a 2xx status and a whole body.
    fetched: AtomicU64,
    /// Pages that failed after their retries.
    failed: AtomicU64,
    /// Pages of the crawl not fetched, or fetched and not written, because it stopped (Ctrl-C,
    /// or a stop before the end of an "until empty" listing): the next run fetches them.
    not_crawled: AtomicU64,
    /// Pages queued past the end of an "until empty" listing before the end was known: skipped,
    /// or fetched and not written. They are not part of the crawl.
    past_end: AtomicU64,
    /// Pages robots.txt disallowed: skipped, neither failed nor committed.
    disallowed: AtomicU64,
    /// Pages parsed.
    parsed: AtomicU64,
    /// Pages parsed by building their document tree (`extract.engine`).
    parsed_dom: AtomicU64,
    /// Field values that did not convert to their field's `type` (each list element counts).
    unconverted: AtomicU64,
    /// Pages whose items reached the output file.
    written_pages: AtomicU64,
    /// Items written.
    items: AtomicU64,
    /// Response body bytes received for fetched pages.
    bytes: AtomicU64,
    /// Extra attempts made after a retryable error.
    retries: AtomicU64,
    /// Items not written because `output.dedup` had seen their key before.
    already_seen: AtomicU64,
    /// Pages taken over from another daemon whose lease ran out (shared frontier).
    reclaims: AtomicU64,
    /// Pages of the shared frontier that no daemon has acknowledged yet, when last looked at.
    frontier_lag: AtomicU64,
    /// Detail pages fetched (`[follow]`), and their body bytes.
    detail_fetched: AtomicU64,
    /// Bytes of detail pages fetched.
    detail_bytes: AtomicU64,
    /// Detail pages that failed after their retries (each fails its list page).
    detail_failed: AtomicU64,
    /// Detail pages not fetched because their host is not in `follow.hosts`.
    detail_refused: AtomicU64,
    /// Files downloaded and stored (`[download]`).
    files_downloaded: AtomicU64,
    /// Files found complete on disk, not fetched again.
    files_uptodate: AtomicU64,
    /// Files that failed after their retries (each fails its list page).
    files_failed: AtomicU64,
    /// Files not fetched because their host is not in `download.hosts`.
    files_refused: AtomicU64,
    /// Bytes of files downloaded.
    file_bytes: AtomicU64,
    /// Messages in each queue when last looked at, by [`Queue`].
    depth: [AtomicU64; 3],
    /// How long each request attempt took; shared with the metrics endpoint across rounds.
    fetch_latency: Histogram,
}

impl Stats {
    /// Fresh counters; `planned` is the size of the page range when it is known. Request times
    /// go to `fetch_latency`.
    pub fn new(planned: Option<u64>, fetch_latency: Histogram) -> Arc<Stats> {
        Arc::new(Stats {
            started: Instant::now(),
            planned,
            fetched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            not_crawled: AtomicU64::new(0),
            past_end: AtomicU64::new(0),
            disallowed: AtomicU64::new(0),
            parsed: AtomicU64::new(0),
            parsed_dom: AtomicU64::new(0),
            unconverted: AtomicU64::new(0),
            written_pages: AtomicU64::new(0),
            items: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            already_seen: AtomicU64::new(0),
            reclaims: AtomicU64::new(0),
            frontier_lag: AtomicU64::new(0),
            detail_fetched: AtomicU64::new(0),
            detail_bytes: AtomicU64::new(0),
            detail_failed: AtomicU64::new(0),
            detail_refused: AtomicU64::new(0),
            files_downloaded: AtomicU64::new(0),
            files_uptodate: AtomicU64::new(0),
            files_failed: AtomicU64::new(0),
            files_refused: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
            depth: Default::default(),
            fetch_latency,
        })
    }

    /// A page was fetched, with a body of `bytes`.
    pub fn page_fetched(&self, bytes: u64) {
        self.fetched.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A page failed after its retries.
    pub fn page_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` pages were not crawled (a stop), and are left for the next run.
    pub fn pages_not_crawled(&self, n: u64) {
        self.not_crawled.fetch_add(n, Ordering::Relaxed);
    }

    /// A page was skipped because robots.txt disallows it.
    pub fn page_disallowed(&self) {
        self.disallowed.fetch_add(1, Ordering::Relaxed);
    }

    /// A page queued past the end of the listing was skipped or dropped.
    pub fn page_past_end(&self) {
        self.past_end.fetch_add(1, Ordering::Relaxed);
    }

    /// A page was parsed.
    pub fn page_parsed(&self) {
        self.parsed.fetch_add(1, Ordering::Relaxed);
    }

    /// A page was parsed by the DOM engine rather than the stream.
    pub fn page_parsed_dom(&self) {
        self.parsed_dom.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` field values of a parsed page did not convert to their field's `type`.
    pub fn fields_unconverted(&self, n: u64) {
        self.unconverted.fetch_add(n, Ordering::Relaxed);
    }

    /// A page and its `items` items reached the output file.
    pub fn page_written(&self, items: u64) {
        self.written_pages.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
    }

    /// A detail page was fetched, with a body of `bytes`.
    pub fn detail_fetched(&self, bytes: u64) {
        self.detail_fetched.fetch_add(1, Ordering::Relaxed);
        self.detail_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A detail page failed after its retries.
    pub fn detail_failed(&self) {
        self.detail_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A detail page was not fetched: its host is not listed.
    pub fn detail_refused(&self) {
        self.detail_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A file of `bytes` was downloaded and stored.
    pub fn file_downloaded(&self, bytes: u64) {
        self.files_downloaded.fetch_add(1, Ordering::Relaxed);
        self.file_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A file was complete on disk already.
    pub fn file_uptodate(&self) {
        self.files_uptodate.fetch_add(1, Ordering::Relaxed);
    }

    /// A file failed after its retries.
    pub fn file_failed(&self) {
        self.files_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A file was not fetched: its host is not listed.
    pub fn file_refused(&self) {
        self.files_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A retry was made.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` items were not written: their keys were seen before.
    pub fn items_already_seen(&self, n: u64) {
        self.already_seen.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` pages were taken over from daemons whose lease ran out.
    pub fn leases_reclaimed(&self, n: u64) {
        self.reclaims.fetch_add(n, Ordering::Relaxed);
    }

    /// The shared frontier holds `n` unacknowledged pages; a gauge for `/metrics`.
    pub fn frontier_lag(&self, n: u64) {
        self.frontier_lag.store(n, Ordering::Relaxed);
    }

    /// The last frontier lag recorded.
    pub fn lag(&self) -> u64 {
        self.frontier_lag.load(Ordering::Relaxed)
    }

    /// A request attempt took `elapsed`.
    pub fn fetch_took(&self, elapsed: Duration) {
        self.fetch_latency.observe(elapsed.as_secs_f64());
    }

    /// `queue` holds `len` messages now. Stages call this as they send and receive; it is a
    /// gauge for the metrics endpoint and synchronises nothing.
    pub fn queue_depth(&self, queue: Queue, len: usize) {
        self.depth[queue as usize].store(len as u64, Ordering::Relaxed);
    }

    /// The last depth recorded for `queue`.
    pub fn depth_of(&self, queue: Queue) -> u64 {
        self.depth[queue as usize].load(Ordering::Relaxed)
    }

    /// A consistent-enough copy of the counters.
    pub fn snapshot(&self) -> Summary {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            planned: self.planned,
            fetched: load(&self.fetched),
            failed: load(&self.failed),
            not_crawled: load(&self.not_crawled),
            past_end: load(&self.past_end),
            disallowed: load(&self.disallowed),
            parsed: load(&self.parsed),
            parsed_dom: load(&self.parsed_dom),
            fields_unconverted: load(&self.unconverted),
            written_pages: load(&self.written_pages),
            items: load(&self.items),
            bytes: load(&self.bytes),
            retries: load(&self.retries),
            already_seen: load(&self.already_seen),
            reclaims: load(&self.reclaims),
            detail_fetched: load(&self.detail_fetched),
            detail_bytes: load(&self.detail_bytes),
            detail_failed: load(&self.detail_failed),
            detail_refused: load(&self.detail_refused),
            files_downloaded: load(&self.files_downloaded),
            files_uptodate: load(&self.files_uptodate),
            files_failed: load(&self.files_failed),
            files_refused: load(&self.files_refused),
            file_bytes: load(&self.file_bytes),
            elapsed: self.started.elapsed(),
        }
    }
}

/// Counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Pages in the configured range, if known.
    pub planned: Option<u64>,
    /// Pages fetched.
    pub fetched: u64,
    /// Pages failed after retries.
    pub failed: u64,
    /// Pages not crawled (or not written) because the crawl stopped.
    pub not_crawled: u64,
    /// Pages queued past the end of an "until empty" listing, not written.
    pub past_end: u64,
    /// Pages robots.txt disallowed (`http.robots`): skipped, not failed, not committed.
    pub disallowed: u64,
    /// Pages parsed.
    pub parsed: u64,
    /// Pages parsed by the DOM engine.
    pub parsed_dom: u64,
    /// Field values that did not convert to their field's `type`.
    pub fields_unconverted: u64,
    /// Pages whose items were written.
    pub written_pages: u64,
    /// Items written.
    pub items: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Retries made.
    pub retries: u64,
    /// Items skipped by `output.dedup`.
    pub already_seen: u64,
    /// Pages taken over from daemons whose lease ran out.
    pub reclaims: u64,
    /// Detail pages fetched.
    pub detail_fetched: u64,
    /// Body bytes of detail pages.
    pub detail_bytes: u64,
    /// Detail pages failed after retries.
    pub detail_failed: u64,
    /// Detail pages on hosts not listed, not fetched.
    pub detail_refused: u64,
    /// Files downloaded.
    pub files_downloaded: u64,
    /// Files complete on disk already.
    pub files_uptodate: u64,
    /// Files failed after retries.
    pub files_failed: u64,
    /// Files on hosts not listed, not fetched.
    pub files_refused: u64,
    /// Bytes of files downloaded.
    pub file_bytes: u64,
    /// Time since the crawl started.
    pub elapsed: Duration,
}

impl Summary {
    /// Items written per second of wall time.
    pub fn items_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.items as f64 / secs
        } else {
            0.0
        }
    }

    /// Fetched pages per second of wall time.
    pub fn pages_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.fetched as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    /// `key=value` pairs, stable so that scripts and tests can read them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pages_fetched={} pages_failed={} pages_not_crawled={} pages_past_end={} \
             pages_disallowed={} pages_written={} items={} items_already_seen={} bytes={} \
             retries={} pages_parsed_dom={} lease_reclaims={} fields_unconverted={} \
             elapsed={:.3}s pages_per_sec={:.1}",
            self.fetched,
            self.failed,
            self.not_crawled,
            self.past_end,
            self.disallowed,
            self.written_pages,
            self.items,
            self.already_seen,
            self.bytes,
            self.retries,
            self.parsed_dom,
            self.reclaims,
            self.fields_unconverted,
            self.elapsed.as_secs_f64(),
            self.pages_per_sec()
        )?;
        // Only crawls with `[follow]` or `[download]` have these; the line above stays as it was.
        let detail = [self.detail_fetched, self.detail_failed, self.detail_refused];
        if detail.iter().any(|&n| n > 0) {
            write!(
                f,
                " detail_pages_fetched={} detail_pages_failed={} detail_pages_refused={} \
                 detail_bytes={}",
                self.detail_fetched, self.detail_failed, self.detail_refused, self.detail_bytes
            )?;
        }
        let files = [
            self.files_downloaded,
            self.files_uptodate,
            self.files_failed,
            self.files_refused,
        ];
        if files.iter().any(|&n| n > 0) {
            write!(
                f,
                " files_downloaded={} files_uptodate={} files_failed={} files_refused={} \
                 file_bytes={}",
                self.files_downloaded,
                self.files_uptodate,
                self.files_failed,
                self.files_refused,
                self.file_bytes
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_is_stable_key_value() {
        let stats = Stats::new(Some(10), fetch_latency_histogram());
        stats.page_fetched(100);
        stats.page_fetched(50);
        stats.page_failed();
        stats.pages_not_crawled(7);
        stats.page_written(25);
        stats.retried();
        let s = stats.snapshot();
        assert_eq!(
            (s.fetched, s.bytes, s.failed, s.not_crawled),
            (2, 150, 1, 7)
        );
        let line = s.to_string();
        assert!(line.starts_with(
            "pages_fetched=2 pages_failed=1 pages_not_crawled=7 pages_past_end=0 pages_disallowed=0 \
             pages_written=1 items=25 items_already_seen=0 bytes=150 retries=1 pages_parsed_dom=0 \
             lease_reclaims=0 fields_unconverted=0 elapsed="
        ));
    }
}
