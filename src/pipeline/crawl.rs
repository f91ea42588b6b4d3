//! The crawl stage: pages to fetch in (their numbers and URLs), fetched pages out.
//!
//! Each crawler thread takes pages from `pages` and fetches them with the shared [`Client`]. It
//! checks the shutdown flag before taking each page and skips, without fetching, every page it
//! receives once the flag is up (or once the page is past the end of the listing), counting
//! each; a request already in flight is finished (bounded by the timeouts and the grace period)
//! and its page is passed on. A page that fails after its retries is passed on as a
//! [`NoContent`], for the writer to record. With `http.robots`, a page robots.txt disallows is
//! not fetched and goes on as [`NoContent::Disallowed`], for the writer to count (and not
//! record). On a listing paged by next links, a page the crawler drops (a stop) is reported to
//! the [`Chain`], since the feeder waits to hear of every page it sent. This stage never parses
//! and never writes.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};
use url::Url;

use super::budget::Onward;
use super::chain::Chain;
use super::message::{Fetched, Html, Learned, NoContent, Page, PageError, Parsed, ToFetch};
use super::stage::{Context, Stage};
use crate::config::{Config, SiteConfig};
use crate::http::{Answer, Client, FetchError, PageValidators, Validators, Wanted};
use crate::stats::Queue;

/// One crawler thread's share of the work.
pub(crate) struct Crawler {
    /// The HTTP client, shared with the other crawlers.
    pub client: Client,
    /// The site, for page URLs and "until empty" mode.
    pub site: SiteConfig,
    /// With `http.conditional`: each list page's validators of the last round, by URL.
    pub validators: Option<PageValidators>,
    /// On a listing paged by next links: told of each page this crawler drops, so that the
    /// feeder, which waits for each page's report, does not wait for it.
    pub chain: Option<Arc<Chain>>,
    /// The round's shutdown flag, counters and end of the listing.
    pub stage: Stage,
}

impl Crawler {
    /// The round's crawlers: `threads.crawlers` of them, sharing the context's client.
    pub fn build_all(
        config: &Config,
        context: &Context,
        validators: Option<PageValidators>,
        chain: Option<&Arc<Chain>>,
    ) -> Vec<Crawler> {
        (0..config.threads.crawlers.get())
            .map(|i| Crawler {
                client: context.client.clone(),
                site: config.site.clone(),
                validators: validators.clone(),
                chain: chain.cloned(),
                stage: context.stage(format!("crawler-{i}")),
            })
            .collect()
    }

    /// Whether robots.txt lets the crawler fetch `url` (always, with `http.robots = false`);
    /// `None` when a stop came first, so the page is not crawled rather than disallowed. A
    /// robots.txt that got no answer at all means the site is down: that is the page's
    /// failure, not a robots.txt refusal.
    fn robots_allow(&self, url: &str) -> Option<Result<bool, FetchError>> {
        let Ok(parsed) = Url::parse(url) else {
            // The fetch reports the bad URL, as it always has.
            return Some(Ok(true));
        };
        let Some(rules) = self.client.robots_rules(&parsed, &self.stage.shutdown) else {
            return Some(Ok(true));
        };
        if self.stage.shutdown.is_requested() {
            return None;
        }
        if let Some(why) = rules.site_down() {
            return Some(Err(FetchError::SiteDown(why.to_string())));
        }
        Some(Ok(rules.allowed(&parsed)))
    }

    /// Fetches pages until the `pages` channel is disconnected and drained, or no parser is left.
    /// A page with a body goes to the parsers on `html`; one without (failed, gone, disallowed,
    /// not modified) has nothing to parse and goes straight on to the stage after them, on
    /// `unparsed`: a round where every page answers 304 then costs one thread hand-off less per
    /// page.
    pub fn run(self, pages: Receiver<ToFetch>, html: Sender<Fetched>, unparsed: Onward<Parsed>) {
        let Stage {
            shutdown,
            stats,
            end,
            ..
        } = &self.stage;
        for ToFetch { number: page, url } in pages.iter() {
            stats.queue_depth(Queue::Pages, pages.len());
            if shutdown.is_requested() || end.is_past(page) {
                // Draining without fetching keeps the "ends when disconnected" rule and
                // lets every skipped page be counted.
                end.count_unneeded(page, stats);
                self.dropped(page);
                continue;
            }
            #[cfg(test)]
            super::stage::inject_panic(&url, "crawler");
            let Some((content, validators)) = self.crawl(page, &url) else {
                self.dropped(page);
                continue;
            };
            let mut learned = Learned {
                validators,
                ..Learned::default()
            };
            let sent = match content {
                Ok(body) => {
                    let message = Page {
                        number: page,
                        url,
                        content: Ok(body),
                        learned,
                    };
                    let sent = html.send(message).is_ok();
                    stats.queue_depth(Queue::Html, html.len());
                    sent
                }
                Err(none) => {
                    match (&none, &self.chain) {
                        // Unchanged, it names what it named when last read.
                        (NoContent::NotModified { .. }, Some(chain)) => {
                            learned.next = chain.as_before(&url);
                            chain.report(page, learned.next_url().map(str::to_string));
                        }
                        // Its chain ends here: no next link without a body.
                        _ => self.dropped(page),
                    }
                    let message = Page {
                        number: page,
                        url,
                        content: Err(none),
                        learned,
                    };
                    unparsed.send(message).is_ok()
                }
            };
            if !sent {
                // Every parser, or the writer, is gone; the pipeline reports why.
                break;
            }
        }
    }

    /// Page `page` names no next page (it goes no further, or has no body): on a listing paged
    /// by next links, its chain ends here.
    fn dropped(&self, page: u64) {
        if let Some(chain) = &self.chain {
            chain.report(page, None);
        }
    }

    /// Page `page`'s body and validators, or why it has none; `None` when it is not crawled
    /// after all (a stop came while it was asked for, or its request was abandoned at the
    /// grace deadline).
    fn crawl(&self, page: u64, url: &str) -> Option<(Result<Html, NoContent>, Validators)> {
        let Stage {
            shutdown,
            stats,
            end,
            ..
        } = &self.stage;
        let ask = self.validators.as_ref().and_then(|known| known.get(url));
        let response = match self.robots_allow(url) {
            Some(Ok(true)) => self.client.fetch_while(
                url,
                ask.unwrap_or(&Validators::default()),
                shutdown,
                stats,
                &Wanted {
                    news: end.news(),
                    still: &|| !end.is_past(page),
                },
            ),
            Some(Err(site_down)) => Err(site_down),
            Some(Ok(false)) => {
                debug!("page {page} ({url}): disallowed by robots.txt");
                return Some((Err(NoContent::Disallowed), Validators::default()));
            }
            // A stop came while robots.txt was being fetched.
            None => {
                end.count_unneeded(page, stats);
                return None;
            }
        };
        let content = match response {
            Ok(Answer::Changed(response)) => {
                stats.page_fetched(response.body.len() as u64);
                let html = Html {
                    body: response.body,
                    final_url: response.url,
                };
                return Some((Ok(html), response.validators));
            }
            Ok(Answer::NotModified) => {
                debug!("page {page} ({url}): not modified since the last round");
                Err(NoContent::NotModified { listed: None })
            }
            Err(FetchError::Status {
                code: status @ (404 | 410),
                ..
            }) if self.site.last_page.is_none() => {
                // The writer decides, in page order, whether this ends the listing; no page
                // after it is needed either way.
                debug!("page {page} ({url}): http status {status}");
                end.observe_empty(page);
                Err(NoContent::Gone(status))
            }
            // Interrupted, abandoned at the grace deadline, or no longer wanted once its turn
            // came: not a failure of the page, and not committed.
            Err(FetchError::Interrupted | FetchError::NotWanted) => {
                end.count_unneeded(page, stats);
                return None;
            }
            Err(_) if shutdown.is_requested() => {
                end.count_unneeded(page, stats);
                return None;
            }
            Err(err) if err.is_no_connection() && !self.client.site_has_answered() => {
                // The site has not answered anything this round: it is down (or the URL names
                // the wrong host or port), and every other page would only repeat this after
                // its retries. An outage later in a crawl keeps `site.max_failed_in_a_row`.
                end.stop(match &err {
                    FetchError::SiteDown(_) => {
                        format!("{err}; stopping, since the site has answered nothing this round")
                    }
                    _ => format!(
                        "the site is unreachable: page {page} ({url}) got no connection \
                         ({err}); stopping, since the site has answered nothing this round"
                    ),
                });
                Err(NoContent::Failed(PageError::fetch(err)))
            }
            Err(err) => {
                warn!("page {page} ({url}): {err}");
                Err(NoContent::Failed(PageError::fetch(err)))
            }
        };
        Some((content, Validators::default()))
    }
}
