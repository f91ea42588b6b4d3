//! A listing paged by next links (`site.next`): its pages come one at a time, each from the
//! link the page before it names.
//!
//! ```text
//! ChainFeeder ─ToFetch─▶ crawler ─▶ parser ─▶ … writer
//!      ▲                    │          │
//!      └──── Report ◀───────┴──────────┘   (one per page sent)
//! ```
//!
//! The [`ChainFeeder`] sends a page, then waits for its [`Report`]: the parser that read it
//! reports the next URL (or none), the crawler that dropped it (a stop) or got no body (a
//! failure) reports none. Only then does it send the page after it, numbered one more: `page` in
//! the output is the position in the listing. Detail pages and files of a page are still fetched in parallel, while the next
//! list page is fetched. The [`Chain`] is what the parsers share: the next link's reading, the
//! URLs the listing has been through (a next link to one of them is a loop, and ends the
//! listing), and the reports' channel. A resumed run starts both from the journal's chain marks
//! ([`ChainStart`]): the page after the last one committed, at the URL that page named.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, bounded, select};
use log::{debug, info};
use url::Url;

use super::listing::ChainStart;
use super::message::{NextPage, Report, ToFetch};
use super::stage::{Context, Source, Stage};
use crate::config::{Config, SiteConfig};
use crate::extract::{NextLink, OverLimit};
use crate::shutdown::panic_text;
use crate::store::items::NamedNext;

/// What each list page named as the page after it when its body was last read, by URL (the
/// store's `pages.next`): a page that answers 304 names it again.
pub(crate) type NamedNexts = HashMap<String, NamedNext>;

/// What the parsers (and crawlers) of a next-link listing share.
pub(crate) struct Chain {
    /// How a page names the next (`site.next`).
    link: NextLink,
    /// The site: where a cursor goes (`site.next_url`).
    site: SiteConfig,
    /// The URLs the listing has been through, without fragments; the page in flight's too.
    visited: Mutex<HashSet<String>>,
    /// What the pages named last time, for those that answer 304.
    named: NamedNexts,
    /// To the feeder: one report per page.
    reports: Sender<Report>,
}

/// The key a URL is compared by: itself without its fragment (which the server never sees).
pub(crate) fn visit_key(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            url.set_fragment(None);
            url.into()
        }
        Err(_) => url.to_string(),
    }
}

impl Chain {
    /// The chain of a round of `config` (which has `site.next`) starting at `start`, with
    /// what its pages `named` last time, and the receiving end of its reports, for the feeder.
    pub fn new(
        config: &Config,
        link: NextLink,
        start: &ChainStart,
        named: NamedNexts,
    ) -> (Arc<Chain>, Receiver<Report>) {
        // One page is in flight at a time, so one report at a time.
        let (reports, received) = bounded(1);
        let mut visited: HashSet<String> = start.visited.iter().map(|u| visit_key(u)).collect();
        if let Some(first) = &start.next {
            visited.insert(visit_key(&first.url));
        }
        let chain = Chain {
            link,
            site: config.site.clone(),
            visited: Mutex::new(visited),
            named,
            reports,
        };
        (Arc::new(chain), received)
    }

    /// What page `body` (fetched from `final_url`) says of the page after it. A next URL not
    /// seen before becomes a page the listing goes through; one seen before is a loop. A panic
    /// of the HTML parser costs the page (as on its items), not the crawl.
    pub fn next_of(&self, body: &str, final_url: &Url) -> Result<NextPage, String> {
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.link.find(body, final_url)
        }));
        let value = match found {
            Ok(Ok(value)) => value,
            Ok(Err(limit)) => return Err(limit_reason(&limit, &self.link)),
            Err(panic) => {
                return Err(format!(
                    "the HTML parser panicked on `site.next` = {:?}: {}",
                    self.link.as_str(),
                    panic_text(&*panic)
                ));
            }
        };
        let Some(value) = value else {
            return Ok(NextPage::None);
        };
        Ok(self.visit(self.site.next_page_url(value)))
    }

    /// What the page at `url`, which answered 304 Not Modified, says of the page after it:
    /// what it named when its body was last read, a loop if the listing has been there since.
    /// `None` if that is not known (the crawler then asks it in full, so only a bug gets here).
    pub fn as_before(&self, url: &str) -> Option<NextPage> {
        match self.named.get(url)? {
            NamedNext::Numbered => None,
            NamedNext::Last => Some(NextPage::None),
            NamedNext::At(next) => Some(self.visit(next.clone())),
        }
    }

    /// The next page at `url`: one the listing goes through, or, if it has been there, a loop.
    fn visit(&self, url: String) -> NextPage {
        let mut visited = self.visited.lock().unwrap_or_else(|e| e.into_inner());
        if visited.insert(visit_key(&url)) {
            NextPage::At(url)
        } else {
            NextPage::Loop(url)
        }
    }

    /// Tells the feeder what became of `page`: `next` is the URL of the page after it, `None`
    /// if there is none to fetch. A feeder that is gone (it stopped) is not waiting for it.
    pub fn report(&self, page: u64, next: Option<String>) {
        let _ = self.reports.send(Report { page, next });
    }
}

/// The one-line reason a next link could not be read on a page over a per-page limit.
fn limit_reason(limit: &OverLimit, link: &NextLink) -> String {
    format!(
        "`site.next` = {:?} could not be read: {limit}",
        link.as_str()
    )
}

/// The feeder of a next-link listing: one page at a time, each once the page before it has
/// reported the next URL. It never fetches.
pub(crate) struct ChainFeeder {
    /// The first page to send; `None` when nothing is left.
    start: Option<ToFetch>,
    /// The last page `site.max_pages` allows: the writer says why the listing stops there.
    max_page: u64,
    /// One report per page sent.
    reports: Receiver<Report>,
    /// The shutdown flag (stops feeding).
    stage: Stage,
}

impl ChainFeeder {
    /// The feeder of a round of `config` from `start`, hearing of each page on `reports`.
    pub fn new(
        config: &Config,
        start: &ChainStart,
        reports: Receiver<Report>,
        context: &Context,
    ) -> ChainFeeder {
        ChainFeeder {
            start: start.next.clone(),
            max_page: config.site.max_page(),
            reports,
            stage: context.stage("feeder"),
        }
    }
}

impl Source for ChainFeeder {
    /// Sends each page once the one before it names it, until a page names none, a stop, or
    /// `site.max_pages`.
    fn run(self: Box<Self>, pages: Sender<ToFetch>) {
        let shutdown = &self.stage.shutdown;
        let mut ask = self.start;
        while let Some(page) = ask.take() {
            if shutdown.is_requested() {
                info!(
                    "shutdown: no new pages are taken (next would have been page {}, {})",
                    page.number, page.url
                );
                break;
            }
            if page.number > self.max_page {
                break;
            }
            let number = page.number;
            debug!("page {number}: {}", page.url);
            // The channel is empty: the page before this one has been reported on.
            if pages.send(page).is_err() {
                // Every crawler is gone; the pipeline reports why.
                break;
            }
            loop {
                select! {
                    recv(self.reports) -> report => match report {
                        Ok(Report { page, next }) if page == number => {
                            ask = next.map(|url| ToFetch { number: number + 1, url });
                            break;
                        }
                        // Not this page's: none other is in flight, but a report never misleads.
                        Ok(_) => continue,
                        // Every parser is gone; the pipeline reports why.
                        Err(_) => break,
                    },
                    recv(shutdown.waker()) -> _ => {
                        info!("shutdown: no new pages are taken (page {number}, in flight, is finished)");
                        break;
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Engine;
    use crate::pipeline::listing::ListingEnd;
    use crate::shutdown::Shutdown;
    use crate::stats::{Stats, fetch_latency_histogram};

    fn config(extra: &str) -> Config {
        let text = format!(
            "[site]\nurl = \"http://h.example/list\"\nnext = \"a[rel=next]@href\"\n{extra}\n\
             [extract]\nitem = \"li\"\n[extract.fields]\nt = \"a\"\n[output]\npath = \"o.jsonl\"\n"
        );
        Config::from_toml(&text).unwrap()
    }

    fn chain(config: &Config, start: &ChainStart) -> (Arc<Chain>, Receiver<Report>) {
        let link = config.next.clone().unwrap();
        Chain::new(config, link, start, NamedNexts::new())
    }

    #[test]
    fn next_links_are_followed_and_a_loop_is_seen() {
        let config = config("");
        let (chain, _reports) = chain(&config, &ChainStart::fresh(&config));
        let base = Url::parse("http://h.example/list").unwrap();
        let page = |href: &str| format!("<li><a>x</a><a rel=next href='{href}'>next</a>");
        assert_eq!(
            chain.next_of(&page("?p=2"), &base),
            Ok(NextPage::At("http://h.example/list?p=2".into()))
        );
        // Back to the first page (a fragment does not make it another), then to page 2.
        assert_eq!(
            chain.next_of(&page("/list#top"), &base),
            Ok(NextPage::Loop("http://h.example/list#top".into()))
        );
        assert_eq!(
            chain.next_of(&page("?p=2"), &base),
            Ok(NextPage::Loop("http://h.example/list?p=2".into()))
        );
        assert_eq!(chain.next_of("<li>last</li>", &base), Ok(NextPage::None));
    }

    #[test]
    fn a_page_that_answers_304_names_what_it_named_before_and_a_loop_is_still_seen() {
        let config = config("");
        let link = config.next.clone().unwrap();
        let named = NamedNexts::from([
            (
                "http://h.example/list".into(),
                NamedNext::At("http://h.example/list?p=2".into()),
            ),
            (
                "http://h.example/list?p=2".into(),
                NamedNext::At("http://h.example/list".into()),
            ),
            ("http://h.example/list?p=9".into(), NamedNext::Last),
            ("http://h.example/n".into(), NamedNext::Numbered),
        ]);
        let (chain, _reports) = Chain::new(&config, link, &ChainStart::fresh(&config), named);
        assert_eq!(
            chain.as_before("http://h.example/list"),
            Some(NextPage::At("http://h.example/list?p=2".into()))
        );
        // Page 2 named the first page: a loop, as if its link had been read now.
        assert_eq!(
            chain.as_before("http://h.example/list?p=2"),
            Some(NextPage::Loop("http://h.example/list".into()))
        );
        assert_eq!(
            chain.as_before("http://h.example/list?p=9"),
            Some(NextPage::None)
        );
        // Not known: the crawler asked it in full, so nothing is said of it.
        assert_eq!(chain.as_before("http://h.example/n"), None);
        assert_eq!(chain.as_before("http://h.example/other"), None);
    }

    #[test]
    fn a_resumed_chain_knows_the_pages_before() {
        let config = config("");
        let start = ChainStart {
            next: Some(ToFetch {
                number: 3,
                url: "http://h.example/list?p=3".into(),
            }),
            visited: vec![
                "http://h.example/list".into(),
                "http://h.example/list?p=2".into(),
            ],
        };
        let (chain, _reports) = chain(&config, &start);
        let base = Url::parse("http://h.example/list?p=3").unwrap();
        assert_eq!(
            chain.next_of("<a rel=next href='?p=2'>", &base),
            Ok(NextPage::Loop("http://h.example/list?p=2".into()))
        );
    }

    #[test]
    fn a_cursor_goes_through_the_template() {
        let config = Config::from_toml(
            "[site]\nurl = \"http://h.example/api\"\nnext = \"$.cursor\"\n\
             next_url = \"http://h.example/api?cursor={next}\"\n\
             [extract]\nformat = \"json\"\nitem = \"$.items[*]\"\n[extract.fields]\nt = \"$.t\"\n\
             [output]\npath = \"o.jsonl\"\n",
        )
        .unwrap();
        let (chain, _reports) = chain(&config, &ChainStart::fresh(&config));
        let base = Url::parse("http://h.example/api").unwrap();
        assert_eq!(
            chain.next_of(r#"{"items":[],"cursor":"c/2"}"#, &base),
            Ok(NextPage::At("http://h.example/api?cursor=c%2F2".into()))
        );
        assert!(
            config
                .next
                .as_ref()
                .is_some_and(|n| n.as_str() == "$.cursor")
        );
        let _ = Engine::default();
    }

    /// The feeder of `config`'s chain from its first page, running on a thread of its own
    /// until `shutdown`: the chain to report to, the pages it sends, and its thread.
    fn feeding(
        config: &Config,
        shutdown: &Shutdown,
    ) -> (Arc<Chain>, Receiver<ToFetch>, std::thread::JoinHandle<()>) {
        let start = ChainStart::fresh(config);
        let (chain, reports) = chain(config, &start);
        let stats = Stats::new(None, fetch_latency_histogram());
        let feeder = ChainFeeder {
            start: start.next.clone(),
            max_page: config.site.max_page(),
            reports,
            stage: Stage::new(shutdown, &stats, &Arc::new(ListingEnd::default()), "feeder"),
        };
        let (tx, rx) = bounded(4);
        let handle = std::thread::spawn(move || Box::new(feeder).run(tx));
        (chain, rx, handle)
    }

    #[test]
    fn the_feeder_sends_each_page_once_the_one_before_is_reported() {
        let config = config("max_pages = 3");
        let (chain, rx, handle) = feeding(&config, &Shutdown::new());
        let first = rx.recv().unwrap();
        assert_eq!(
            (first.number, first.url.as_str()),
            (0, "http://h.example/list")
        );
        // Nothing more until page 0 is reported on.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(50))
                .is_err()
        );
        chain.report(0, Some("http://h.example/list?p=2".into()));
        let second = rx.recv().unwrap();
        assert_eq!(
            (second.number, second.url.as_str()),
            (1, "http://h.example/list?p=2")
        );
        chain.report(1, Some("http://h.example/list?p=3".into()));
        assert_eq!(rx.recv().unwrap().number, 2);
        // `max_pages` = 3: page 3 is never sent, and the channel ends.
        chain.report(2, Some("http://h.example/list?p=4".into()));
        handle.join().unwrap();
        assert!(rx.recv().is_err());
    }

    #[test]
    fn a_page_without_a_next_one_or_a_stop_ends_the_feeder() {
        let config = config("");
        for stop in [false, true] {
            let shutdown = Shutdown::new();
            let (chain, rx, handle) = feeding(&config, &shutdown);
            assert_eq!(rx.recv().unwrap().number, 0);
            if stop {
                shutdown.request();
            } else {
                chain.report(0, None);
            }
            handle.join().unwrap();
            assert!(rx.recv().is_err(), "stop: {stop}");
        }
    }
}
