//! The feed stage of a local crawl: this process's page range into the bounded `pages` channel,
//! each page with its URL from `site.url`. (A shared crawl's feeder takes its pages from Redis
//! instead: the frontier's `RedisFeeder`; a listing paged by next links has `chain.rs`'s.)
//!
//! The feeder is the only sender of `pages`. It ends (and so disconnects the channel) when the
//! range is done, when "until empty" mode has seen the end of the listing (or stopped before
//! it), or on shutdown — and only then do crawlers see the channel end. In "until empty" mode it
//! takes a credit from the writer before each page, so that it stays a bounded window ahead of
//! the lowest page not yet written (see [`crate::pipeline::listing`]). It never fetches or counts fetched
//! pages.

use std::collections::BTreeSet;

use crossbeam_channel::{Receiver, Sender, select};
use log::info;

use super::listing::Resumed;
use super::message::ToFetch;
use super::stage::{Context, Source, Stage};
use crate::config::{Config, SiteConfig};
use crate::stats::Queue;

/// The feeder's settings and shared state.
pub(crate) struct Feeder {
    /// Pages committed by an earlier run: not sent again.
    pub skip: BTreeSet<u64>,
    /// The site, for each page's URL.
    pub site: SiteConfig,
    /// First page to send.
    pub first_page: u64,
    /// Last page to send, inclusive; `None` means until the end of the listing.
    pub last_page: Option<u64>,
    /// In "until empty" mode, the last page `site.max_pages` allows.
    pub max_page: u64,
    /// In "until empty" mode, one credit per page to send, given back by the writer as it
    /// writes pages in order; disconnected once no more pages are needed.
    pub credits: Option<Receiver<()>>,
    /// The shutdown flag (stops feeding), the counters (pages never sent count as not
    /// crawled) and the end of the listing.
    pub stage: Stage,
}

impl Feeder {
    /// The feeder of a round of `config` on this process's own range, which passes over what
    /// earlier runs committed (and the page that ended the listing); `credits` when the writer
    /// paces it.
    pub fn new(
        config: &Config,
        resumed: &Resumed,
        credits: Option<Receiver<()>>,
        context: &Context,
    ) -> Feeder {
        let site = &config.site;
        let mut skip = resumed.committed.clone();
        // The page that ended the listing is not committed; it is not fetched again either.
        skip.extend(resumed.end);
        Feeder {
            skip,
            site: site.clone(),
            first_page: site.first_page,
            last_page: site.last_page,
            max_page: site.max_page(),
            credits,
            stage: context.stage("feeder"),
        }
    }
}

impl Source for Feeder {
    /// Sends page numbers until the range ends, the listing ends, shutdown, or no crawler is left.
    fn run(self: Box<Self>, pages: Sender<ToFetch>) {
        let Stage {
            shutdown,
            stats,
            end,
            ..
        } = &self.stage;
        let last = self.last_page.unwrap_or(self.max_page);
        let mut page = self.first_page;
        let mut sent_all = false;
        loop {
            if shutdown.is_requested() {
                if end.is_beyond_end(page) {
                    info!("shutdown: no new pages are taken");
                } else {
                    info!("shutdown: no new pages are taken (next would have been page {page})");
                }
                break;
            }
            if end.is_past(page) {
                break;
            }
            if self.skip.contains(&page) {
                if page == last {
                    sent_all = true;
                    break;
                }
                page += 1;
                continue;
            }
            if let Some(credits) = &self.credits {
                select! {
                    // Disconnected: the writer needs no more pages.
                    recv(credits) -> credit => if credit.is_err() { break },
                    recv(shutdown.waker()) -> _ => continue,
                }
            }
            // Wait for room in the channel, or for shutdown, whichever comes first.
            select! {
                send(pages, ToFetch { number: page, url: self.site.url_of(page) }) -> sent => if sent.is_err() {
                    // Every crawler is gone; the pipeline reports why.
                    break;
                } else {
                    stats.queue_depth(Queue::Pages, pages.len());
                },
                recv(shutdown.waker()) -> _ => continue,
            }
            if page == last {
                sent_all = true;
                break;
            }
            page += 1;
        }
        if !sent_all && let Some(last) = self.last_page {
            // Pages of a known range that were never queued (committed ones do not count).
            let unsent = last.saturating_sub(page) + 1;
            let committed = self.skip.range(page..=last).count() as u64;
            stats.pages_not_crawled(unsent - committed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pipeline::listing::ListingEnd;
    use crate::shutdown::Shutdown;
    use crate::stats::{Stats, fetch_latency_histogram};

    fn feeder(first: u64, last: Option<u64>, shutdown: &Shutdown) -> (Feeder, Arc<ListingEnd>) {
        let end = Arc::new(ListingEnd::default());
        let feeder = Feeder {
            skip: BTreeSet::new(),
            site: toml::from_str("url = \"http://x.example/?p={page}\"").unwrap(),
            first_page: first,
            last_page: last,
            max_page: u64::MAX,
            credits: None,
            stage: Stage::new(
                shutdown,
                &Stats::new(last.map(|l| l - first + 1), fetch_latency_histogram()),
                &end,
                "feeder",
            ),
        };
        (feeder, end)
    }

    #[test]
    fn sends_the_whole_range_then_disconnects() {
        let shutdown = Shutdown::new();
        let (feeder, _) = feeder(3, Some(7), &shutdown);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let handle = std::thread::spawn(move || Box::new(feeder).run(tx));
        let pages: Vec<ToFetch> = rx.iter().collect();
        handle.join().unwrap();
        let numbers: Vec<u64> = pages.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [3, 4, 5, 6, 7]);
        assert_eq!(pages[1].url, "http://x.example/?p=4");
    }

    #[test]
    fn stops_at_the_end_of_the_listing() {
        let shutdown = Shutdown::new();
        let (feeder, end) = feeder(0, None, &shutdown);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let handle = std::thread::spawn(move || Box::new(feeder).run(tx));
        let mut got = Vec::new();
        for page in rx.iter().map(|p| p.number) {
            got.push(page);
            if page == 4 {
                end.observe_empty(4);
            }
            assert!(page < 10, "fed far past the end: {page}");
        }
        handle.join().unwrap();
        assert_eq!(got[..5], [0, 1, 2, 3, 4]);
    }

    #[test]
    fn until_empty_stays_a_window_ahead_and_stops_when_credits_end() {
        let shutdown = Shutdown::new();
        let (mut feeder, _) = feeder(0, None, &shutdown);
        let (credit_tx, credits) = crossbeam_channel::bounded(3);
        for _ in 0..3 {
            credit_tx.send(()).unwrap();
        }
        feeder.credits = Some(credits);
        let (tx, rx) = crossbeam_channel::bounded(100);
        let handle = std::thread::spawn(move || Box::new(feeder).run(tx));
        let first: Vec<u64> = (0..3).map(|_| rx.recv().unwrap().number).collect();
        assert_eq!(first, [0, 1, 2]);
        // No fourth page until a credit comes back.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(50))
                .is_err()
        );
        credit_tx.send(()).unwrap();
        assert_eq!(rx.recv().unwrap().number, 3);
        drop(credit_tx);
        handle.join().unwrap();
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn shutdown_unblocks_a_full_channel_and_counts_unsent_pages() {
        let shutdown = Shutdown::new();
        let (feeder, _) = feeder(0, Some(99), &shutdown);
        let stats = feeder.stage.stats.clone();
        let (tx, rx) = crossbeam_channel::bounded(2);
        let handle = std::thread::spawn(move || Box::new(feeder).run(tx));
        assert_eq!(rx.recv().unwrap().number, 0);
        shutdown.request();
        handle.join().unwrap();
        let queued: Vec<ToFetch> = rx.iter().collect();
        assert!(queued.len() <= 3, "{queued:?}");
        let sent = 1 + queued.len() as u64;
        assert_eq!(stats.snapshot().not_crawled, 100 - sent);
    }
}
