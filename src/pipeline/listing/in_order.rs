//! The pages of an "until empty" crawl on one daemon, put in page order before they are written:
//! the output is exactly the pages before the end of the listing, whatever the thread counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crossbeam_channel::Sender;
use log::{info, warn};

use super::{
    ListingEnd, ListingLimits, Why, disallowed_reason, ending, first_page_reason, listed_hash,
};
use crate::pipeline::message::{NoContent, Parsed};
use crate::stats::Stats;

/// The pages of an "until empty" crawl, put in page order before they are written.
pub(crate) struct InOrder {
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
    /// Pages robots.txt disallowed, released in a row.
    disallowed_in_a_row: u32,
    /// The end recorded by an earlier run, or found by this one.
    end: Option<u64>,
    /// Whether this run found `end` (and must record it).
    found_end: bool,
    /// Whether the crawl stopped before the end (recorded in `listing`).
    stopped: bool,
    /// The crawl's limits.
    limits: ListingLimits,
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
        limits: ListingLimits,
        committed: BTreeSet<u64>,
        tail: Option<(u64, u64)>,
        end: Option<u64>,
        credits: Option<Sender<()>>,
        listing: Arc<ListingEnd>,
        stats: Arc<Stats>,
    ) -> InOrder {
        InOrder {
            next: limits.first_page,
            committed,
            held: BTreeMap::new(),
            previous: tail,
            failed_in_a_row: 0,
            disallowed_in_a_row: 0,
            end,
            found_end: false,
            stopped: false,
            limits,
            credits,
            listing,
            stats,
        }
    }

    /// Takes one page from the parsers; returns the pages that can now be written (or recorded
    /// as failed), in page order.
    pub fn push(&mut self, message: Parsed) -> Vec<Parsed> {
        let page = message.number;
        if self.is_done() || page < self.next {
            // Past the end or the stop: only pages below it are written.
            self.drop_page(page);
            return Vec::new();
        }
        self.held.insert(page, message);
        self.release(false)
    }

    /// Called once every page has arrived (or the crawl was interrupted): releases what is held
    /// below the end, passing over pages that never came (not crawled because of a stop).
    pub fn finish(&mut self) -> Vec<Parsed> {
        let out = self.release(true);
        for page in std::mem::take(&mut self.held).into_keys() {
            self.drop_page(page);
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

    /// Whether the listing's end is known and nothing stopped the crawl before it.
    pub fn is_complete(&self) -> bool {
        self.end.is_some() && !self.stopped
    }

    /// The last page released with items and its items' hash, for the journal's commit record.
    pub fn tail(&self) -> Option<(u64, u64)> {
        self.previous
    }

    fn is_done(&self) -> bool {
        self.stopped || self.end.is_some_and(|end| self.next >= end)
    }

    /// Counts `page`, which is not written: past the end if it is beyond the end of the
    /// listing, else not crawled (a stop, or Ctrl-C before a page below it came).
    fn drop_page(&self, page: u64) {
        // The end itself is past it too: the empty page that ended the listing is never
        // dropped here, and the page after one whose `has_next` is false does not exist.
        if self.end.is_some_and(|end| page >= end) {
            self.stats.page_past_end();
        } else {
            self.stats.pages_not_crawled(1);
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
            match &message.content {
                Err(NoContent::Disallowed) => {
                    // Not fetched, like a gap: it says nothing about the end of the listing,
                    // and the page after it is not compared with the one before.
                    self.disallowed_in_a_row += 1;
                    self.previous = None;
                    out.push(message);
                    if self.disallowed_in_a_row >= self.limits.max_failed_in_a_row {
                        self.stop(disallowed_reason(
                            self.disallowed_in_a_row,
                            &self.limits,
                            page,
                        ));
                    }
                }
                Err(NoContent::Failed(_)) => {
                    self.disallowed_in_a_row = 0;
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
                Ok(_) | Err(NoContent::NotModified { .. }) => {
                    self.failed_in_a_row = 0;
                    self.disallowed_in_a_row = 0;
                    self.previous = listed_hash(&message).map(|hash| (page, hash));
                    let last = message.learned.last_because();
                    let url = message.url.clone();
                    out.push(message);
                    if let Some(because) = last {
                        self.end_after(page, &url, &because);
                        break;
                    }
                }
                Err(NoContent::Gone(_)) => unreachable!("a gone page always ends the listing"),
            }
        }
        out
    }

    /// The listing ends at `page` (or, at the first page, the crawl stops with a warning).
    fn end_at(&mut self, page: u64, message: &Parsed, why: Why) {
        let url = message.url.as_str();
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

    /// The listing ends after `page` (at `url`), which says no page follows it (`because`:
    /// `site.has_next` is false, it has no next link): the page after it is the end, as an
    /// empty page would be.
    fn end_after(&mut self, page: u64, url: &str, because: &str) {
        info!("the listing ends after page {page} ({url}), {because}");
        self.end = Some(page + 1);
        self.found_end = true;
        // No page after `page` is needed: the crawlers skip them.
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
        for page in std::mem::take(&mut self.held).into_keys() {
            self.drop_page(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Value;
    use crate::pipeline::listing::items_hash;
    use crate::pipeline::listing::tests::{failed, limits, page, with_items};
    use crate::pipeline::message::Page;
    use crate::stats::fetch_latency_histogram;

    struct Fixture {
        order: InOrder,
        listing: Arc<ListingEnd>,
        stats: Arc<Stats>,
        credits: crossbeam_channel::Receiver<()>,
    }

    fn fixture(limits: ListingLimits, committed: &[u64], tail: Option<(u64, u64)>) -> Fixture {
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let (tx, credits) = crossbeam_channel::bounded(64);
        let order = InOrder::new(
            limits,
            committed.iter().copied().collect(),
            tail,
            None,
            Some(tx),
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
        released.iter().map(|page| page.number).collect()
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
    fn pages_that_come_after_the_end_count_as_past_it_not_as_undone() {
        // Once page 2 ends the listing, pages that come after it do not exist.
        let mut f = fixture(limits(), &[], None);
        assert_eq!(pages(&f.order.push(page(0, 3))), [0]);
        assert_eq!(pages(&f.order.push(page(1, 3))), [1]);
        assert!(f.order.push(page(2, 0)).is_empty());
        assert!(f.order.push(page(5, 3)).is_empty());
        assert!(f.order.finish().is_empty());
        let s = f.stats.snapshot();
        assert_eq!((s.past_end, s.not_crawled), (1, 0));
    }

    #[test]
    fn a_page_that_repeats_the_one_before_ends_the_listing() {
        let mut f = fixture(limits(), &[], None);
        let same = |n| {
            with_items(
                n,
                vec![
                    vec![crate::extract::Value::String("a".into())],
                    vec![crate::extract::Value::Null],
                ],
            )
        };
        assert_eq!(pages(&f.order.push(page(0, 2))), [0]);
        assert_eq!(pages(&f.order.push(same(1))), [1]);
        assert!(f.order.push(same(2)).is_empty());
        assert_eq!(f.order.found_end(), Some(2));

        // After a resume, the journal's tail stands for the last committed page.
        let tail = Some((
            1,
            items_hash(&[
                vec![crate::extract::Value::String("a".into())],
                vec![crate::extract::Value::Null],
            ]),
        ));
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
    fn disallowed_pages_neither_end_the_listing_nor_count_as_failed() {
        let disallowed = |n| Page {
            number: n,
            url: format!("http://x/?p={n}"),
            content: Err(NoContent::Disallowed),
            learned: Default::default(),
        };
        let same = |n| with_items(n, vec![vec![Value::String("same".into())]]);
        let mut f = fixture(limits(), &[], None);
        assert_eq!(pages(&f.order.push(same(0))), [0]);
        assert_eq!(pages(&f.order.push(disallowed(1))), [1]);
        // Page 2 repeats page 0, but page 1 between them was not seen: no end.
        assert_eq!(pages(&f.order.push(same(2))), [2]);
        assert_eq!(pages(&f.order.push(failed(3))), [3]);
        assert_eq!(pages(&f.order.push(disallowed(4))), [4]);
        assert_eq!(
            pages(&f.order.push(failed(5))),
            [5],
            "not three failed in a row"
        );
        assert!(!f.listing.is_stopped());
        assert_eq!(f.order.found_end(), None);
        // Three disallowed in a row: the end cannot be found without them.
        for n in 6..8 {
            assert_eq!(pages(&f.order.push(disallowed(n))), [n]);
        }
        assert!(!f.listing.is_stopped());
        assert_eq!(pages(&f.order.push(disallowed(8))), [8]);
        let reason = f.listing.stop_reason().unwrap();
        assert!(
            reason.contains("3 pages in a row are disallowed by robots.txt"),
            "{reason}"
        );
        assert!(reason.contains("the last one page 8"), "{reason}");
    }

    #[test]
    fn a_first_page_past_the_end_stops_with_a_reason() {
        let mut f = fixture(limits(), &[], None);
        let gone = Page {
            number: 0,
            url: "http://x/?p=0".into(),
            content: Err(NoContent::Gone(404)),
            learned: Default::default(),
        };
        assert!(f.order.push(gone).is_empty());
        let reason = f.listing.stop_reason().unwrap();
        assert!(reason.contains("`site.first_page` = 0"), "{reason}");
        assert!(reason.contains("http://x/?p=0"), "{reason}");
        assert_eq!(f.order.found_end(), None, "no end is recorded");
    }

    #[test]
    fn committed_pages_are_passed_over_and_max_pages_stops() {
        let limits = ListingLimits {
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
}
