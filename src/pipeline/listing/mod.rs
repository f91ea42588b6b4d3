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
//!
//! Here: what every stage shares ([`ListingEnd`]), the limits, what ends a listing, and what the
//! writer does with each page ([`Listing`]); `in_order.rs` and `unordered.rs` are the two
//! sequencers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use log::warn;

use crossbeam_channel::{Receiver, Sender};

use crate::config::Config;
use crate::pipeline::message::{Item, NoContent, Parsed, ToFetch};
use crate::shutdown::{Never, Shutdown};
use crate::stats::Stats;

mod in_order;
mod unordered;

pub(crate) use in_order::InOrder;
pub(crate) use unordered::Unordered;

/// What the crawl knows about the end of the listing, shared by the feeder, the crawlers and the
/// writer: no page past it is fetched.
#[derive(Debug)]
pub(crate) struct ListingEnd {
    /// The lowest page known to end the listing (empty, gone), or `u64::MAX` while unknown.
    first_empty: AtomicU64,
    /// Raised when the crawl stops before the end of the listing: no page is needed any more.
    stopped: AtomicBool,
    /// Why it stopped; the first reason wins.
    reason: Mutex<Option<String>>,
    /// Raised the first time the end becomes known or the crawl stops: wakes the crawlers
    /// waiting for a host's turn, so that a page no longer wanted is not waited for.
    news: Shutdown,
}

impl Default for ListingEnd {
    fn default() -> Self {
        ListingEnd {
            first_empty: AtomicU64::new(u64::MAX),
            stopped: AtomicBool::new(false),
            reason: Mutex::new(None),
            news: Shutdown::new(),
        }
    }
}

impl ListingEnd {
    /// What a round knows of the end when it starts: where an earlier run found it, if one did.
    pub fn new(recorded: Option<u64>) -> ListingEnd {
        let end = ListingEnd::default();
        if let Some(page) = recorded {
            end.observe_empty(page);
        }
        end
    }

    /// Records that no page after `page` is part of the listing (`page` is an empty page that
    /// ends it, or the last page, whose `site.has_next` is false); the lowest such page wins.
    pub fn observe_empty(&self, page: u64) {
        self.first_empty.fetch_min(page, Ordering::SeqCst);
        self.news.request();
    }

    /// Fires (is disconnected) the first time the end becomes known or the crawl stops. It
    /// fires once: a later, lower end is seen by asking [`ListingEnd::is_past`] again.
    pub fn news(&self) -> &Receiver<Never> {
        self.news.waker()
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
        self.is_beyond_end(page) || self.is_stopped()
    }

    /// Whether `page` is beyond the known end of the listing: a page that does not exist.
    pub fn is_beyond_end(&self, page: u64) -> bool {
        page > self.first_empty.load(Ordering::SeqCst)
    }

    /// Counts `page`, left undone: past the end if it is beyond the known end (it does not
    /// exist, so it is no page "not crawled"), else not crawled (a stop came first).
    pub fn count_unneeded(&self, page: u64, stats: &Stats) {
        if self.is_beyond_end(page) {
            stats.page_past_end();
        } else {
            stats.pages_not_crawled(1);
        }
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
        self.news.request();
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

/// What earlier runs of a round committed, as the feeder and the writer need it.
#[derive(Debug, Default)]
pub(crate) struct Resumed {
    /// Pages of the range committed before: not fetched again.
    pub committed: BTreeSet<u64>,
    /// The last page of the listing committed, with its items' hash ("until empty").
    pub tail: Option<(u64, u64)>,
    /// Where an earlier run found the listing's end ("until empty").
    pub end: Option<u64>,
    /// On a listing paged by next links (`site.next`): where this run starts.
    pub chain: Option<ChainStart>,
}

/// Where a round of a next-link listing starts: from `site.url`, or where an earlier run of the
/// round stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChainStart {
    /// The first page to fetch and its URL; `None` when the listing was crawled to its end
    /// already.
    pub next: Option<ToFetch>,
    /// The URL of every page committed before, in page order.
    pub visited: Vec<String>,
}

impl ChainStart {
    /// The start of a round that has committed nothing: `site.url`, numbered
    /// `site.first_page`.
    pub fn fresh(config: &Config) -> ChainStart {
        ChainStart {
            next: Some(ToFetch {
                number: config.site.first_page,
                url: config.site.url.as_str().to_string(),
            }),
            visited: Vec::new(),
        }
    }
}

/// The limits of an "until empty" crawl, from `[site]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListingLimits {
    /// `site.first_page`: a listing that ends there is an error, not an empty success.
    pub first_page: u64,
    /// The last page `site.max_pages` lets the crawl fetch.
    pub max_page: u64,
    /// `site.max_failed_in_a_row`: this many failed pages in a row stop the crawl.
    pub max_failed_in_a_row: u32,
}

/// A hash of a page's items, to tell a page that repeats the one before it.
pub(crate) fn items_hash(items: &[Item]) -> u64 {
    // Every item has one value per field, so the item boundaries need no marker.
    crate::store::seen::key_of(items.iter().flatten().map(crate::extract::Value::key_text)) as u64
}

/// Why a listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The page has no items.
    Empty,
    /// The page answered 404 or 410.
    Gone(u16),
    /// The page lists the same items as the page before it.
    Repeat,
}

impl Why {
    pub(super) fn describe(self) -> String {
        match self {
            Why::Empty => "has no items".to_string(),
            Why::Gone(status) => format!("answered {status}"),
            Why::Repeat => "lists the same items as the page before it".to_string(),
        }
    }
}

/// The page and the reason a listing ends there, for a message naming it.
pub(super) fn ending(message: &Parsed, previous: Option<(u64, u64)>) -> Option<Why> {
    let repeats = |hash: u64| previous.is_some_and(|(p, h)| p + 1 == message.number && h == hash);
    match &message.content {
        Err(NoContent::Gone(status)) => Some(Why::Gone(*status)),
        Ok(items) if items.is_empty() => Some(Why::Empty),
        Ok(items) if repeats(items_hash(items)) => Some(Why::Repeat),
        // Unchanged since the last round: it lists what the store knows of it.
        Err(NoContent::NotModified {
            listed: Some((0, _)),
        }) => Some(Why::Empty),
        Err(NoContent::NotModified {
            listed: Some((_, hash)),
        }) if repeats(*hash) => Some(Why::Repeat),
        _ => None,
    }
}

/// The hash of what page `message` lists, to compare the page after it with: its items', or
/// the store's for a page unchanged since the last round.
pub(super) fn listed_hash(message: &Parsed) -> Option<u64> {
    match &message.content {
        Ok(items) => Some(items_hash(items)),
        Err(NoContent::NotModified { listed }) => listed.map(|(_, hash)| hash),
        Err(_) => None,
    }
}

/// The warning for a listing that ends at its first page.
pub(super) fn first_page_reason(page: u64, url: &str, why: Why) -> String {
    format!(
        "page {page} ({url}), the first page of the listing (`site.first_page` = {page}), {}: \
         nothing was crawled. Check `site.first_page` (a listing numbered from 1 needs \
         `first_page = 1`) and `site.url`",
        why.describe()
    )
}

/// Why a listing stops when `count` pages in a row, the last one `page`, are disallowed by
/// robots.txt: past `site.max_failed_in_a_row` of them, the listing's end cannot be found.
pub(super) fn disallowed_reason(count: u32, limits: &ListingLimits, page: u64) -> String {
    format!(
        "{count} pages in a row are disallowed by robots.txt (`site.max_failed_in_a_row` = {}), \
         the last one page {page}: stopping, since the end of the listing cannot be found \
         without them. They are not recorded; the next run asks robots.txt again (or set \
         `http.robots = false` where the site's owner agrees)",
        limits.max_failed_in_a_row
    )
}

/// What the writer does with each page, by the kind of crawl.
pub(crate) enum Listing {
    /// A known range (`site.last_page`): every page is written as it comes, an empty one too.
    Range,
    /// "Until empty", one daemon: pages in page order, see [`InOrder`].
    InOrder(Box<InOrder>),
    /// "Until empty" with a shared frontier, see [`Unordered`].
    Unordered(Unordered),
}

impl Listing {
    /// What the writer of a round of `config` does with each page: in page order on one
    /// daemon, as they come with a `shared` frontier, without a listing at all with a known
    /// range. `credits` go back to the feeder as pages are released in order.
    pub fn new(
        config: &Config,
        resumed: &Resumed,
        shared: bool,
        credits: Option<Sender<()>>,
        (end, stats): (&Arc<ListingEnd>, &Arc<Stats>),
    ) -> Listing {
        let site = &config.site;
        if site.last_page.is_some() {
            return Listing::Range;
        }
        let limits = ListingLimits {
            first_page: site.first_page,
            max_page: site.max_page(),
            max_failed_in_a_row: site.max_failed_in_a_row,
        };
        let (end, stats) = (end.clone(), stats.clone());
        if shared {
            return Listing::Unordered(Unordered::new(limits, end, stats));
        }
        Listing::InOrder(Box::new(InOrder::new(
            limits,
            resumed.committed.clone(),
            resumed.tail,
            resumed.end,
            credits,
            end,
            stats,
        )))
    }

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

    /// Whether the listing was seen to its end: a known range always is, once every page is
    /// in; "until empty" once the end is found and nothing stopped the crawl before it. A
    /// shared crawl's daemon never knows it has seen the whole listing.
    pub fn is_complete(&self) -> bool {
        match self {
            Listing::Range => true,
            Listing::InOrder(order) => order.is_complete(),
            Listing::Unordered(_) => false,
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::pipeline::message::{Page, PageError};

    /// Page `n` with `items` items.
    pub(in crate::pipeline::listing) fn page(n: u64, items: usize) -> Parsed {
        Page {
            number: n,
            url: format!("http://x/?p={n}"),
            content: Ok((0..items)
                .map(|i| vec![crate::extract::Value::String(format!("{n}-{i}"))])
                .collect()),
            learned: Default::default(),
        }
    }

    /// Page `n`, holding `items`.
    pub(in crate::pipeline::listing) fn with_items(n: u64, items: Vec<Item>) -> Parsed {
        Page {
            number: n,
            url: String::new(),
            content: Ok(items),
            learned: Default::default(),
        }
    }

    /// Page `n`, failed.
    pub(in crate::pipeline::listing) fn failed(n: u64) -> Parsed {
        Page {
            number: n,
            url: format!("http://x/?p={n}"),
            content: Err(NoContent::Failed(PageError::fetch(
                crate::http::FetchError::Status {
                    code: 500,
                    retry_after: None,
                },
            ))),
            learned: Default::default(),
        }
    }

    pub(in crate::pipeline::listing) fn limits() -> ListingLimits {
        ListingLimits {
            first_page: 0,
            max_page: u64::MAX,
            max_failed_in_a_row: 3,
        }
    }
}
