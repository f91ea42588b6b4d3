//! "Until empty" mode (no `site.last_page`): where a listing ends, and what stops one that does
//! not.
//!
//! The listing ends at the first page that has no items, answers 404 or 410, or lists exactly the
//! items of the page before it (a site that repeats its last page for every number past it).
//! Pages are fetched in parallel and finish in any order, so the writer hands every page to an
//! [`InOrder`] sequencer, which releases them in page order: the output is exactly the pages
//! before the end, whatever the thread counts and timing. It also stops a listing that never
//! ends: `site.max_failed_in_a_row` failed pages in a row, or `site.max_pages`, or a first page
//! that is already past the end (almost always a wrong `site.first_page` or URL).
//!
//! The feeder takes a *credit* before each page it queues and the sequencer gives one back for
//! each page it releases, so the feeder stays at most a window of pages ahead of the lowest page
//! not yet released, and the pages held here are bounded. [`ListingEnd`] tells the feeder and the
//! crawlers which pages are no longer needed. With a shared frontier (several daemons, each with
//! its own output) pages cannot be put in order; [`Unordered`] keeps the earlier rule there: the
//! lowest empty page any daemon sees ends the listing.
//!
//! This module does no I/O: it decides, the writer writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use log::{info, warn};

use crate::extract::{Item, Parsed};
use crate::stats::Stats;

/// What the crawl knows about the end of the listing, shared by the feeder, the crawlers and the
/// writer: no page past it is fetched.
#[derive(Debug)]
pub struct ListingEnd {
    /// The lowest page known to end the listing (empty, gone), or `u64::MAX` while unknown.
    first_empty: AtomicU64,
    /// Raised when the crawl stops before the end of the listing: no page is needed any more.
    stopped: AtomicBool,
    /// Why it stopped; the first reason wins.
    reason: Mutex<Option<String>>,
}

impl Default for ListingEnd {
    fn default() -> Self {
        ListingEnd {
            first_empty: AtomicU64::new(u64::MAX),
            stopped: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }
}

impl ListingEnd {
    /// Records that the listing ends at `page` at the latest; the lowest such page wins.
    pub fn observe_empty(&self, page: u64) {
        self.first_empty.fetch_min(page, Ordering::SeqCst);
    }

    /// The lowest page known to end the listing, if one has been seen.
    pub fn first_empty(&self) -> Option<u64> {
        match self.first_empty.load(Ordering::SeqCst) {
            u64::MAX => None,
            page => Some(page),
        }
    }

    /// Whether `page` is no longer needed: beyond the end of the listing, or the crawl stopped.
    pub fn is_past(&self, page: u64) -> bool {
        page > self.first_empty.load(Ordering::SeqCst) || self.is_stopped()
    }

    /// Stops the crawl before the end of the listing, for `reason` (one line, naming the key or
    /// the page that caused it). The crawl then exits with 3.
    pub fn stop(&self, reason: String) {
        let mut held = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            warn!("{reason}");
            *held = Some(reason);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether [`ListingEnd::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Why the crawl stopped before the end of the listing, if it did.
    pub fn stop_reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The limits of an "until empty" crawl, from `[site]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `site.first_page`: a listing that ends there is an error, not an empty success.
    pub first_page: u64,
    /// The last page `site.max_pages` lets the crawl fetch.
    pub max_page: u64,
    /// `site.max_failed_in_a_row`: this many failed pages in a row stop the crawl.
    pub max_failed_in_a_row: u32,
}

/// A hash of a page's items, to tell a page that repeats the one before it.
pub fn items_hash(items: &[Item]) -> u64 {
    // Every item has one value per field, so the item boundaries need no marker.
    crate::store::seen::key_of(items.iter().flatten().map(Option::as_deref)) as u64
}

/// Why a listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The page has no items.
    Empty,
    /// The page answered 404 or 410.
    Gone(u16),
    /// The page lists the same items as the page before it.
    Repeat,
}

impl Why {
    fn describe(self) -> String {
        match self {
            Why::Empty => "has no items".to_string(),
            Why::Gone(status) => format!("answered {status}"),
            Why::Repeat => "lists the same items as the page before it".to_string(),
        }
    }
}

/// The page and the reason a listing ends there, for a message naming it.
fn ending(message: &Parsed, previous: Option<(u64, u64)>) -> Option<Why> {
    match message {
        Parsed::Gone { status, .. } => Some(Why::Gone(*status)),
        Parsed::Page(page) if page.items.is_empty() => Some(Why::Empty),
        Parsed::Page(page)
            if previous
                .is_some_and(|(p, hash)| p + 1 == page.page && hash == items_hash(&page.items)) =>
        {
            Some(Why::Repeat)
        }
        _ => None,
    }
}

/// The warning for a listing that ends at its first page.
fn first_page_reason(page: u64, url: &str, why: Why) -> String {
    format!(
        "page {page} ({url}), the first page of the listing (`site.first_page` = {page}), {}: \
         nothing was crawled. Check `site.first_page` (a listing numbered from 1 needs \
         `first_page = 1`) and `site.url`",
        why.describe()
    )
}

/// The pages of an "until empty" crawl, put in page order before they are written.
pub struct InOrder {
    /// The lowest page not yet released.
    next: u64,
    /// Pages committed by an earlier run: not fetched again, passed over.
    committed: BTreeSet<u64>,
    /// Pages that arrived before a page below them, by page number.
    held: BTreeMap<u64, Parsed>,
    /// The last page released with items, and the hash of its items (from the journal, at
    /// first): a page equal to it ends the listing.
    previous: Option<(u64, u64)>,
    /// Failed pages released in a row.
    failed_in_a_row: u32,
    /// The end recorded by an earlier run, or found by this one.
    end: Option<u64>,
    /// Whether this run found `end` (and must record it).
    found_end: bool,
    /// Whether the crawl stopped before the end (recorded in `listing`).
    stopped: bool,
    /// The crawl's limits.
    limits: Limits,
    /// Given back to the feeder, one per released page; dropped once nothing more is needed.
    credits: Option<Sender<()>>,
    /// Shared with the feeder and crawlers.
    listing: Arc<ListingEnd>,
    /// Pages dropped past the end, or at a stop, are counted here.
    stats: Arc<Stats>,
}

impl InOrder {
    /// A sequencer that starts at `limits.first_page`, passing over the `committed` pages. The
    /// journal's `tail` (the last listing page committed, and its items' hash) and `end` come
    /// from an earlier run.
    pub fn new(
        limits: Limits,
        committed: BTreeSet<u64>,
        tail: Option<(u64, u64)>,
        end: Option<u64>,
        credits: Sender<()>,
        listing: Arc<ListingEnd>,
        stats: Arc<Stats>,
    ) -> InOrder {
        InOrder {
            next: limits.first_page,
            committed,
            held: BTreeMap::new(),
            previous: tail,
            failed_in_a_row: 0,
            end,
            found_end: false,
            stopped: false,
            limits,
            credits: Some(credits),
            listing,
            stats,
        }
    }

    /// Takes one page from the parsers; returns the pages that can now be written (or recorded
    /// as failed), in page order.
    pub fn push(&mut self, message: Parsed) -> Vec<Parsed> {
        let page = message.page();
        if self.is_done() || page < self.next {
            // Past the end or the stop: only pages below it are written.
            self.drop_page();
            return Vec::new();
        }
        self.held.insert(page, message);
        self.release(false)
    }

    /// Called once every page has arrived (or the crawl was interrupted): releases what is held
    /// below the end, passing over pages that never came (not crawled because of a stop).
    pub fn finish(&mut self) -> Vec<Parsed> {
        let out = self.release(true);
        for _ in std::mem::take(&mut self.held) {
            self.drop_page();
        }
        out
    }

    /// The end of the listing that this run found, to be recorded in the journal.
    pub fn found_end(&self) -> Option<u64> {
        self.end.filter(|_| self.found_end)
    }

    /// The end of the listing, found now or recorded earlier.
    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// The last page released with items and its items' hash, for the journal's commit record.
    pub fn tail(&self) -> Option<(u64, u64)> {
        self.previous
    }

    fn is_done(&self) -> bool {
        self.stopped || self.end.is_some_and(|end| self.next >= end)
    }

    /// Counts a page that is not written: past the end, or not needed after a stop.
    fn drop_page(&self) {
        if self.stopped {
            self.stats.pages_not_crawled(1);
        } else {
            self.stats.page_past_end();
        }
    }

    fn release(&mut self, finishing: bool) -> Vec<Parsed> {
        let mut out = Vec::new();
        while !self.is_done() {
            if self.committed.remove(&self.next) {
                // `previous` may be the journal's tail, a committed page: it is compared only
                // with the page right after it.
                self.next += 1;
                continue;
            }
            if self.next > self.limits.max_page {
                self.stop(format!(
                    "the listing did not end within `site.max_pages` ({} pages from page {}): \
                     stopped at page {}; raise `site.max_pages` to crawl further",
                    self.limits.max_page - self.limits.first_page + 1,
                    self.limits.first_page,
                    self.next
                ));
                break;
            }
            let message = match self.held.remove(&self.next) {
                Some(message) => message,
                None if finishing => match self.held.keys().next() {
                    // A page that never came: a gap, as far as this run goes.
                    Some(&page) => {
                        self.previous = None;
                        self.next = page;
                        continue;
                    }
                    None => break,
                },
                None => break,
            };
            if let Some(credits) = &self.credits {
                // Never full: the feeder took this credit from it.
                let _ = credits.try_send(());
            }
            let page = self.next;
            self.next += 1;
            if let Some(why) = ending(&message, self.previous) {
                self.end_at(page, &message, why);
                break;
            }
            match &message {
                Parsed::Failed { .. } => {
                    self.failed_in_a_row += 1;
                    self.previous = None;
                    out.push(message);
                    if self.failed_in_a_row >= self.limits.max_failed_in_a_row {
                        self.stop(format!(
                            "{} pages in a row failed (`site.max_failed_in_a_row` = {}), the \
                             last one page {page}: stopping before the end of the listing. \
                             They are recorded as failed, and the next run starts again from \
                             them",
                            self.failed_in_a_row, self.limits.max_failed_in_a_row
                        ));
                    }
                }
                Parsed::Page(items) => {
                    self.failed_in_a_row = 0;
                    self.previous = Some((page, items_hash(&items.items)));
                    out.push(message);
                }
                Parsed::Gone { .. } => unreachable!("a gone page always ends the listing"),
            }
        }
        out
    }

    /// The listing ends at `page` (or, at the first page, the crawl stops with a warning).
    fn end_at(&mut self, page: u64, message: &Parsed, why: Why) {
        let url = message.url().unwrap_or("");
        if page == self.limits.first_page {
            self.stop(first_page_reason(page, url, why));
            return;
        }
        info!(
            "the listing ends at page {page} ({url}), which {}",
            why.describe()
        );
        // Pages after a gap (a page that failed before, empty now) were committed by a run
        // that could not know: they stay.
        let beyond: Vec<String> = self.committed.iter().map(u64::to_string).collect();
        if !beyond.is_empty() {
            warn!(
                "pages {} were committed by an earlier run, before page {page} was found to \
                 end the listing; they stay in the output",
                beyond.join(", ")
            );
        }
        self.end = Some(page);
        self.found_end = true;
        self.listing.observe_empty(page);
        self.wind_down();
    }

    fn stop(&mut self, reason: String) {
        self.stopped = true;
        self.listing.stop(reason);
        self.wind_down();
    }

    /// Nothing more is needed: the feeder, waiting for a credit, sees the channel end; what is
    /// held is dropped.
    fn wind_down(&mut self) {
        self.credits = None;
        for _ in std::mem::take(&mut self.held) {
            self.drop_page();
        }
    }
}

/// What the writer does with each page, by the kind of crawl.
pub enum Listing {
    /// A known range (`site.last_page`): every page is written as it comes, an empty one too.
    Range,
    /// "Until empty", one daemon: pages in page order, see [`InOrder`].
    InOrder(Box<InOrder>),
    /// "Until empty" with a shared frontier, see [`Unordered`].
    Unordered(Unordered),
}

impl Listing {
    /// Takes one page from the parsers; returns the pages to write or record now, in order.
    pub fn push(&mut self, message: Parsed) -> Vec<Parsed> {
        match self {
            Listing::Range => vec![message],
            Listing::InOrder(order) => order.push(message),
            Listing::Unordered(unordered) => unordered.push(message).into_iter().collect(),
        }
    }

    /// Called once the parsers are done: what is still held, in order.
    pub fn finish(&mut self) -> Vec<Parsed> {
        match self {
            Listing::InOrder(order) => order.finish(),
            Listing::Range | Listing::Unordered(_) => Vec::new(),
        }
    }

    /// Whether the range is unknown ("until empty" mode).
    pub fn until_empty(&self) -> bool {
        !matches!(self, Listing::Range)
    }

    /// The end of the listing this run found, to be recorded in the journal.
    pub fn found_end(&self) -> Option<u64> {
        match self {
            Listing::Range => None,
            Listing::InOrder(order) => order.found_end(),
            Listing::Unordered(unordered) => unordered.listing.first_empty(),
        }
    }

    /// The end of the listing, as far as it is known.
    pub fn end(&self) -> Option<u64> {
        match self {
            Listing::Range => None,
            Listing::InOrder(order) => order.end(),
            Listing::Unordered(unordered) => unordered.listing.first_empty(),
        }
    }

    /// The last page of the listing written, with its items' hash (in page order only).
    pub fn tail(&self) -> Option<(u64, u64)> {
        match self {
            Listing::InOrder(order) => order.tail(),
            Listing::Range | Listing::Unordered(_) => None,
        }
    }
}

/// "Until empty" with a shared frontier: pages come in any order and the ones before the end
/// may be another daemon's, so the end is the lowest empty page any daemon has seen so far; a
/// page past it is dropped if it arrives after the end is known. Two pages with the same items
/// (a site that repeats its last page for every number past it) end the listing after the
/// lower of them as soon as this daemon has seen both: each daemon writes at most two repeated
/// pages (the first it sees, and a lower one that comes after it and might have been the
/// last). Failed pages in a row (in the order they arrive) stop this daemon.
pub struct Unordered {
    /// The crawl's limits.
    pub limits: Limits,
    /// Failed pages in a row, in arrival order.
    pub failed_in_a_row: u32,
    /// The hashes of the items of the pages this daemon saw last, by page.
    pub recent: BTreeMap<u64, u64>,
    /// Shared with the feeder, the crawlers and, through Redis, the other daemons.
    pub listing: Arc<ListingEnd>,
    /// Pages dropped past the end are counted here.
    pub stats: Arc<Stats>,
}

impl Unordered {
    /// Pages whose hash `recent` keeps.
    const RECENT: usize = 256;

    /// A daemon's view of a shared listing.
    pub fn new(limits: Limits, listing: Arc<ListingEnd>, stats: Arc<Stats>) -> Unordered {
        Unordered {
            limits,
            failed_in_a_row: 0,
            recent: BTreeMap::new(),
            listing,
            stats,
        }
    }

    /// Takes one page; returns it if it is to be written or recorded.
    pub fn push(&mut self, message: Parsed) -> Option<Parsed> {
        let page = message.page();
        let url = message.url().unwrap_or("").to_string();
        let ends = match &message {
            Parsed::Page(items) if !items.items.is_empty() => self.repeat_end(page, &items.items),
            _ => ending(&message, None).map(|why| (page, why)),
        };
        if let Some((end, why)) = ends {
            if end == self.limits.first_page {
                self.listing.stop(first_page_reason(end, &url, why));
            } else if self.listing.first_empty().is_none_or(|known| end < known) {
                info!("the listing ends at page {end}, which {}", why.describe());
            }
            self.listing.observe_empty(end);
            if why == Why::Repeat && page >= end {
                self.stats.page_past_end();
                return None;
            }
        }
        // Pages fetched after a stop are still written: they are leased to this daemon.
        if self.listing.first_empty().is_some_and(|end| page > end) {
            self.stats.page_past_end();
            return None;
        }
        match &message {
            Parsed::Failed { .. } => {
                self.failed_in_a_row += 1;
                if self.failed_in_a_row >= self.limits.max_failed_in_a_row {
                    self.listing.stop(format!(
                        "{} pages in a row failed here (`site.max_failed_in_a_row` = {}): this \
                         daemon stops taking pages",
                        self.failed_in_a_row, self.limits.max_failed_in_a_row
                    ));
                }
            }
            _ => self.failed_in_a_row = 0,
        }
        Some(message)
    }

    /// If another page this daemon saw has the same items as `page`, the listing ends right
    /// after the lower of the two: every page after it repeats it.
    fn repeat_end(&mut self, page: u64, items: &[Item]) -> Option<(u64, Why)> {
        let hash = items_hash(items);
        let twin = self
            .recent
            .iter()
            .find(|&(&other, &h)| h == hash && other != page)
            .map(|(&other, _)| other);
        if self.recent.len() >= Self::RECENT {
            self.recent.pop_first();
        }
        self.recent.insert(page, hash);
        let twin = twin?;
        if twin > page + 1 {
            warn!(
                "page {twin} repeats page {page}, and was written before page {page} came: one \
                 page past the end of the listing is in this daemon's output"
            );
        }
        Some((twin.min(page) + 1, Why::Repeat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::PageItems;
    use crate::stats::fetch_latency_histogram;

    fn page(n: u64, items: usize) -> Parsed {
        Parsed::Page(PageItems {
            page: n,
            url: format!("http://x/?p={n}"),
            items: (0..items).map(|i| vec![Some(format!("{n}-{i}"))]).collect(),
        })
    }

    fn failed(n: u64) -> Parsed {
        Parsed::Failed {
            page: n,
            reason: "http status 500".into(),
        }
    }

    fn limits() -> Limits {
        Limits {
            first_page: 0,
            max_page: u64::MAX,
            max_failed_in_a_row: 3,
        }
    }

    struct Fixture {
        order: InOrder,
        listing: Arc<ListingEnd>,
        stats: Arc<Stats>,
        credits: crossbeam_channel::Receiver<()>,
    }

    fn fixture(limits: Limits, committed: &[u64], tail: Option<(u64, u64)>) -> Fixture {
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let (tx, credits) = crossbeam_channel::bounded(64);
        let order = InOrder::new(
            limits,
            committed.iter().copied().collect(),
            tail,
            None,
            tx,
            listing.clone(),
            stats.clone(),
        );
        Fixture {
            order,
            listing,
            stats,
            credits,
        }
    }

    fn pages(released: &[Parsed]) -> Vec<u64> {
        released.iter().map(Parsed::page).collect()
    }

    #[test]
    fn pages_are_released_in_order_and_stop_at_the_first_empty_one() {
        let mut f = fixture(limits(), &[], None);
        assert!(f.order.push(page(2, 3)).is_empty());
        assert!(f.order.push(page(4, 0)).is_empty());
        assert!(f.order.push(page(5, 3)).is_empty(), "past an empty page");
        assert_eq!(pages(&f.order.push(page(0, 3))), [0]);
        assert_eq!(pages(&f.order.push(page(1, 3))), [1, 2]);
        assert!(f.order.push(page(6, 3)).is_empty());
        assert_eq!(pages(&f.order.push(page(3, 3))), [3]);
        assert_eq!(f.order.found_end(), Some(4));
        assert_eq!(f.listing.first_empty(), Some(4));
        assert!(f.order.finish().is_empty());
        assert_eq!(f.credits.len(), 5, "one credit per page released");
        let s = f.stats.snapshot();
        assert_eq!((s.past_end, s.not_crawled), (2, 0));
    }

    #[test]
    fn a_page_that_repeats_the_one_before_ends_the_listing() {
        let mut f = fixture(limits(), &[], None);
        let same = |n| {
            Parsed::Page(PageItems {
                page: n,
                url: String::new(),
                items: vec![vec![Some("a".into())], vec![None]],
            })
        };
        assert_eq!(pages(&f.order.push(page(0, 2))), [0]);
        assert_eq!(pages(&f.order.push(same(1))), [1]);
        assert!(f.order.push(same(2)).is_empty());
        assert_eq!(f.order.found_end(), Some(2));

        // After a resume, the journal's tail stands for the last committed page.
        let tail = Some((1, items_hash(&[vec![Some("a".into())], vec![None]])));
        let mut f = fixture(limits(), &[0, 1], tail);
        assert!(f.order.push(same(2)).is_empty());
        assert_eq!(f.order.found_end(), Some(2));
        // A tail of another page says nothing about the next one.
        let mut f = fixture(limits(), &[0, 1, 2], tail);
        assert_eq!(pages(&f.order.push(same(3))), [3]);
    }

    #[test]
    fn failed_pages_are_gaps_until_too_many_in_a_row_stop_the_crawl() {
        let mut f = fixture(limits(), &[], None);
        assert_eq!(pages(&f.order.push(failed(0))), [0]);
        assert_eq!(pages(&f.order.push(page(1, 1))), [1]);
        for n in 2..4 {
            assert_eq!(pages(&f.order.push(failed(n))), [n]);
        }
        assert!(f.order.push(page(5, 1)).is_empty());
        assert_eq!(pages(&f.order.push(failed(4))), [4], "the third in a row");
        assert!(f.listing.is_stopped());
        assert!(
            f.listing
                .stop_reason()
                .unwrap()
                .contains("max_failed_in_a_row")
        );
        assert_eq!(f.order.found_end(), None);
        assert_eq!(f.stats.snapshot().not_crawled, 1, "page 5 was held");
    }

    #[test]
    fn a_first_page_past_the_end_stops_with_a_reason() {
        let mut f = fixture(limits(), &[], None);
        let gone = Parsed::Gone {
            page: 0,
            url: "http://x/?p=0".into(),
            status: 404,
        };
        assert!(f.order.push(gone).is_empty());
        let reason = f.listing.stop_reason().unwrap();
        assert!(reason.contains("`site.first_page` = 0"), "{reason}");
        assert!(reason.contains("http://x/?p=0"), "{reason}");
        assert_eq!(f.order.found_end(), None, "no end is recorded");
    }

    #[test]
    fn committed_pages_are_passed_over_and_max_pages_stops() {
        let limits = Limits {
            max_page: 4,
            ..limits()
        };
        let mut f = fixture(limits, &[1, 3], None);
        assert!(f.order.push(page(2, 1)).is_empty());
        assert_eq!(pages(&f.order.push(page(0, 1))), [0, 2]);
        assert_eq!(pages(&f.order.push(page(4, 1))), [4]);
        assert!(
            f.listing
                .stop_reason()
                .unwrap()
                .contains("`site.max_pages` (5 pages")
        );
    }

    #[test]
    fn finishing_releases_what_is_held_across_gaps() {
        let mut f = fixture(limits(), &[], None);
        assert_eq!(pages(&f.order.push(page(0, 1))), [0]);
        assert!(f.order.push(page(2, 1)).is_empty());
        assert!(f.order.push(page(3, 0)).is_empty());
        assert!(f.order.push(page(4, 1)).is_empty());
        // Page 1 never comes (the crawl was interrupted): 2 is written, 3 ends the listing.
        assert_eq!(pages(&f.order.finish()), [2]);
        assert_eq!(f.order.found_end(), Some(3));
        assert_eq!(f.stats.snapshot().past_end, 1);
    }

    #[test]
    fn unordered_sees_a_repeated_page_among_the_pages_it_has() {
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let mut u = Unordered::new(limits(), listing.clone(), stats);
        let same = |n| {
            Parsed::Page(PageItems {
                page: n,
                url: String::new(),
                items: vec![vec![Some("last".into())]],
            })
        };
        assert!(u.push(same(8)).is_some());
        assert!(u.push(same(9)).is_none(), "9 repeats 8");
        assert_eq!(listing.first_empty(), Some(9));
        // The later pages first: the first is written, the second ends the listing after it.
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let mut u = Unordered::new(limits(), listing.clone(), stats);
        assert!(u.push(same(5)).is_some());
        assert!(u.push(same(7)).is_none());
        assert_eq!(listing.first_empty(), Some(6));
        assert!(u.push(same(4)).is_some(), "the real last page");
        assert_eq!(listing.first_empty(), Some(5));
    }

    #[test]
    fn unordered_ends_at_the_lowest_empty_page_seen() {
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let mut u = Unordered::new(limits(), listing.clone(), stats.clone());
        assert!(u.push(page(3, 1)).is_some());
        assert!(u.push(page(5, 0)).is_some(), "the empty page is committed");
        assert!(u.push(page(6, 1)).is_none());
        assert_eq!(listing.first_empty(), Some(5));
        for n in 7..10 {
            u.push(failed(n));
        }
        assert!(!listing.is_stopped(), "pages past the end do not count");
        for n in 0..3 {
            assert!(u.push(failed(n)).is_some());
        }
        assert!(listing.is_stopped());
    }
}
