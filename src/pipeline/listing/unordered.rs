//! "Until empty" with a shared frontier: pages in any order, some of them other daemons'.

use std::collections::BTreeMap;
use std::sync::Arc;

use log::{info, warn};

use super::{
    ListingEnd, ListingLimits, Why, disallowed_reason, ending, first_page_reason, items_hash,
};
use crate::pipeline::message::{Item, NoContent, Parsed};
use crate::stats::Stats;

/// "Until empty" with a shared frontier: pages come in any order and the ones before the end
/// may be another daemon's, so the end is the lowest empty page any daemon has seen so far; a
/// page past it is dropped if it arrives after the end is known. Two pages with the same items
/// (a site that repeats its last page for every number past it) end the listing after the
/// lower of them as soon as this daemon has seen both. A repeated page that arrives after a
/// higher one is still written, since it might be the listing's real last page; pages are
/// taken in ascending order and queues keep their order, so only pages fetched or parsed at
/// the same time arrive out of order, and each daemon writes at most one repeated page per
/// crawler and parser thread. Failed pages in a row (in the order they arrive) stop this
/// daemon.
pub(crate) struct Unordered {
    /// The crawl's limits.
    pub limits: ListingLimits,
    /// Failed pages in a row, in arrival order.
    pub failed_in_a_row: u32,
    /// Pages robots.txt disallowed in a row.
    pub disallowed_in_a_row: u32,
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
    pub fn new(limits: ListingLimits, listing: Arc<ListingEnd>, stats: Arc<Stats>) -> Unordered {
        Unordered {
            limits,
            failed_in_a_row: 0,
            disallowed_in_a_row: 0,
            recent: BTreeMap::new(),
            listing,
            stats,
        }
    }

    /// Takes one page; returns it if it is to be written or recorded.
    pub fn push(&mut self, message: Parsed) -> Option<Parsed> {
        let page = message.number;
        let ends = match &message.content {
            Ok(items) if !items.is_empty() => self.repeat_end(page, items),
            _ => ending(&message, None).map(|why| (page, why)),
        };
        if let Some((end, why)) = ends {
            if end == self.limits.first_page {
                self.listing.stop(first_page_reason(end, &message.url, why));
            } else if self.listing.first_empty().is_none_or(|known| end < known) {
                info!("the listing ends at page {end}, which {}", why.describe());
            }
            self.listing.observe_empty(end);
            if why == Why::Repeat && page >= end {
                self.stats.page_past_end();
                return None;
            }
        }
        if message.learned.has_next == Some(false) {
            if self
                .listing
                .first_empty()
                .is_none_or(|known| page + 1 < known)
            {
                info!("the listing ends after page {page}, whose `site.has_next` is false");
            }
            // No page after it is needed.
            self.listing.observe_empty(page);
        }
        // Pages fetched after a stop are still written: they are leased to this daemon.
        if self.listing.first_empty().is_some_and(|end| page > end) {
            self.stats.page_past_end();
            return None;
        }
        match &message.content {
            Err(NoContent::Failed(_)) => {
                self.failed_in_a_row += 1;
                if self.failed_in_a_row >= self.limits.max_failed_in_a_row {
                    self.listing.stop(format!(
                        "{} pages in a row failed here (`site.max_failed_in_a_row` = {}): this \
                         daemon stops taking pages",
                        self.failed_in_a_row, self.limits.max_failed_in_a_row
                    ));
                }
            }
            Err(NoContent::Disallowed) => {
                self.disallowed_in_a_row += 1;
                if self.disallowed_in_a_row >= self.limits.max_failed_in_a_row {
                    self.listing.stop(disallowed_reason(
                        self.disallowed_in_a_row,
                        &self.limits,
                        page,
                    ));
                }
            }
            _ => {
                self.failed_in_a_row = 0;
                self.disallowed_in_a_row = 0;
            }
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
    use crate::pipeline::listing::tests::{failed, limits, page, with_items};
    use crate::stats::fetch_latency_histogram;

    #[test]
    fn unordered_sees_a_repeated_page_among_the_pages_it_has() {
        let listing = Arc::new(ListingEnd::default());
        let stats = Stats::new(None, fetch_latency_histogram());
        let mut u = Unordered::new(limits(), listing.clone(), stats);
        let same = |n| with_items(n, vec![vec![crate::extract::Value::String("last".into())]]);
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
