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

/// Where a counter stands in the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// In the line always, before `elapsed`.
    Pages,
    /// After it, when any detail page counter is above 0 (`[follow]`).
    Detail,
    /// After those, when any file counter is above 0 (`[download]`).
    Files,
    /// Last, when any of them is above 0 (`output.key`).
    Watch,
    /// Not in the line (in `/metrics` only).
    Hidden,
}

/// One counter of a [`Summary`]: its names and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Its key in the summary line (`pages_fetched`).
    pub key: &'static str,
    /// Where the line shows it.
    pub group: Group,
    /// Its name in `/metrics`, without the `pagecrawl_` prefix and `_total` suffix.
    pub metric: &'static str,
    /// What it counts, for `/metrics`.
    pub help: &'static str,
    /// Its value.
    pub value: u64,
}

/// Defines every counter once: its field in [`Summary`] (and its atomic in [`Stats`]), its key
/// in the summary line and its metric. The stages bump them through the methods of [`Stats`].
macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $field:ident => $group:ident $key:literal,
        $metric:literal: $help:literal; )*) => {
        /// Counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Summary {
            /// Pages in the configured range, if known.
            pub planned: Option<u64>,
            $( $(#[doc = $doc])* pub $field: u64, )*
            /// Time since the crawl started.
            pub elapsed: Duration,
        }

        /// The live counters of a round, one atomic per field of [`Summary`].
        #[derive(Debug, Default)]
        struct Counts {
            $( $field: AtomicU64, )*
        }

        impl Counts {
            fn load(&self, planned: Option<u64>, elapsed: Duration) -> Summary {
                Summary {
                    planned,
                    $( $field: self.$field.load(Ordering::Relaxed), )*
                    elapsed,
                }
            }
        }

        impl Summary {
            /// Every counter, in the order of the summary line.
            pub fn counters(&self) -> Vec<Counter> {
                vec![$( Counter {
                    key: $key,
                    group: Group::$group,
                    metric: $metric,
                    help: $help,
                    value: self.$field,
                }, )*]
            }

            /// Adds `other`'s counters to these (the rounds of a service, summed).
            pub fn add(&mut self, other: &Summary) {
                $( self.$field += other.$field; )*
            }
        }
    };
}

counters! {
    /// Pages fetched with a 2xx status and a whole body.
    fetched => Pages "pages_fetched", "pages_fetched": "Pages fetched whole with a 2xx status";
    /// Pages that failed after their retries.
    failed => Pages "pages_failed", "pages_failed": "Pages that failed after their retries";
    /// Pages of the crawl not fetched, or fetched and not written, because it stopped (Ctrl-C,
    /// or a stop before the end of an "until empty" listing): the next run fetches them.
    not_crawled => Pages "pages_not_crawled", "pages_not_crawled":
        "Pages left for the next run or round because the crawl stopped";
    /// Pages queued past the end of an "until empty" listing before the end was known: skipped,
    /// or fetched and not written. They are not part of the crawl.
    past_end => Pages "pages_past_end", "pages_past_end":
        "Pages queued past the end of the listing before it was known, not written";
    /// Pages robots.txt disallowed: skipped, neither failed nor committed.
    disallowed => Pages "pages_disallowed", "pages_disallowed":
        "Pages skipped because robots.txt disallows them (http.robots)";
    /// Pages whose items reached the output file.
    written_pages => Pages "pages_written", "pages_written":
        "Pages whose items were committed to the output";
    /// Items written.
    items => Pages "items", "items_written": "Items written to the output";
    /// Items not written because `output.dedup` had seen their key before.
    already_seen => Pages "items_already_seen", "items_already_seen":
        "Items not written because output.dedup had seen their key";
    /// Response body bytes received for fetched pages.
    bytes => Pages "bytes", "response_bytes": "Response body bytes of fetched pages";
    /// Extra attempts made after a retryable error.
    retries => Pages "retries", "retries": "Request attempts made after a retryable error";
    /// Pages parsed by building their document tree (`extract.engine`).
    parsed_dom => Pages "pages_parsed_dom", "pages_parsed_dom":
        "Pages parsed into a full document tree rather than streamed (extract.engine)";
    /// Pages taken over from another daemon whose lease ran out (shared frontier).
    reclaims => Pages "lease_reclaims", "lease_reclaims":
        "Pages of the shared frontier taken over from a daemon whose lease ran out";
    /// Field values that did not convert to their field's `type` (each list element counts).
    fields_unconverted => Pages "fields_unconverted", "fields_unconverted":
        "Field values that did not convert to their field's type (null in the output)";
    /// Pages parsed.
    parsed => Hidden "pages_parsed", "pages_parsed": "Pages parsed";
    /// Detail pages fetched (`[follow]`).
    detail_fetched => Detail "detail_pages_fetched", "detail_pages_fetched":
        "Detail pages fetched whole ([follow])";
    /// Detail pages that failed after their retries (each fails its list page).
    detail_failed => Detail "detail_pages_failed", "detail_pages_failed":
        "Detail pages that failed after their retries (each fails its list page)";
    /// Detail pages not fetched because their host is not in `follow.hosts`.
    detail_refused => Detail "detail_pages_refused", "detail_pages_refused":
        "Detail pages not fetched: their host is not listed, or robots.txt disallows them";
    /// Bytes of detail pages fetched.
    detail_bytes => Detail "detail_bytes", "detail_bytes": "Response body bytes of detail pages";
    /// Detail pages that answered 304 Not Modified (`http.conditional`): their fields kept.
    detail_not_modified => Detail "detail_pages_not_modified", "detail_pages_not_modified":
        "Detail pages that answered 304 Not Modified: their fields kept from the store";
    /// Parts after the first of detail pages in several parts (`follow.next`).
    detail_parts => Detail "detail_parts_fetched", "detail_parts_fetched":
        "Parts after the first of detail pages in several parts (follow.next)";
    /// Detail pages whose last part's next link led back to a part already read.
    detail_part_loops => Detail "detail_part_loops", "detail_part_loops":
        "Detail pages whose next link led back to a part already read, which ended them";
    /// Detail pages whose next links were not all followed: `follow.max_pages`, or a refused
    /// host.
    detail_parts_cut => Detail "detail_parts_cut", "detail_parts_cut":
        "Detail pages with parts left unread: follow.max_pages reached, or a next link refused";
    /// Files downloaded and stored (`[download]`).
    files_downloaded => Files "files_downloaded", "files_downloaded":
        "Files downloaded and stored ([download])";
    /// Files found complete on disk, not fetched again.
    files_uptodate => Files "files_uptodate", "files_uptodate":
        "Files found complete on disk, not fetched again";
    /// Files that failed after their retries (each fails its list page).
    files_failed => Files "files_failed", "files_failed":
        "Files that failed after their retries (each fails its list page)";
    /// Files not fetched because their host is not in `download.hosts`.
    files_refused => Files "files_refused", "files_refused":
        "Files not fetched: their host is not listed, or robots.txt disallows them";
    /// Bytes of files downloaded.
    file_bytes => Files "file_bytes", "file_bytes": "Bytes of files downloaded";
    /// Items whose key was never seen before, or back after a round found it gone.
    items_new => Watch "items_new", "items_new": "Items whose key (output.key) is new";
    /// Items whose values differ from the last written ones.
    items_changed => Watch "items_changed", "items_changed":
        "Items whose values changed since they were last written";
    /// Items with the values last written.
    items_unchanged => Watch "items_unchanged", "items_unchanged":
        "Items listed again with the values last written";
    /// Keys a complete round did not list.
    items_gone => Watch "items_gone", "items_gone":
        "Items no longer listed, found by a complete round";
    /// Items without a value in the key field: written, not followed across rounds.
    items_without_key => Watch "items_without_key", "items_without_key":
        "Items without a value in output.key, written but not followed across rounds";
    /// List pages that answered 304 Not Modified (`http.conditional`).
    not_modified => Watch "pages_not_modified", "pages_not_modified":
        "List pages that answered 304 Not Modified: their items listed again, unchanged";
}

/// Live counters of one crawl (one round), shared by all stages.
#[derive(Debug)]
pub struct Stats {
    /// When the crawl started.
    started: Instant,
    /// Pages in the configured range, if it is known.
    planned: Option<u64>,
    /// The counters of [`Summary`].
    counts: Counts,
    /// Pages of the shared frontier that no daemon has acknowledged yet, when last looked at.
    frontier_lag: AtomicU64,
    /// Messages in each queue when last looked at, by [`Queue`].
    depth: [AtomicU64; 3],
    /// How long each request attempt took; shared with the metrics endpoint across rounds.
    fetch_latency: Histogram,
}

/// Adds `n` to `counter`.
fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    /// Fresh counters; `planned` is the size of the page range when it is known. Request times
    /// go to `fetch_latency`.
    pub fn new(planned: Option<u64>, fetch_latency: Histogram) -> Arc<Stats> {
        Arc::new(Stats {
            started: Instant::now(),
            planned,
            counts: Counts::default(),
            frontier_lag: AtomicU64::new(0),
            depth: Default::default(),
            fetch_latency,
        })
    }

    /// A page was fetched, with a body of `bytes`.
    pub fn page_fetched(&self, bytes: u64) {
        bump(&self.counts.fetched, 1);
        bump(&self.counts.bytes, bytes);
    }

    /// A page failed after its retries.
    pub fn page_failed(&self) {
        bump(&self.counts.failed, 1);
    }

    /// `n` pages were not crawled (a stop), and are left for the next run.
    pub fn pages_not_crawled(&self, n: u64) {
        bump(&self.counts.not_crawled, n);
    }

    /// A page was skipped because robots.txt disallows it.
    pub fn page_disallowed(&self) {
        bump(&self.counts.disallowed, 1);
    }

    /// A page queued past the end of the listing was skipped or dropped.
    pub fn page_past_end(&self) {
        bump(&self.counts.past_end, 1);
    }

    /// A page was parsed.
    pub fn page_parsed(&self) {
        bump(&self.counts.parsed, 1);
    }

    /// A page was parsed by the DOM engine rather than the stream.
    pub fn page_parsed_dom(&self) {
        bump(&self.counts.parsed_dom, 1);
    }

    /// `n` field values of a parsed page did not convert to their field's `type`.
    pub fn fields_unconverted(&self, n: u64) {
        bump(&self.counts.fields_unconverted, n);
    }

    /// A page and its `items` items reached the output file.
    pub fn page_written(&self, items: u64) {
        bump(&self.counts.written_pages, 1);
        bump(&self.counts.items, items);
    }

    /// `n` lines were written that belong to no page (the keys a complete round found gone).
    pub fn lines_written(&self, n: u64) {
        bump(&self.counts.items, n);
    }

    /// A detail page was fetched, with a body of `bytes`.
    pub fn detail_fetched(&self, bytes: u64) {
        bump(&self.counts.detail_fetched, 1);
        bump(&self.counts.detail_bytes, bytes);
    }

    /// A detail page failed after its retries.
    pub fn detail_failed(&self) {
        bump(&self.counts.detail_failed, 1);
    }

    /// A detail page was not fetched: its host is not listed.
    pub fn detail_refused(&self) {
        bump(&self.counts.detail_refused, 1);
    }

    /// A later part of a detail page was fetched, with a body of `bytes`.
    pub fn detail_part_fetched(&self, bytes: u64) {
        bump(&self.counts.detail_parts, 1);
        bump(&self.counts.detail_bytes, bytes);
    }

    /// A detail page's next link led back to a part already read.
    pub fn detail_part_loop(&self) {
        bump(&self.counts.detail_part_loops, 1);
    }

    /// A detail page was left with parts unread.
    pub fn detail_parts_cut(&self) {
        bump(&self.counts.detail_parts_cut, 1);
    }

    /// A file of `bytes` was downloaded and stored.
    pub fn file_downloaded(&self, bytes: u64) {
        bump(&self.counts.files_downloaded, 1);
        bump(&self.counts.file_bytes, bytes);
    }

    /// A file was complete on disk already.
    pub fn file_uptodate(&self) {
        bump(&self.counts.files_uptodate, 1);
    }

    /// A file failed after its retries.
    pub fn file_failed(&self) {
        bump(&self.counts.files_failed, 1);
    }

    /// A file was not fetched: its host is not listed.
    pub fn file_refused(&self) {
        bump(&self.counts.files_refused, 1);
    }

    /// A detail page answered 304 Not Modified.
    pub fn detail_not_modified(&self) {
        bump(&self.counts.detail_not_modified, 1);
    }

    /// A commit made these events of a keyed crawl durable: items new, changed, unchanged,
    /// gone and without a key, and list pages not modified.
    pub fn watched(
        &self,
        new: u64,
        changed: u64,
        unchanged: u64,
        gone: u64,
        without_key: u64,
        not_modified: u64,
    ) {
        bump(&self.counts.items_new, new);
        bump(&self.counts.items_changed, changed);
        bump(&self.counts.items_unchanged, unchanged);
        bump(&self.counts.items_gone, gone);
        bump(&self.counts.items_without_key, without_key);
        bump(&self.counts.not_modified, not_modified);
    }

    /// A retry was made.
    pub fn retried(&self) {
        bump(&self.counts.retries, 1);
    }

    /// `n` items were not written: their keys were seen before.
    pub fn items_already_seen(&self, n: u64) {
        bump(&self.counts.already_seen, n);
    }

    /// `n` pages were taken over from daemons whose lease ran out.
    pub fn leases_reclaimed(&self, n: u64) {
        bump(&self.counts.reclaims, n);
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
        self.counts.load(self.planned, self.started.elapsed())
    }
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
    /// `key=value` pairs, stable so that scripts and tests can read them: the page counters,
    /// the time, then the detail and file counters of a crawl that has any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters = self.counters();
        let group = |group: Group| counters.iter().filter(move |c| c.group == group);
        for (i, counter) in group(Group::Pages).enumerate() {
            let space = if i == 0 { "" } else { " " };
            write!(f, "{space}{}={}", counter.key, counter.value)?;
        }
        write!(
            f,
            " elapsed={:.3}s pages_per_sec={:.1}",
            self.elapsed.as_secs_f64(),
            self.pages_per_sec()
        )?;
        for extra in [Group::Detail, Group::Files, Group::Watch] {
            if group(extra).any(|c| c.value > 0 && !c.key.ends_with("bytes")) {
                for counter in group(extra) {
                    write!(f, " {}={}", counter.key, counter.value)?;
                }
            }
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
