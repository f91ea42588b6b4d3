//! The parse stage: fetched pages in, one message of items per page out.
//!
//! Parser threads share one compiled [`Extractor`]. A parser ends when the `html` channel is
//! disconnected and drained; it never looks at the shutdown flag, because every page that was
//! fetched must be parsed. A page that failed before it is passed on unchanged; one the
//! extractor refuses (a per-page limit) or panics on fails here, costing that page and not the
//! crawl. The body's buffer goes back to the pool for the crawlers. This stage writes nothing.

use std::sync::Arc;

use crossbeam_channel::Receiver;
use log::{debug, warn};
use url::Url;

use super::budget::Onward;
use super::chain::Chain;
use super::error::ParseError;
use super::message::{Fetched, Html, Item, Learned, NoContent, Page, PageError, Parsed};
use super::selector_warnings::SelectorWarnings;
use super::stage::{Context, Stage, extract_guarded};
use crate::config::Config;
use crate::extract::{Extractor, Used};
use crate::http::BodyPool;
use crate::stats::Queue;

/// One parser thread's share of the work.
pub(crate) struct Parser {
    /// Shared compiled selectors.
    pub extractor: Arc<Extractor>,
    /// Where parsed bodies go back for the crawlers to reuse.
    pub bodies: Arc<BodyPool>,
    /// "Until empty" mode: no page after an empty one is needed, whatever the pages before it
    /// hold, so an empty page tells the crawlers at once. (The writer decides, in page order,
    /// where the listing ends.) With a known range an empty page is just a page.
    pub until_empty: bool,
    /// The round's warnings about selectors that find nothing, shared by its parsers.
    pub warnings: Arc<SelectorWarnings>,
    /// On a listing paged by next links: each page's next link is read, and reported to the
    /// feeder.
    pub chain: Option<Arc<Chain>>,
    /// The round's counters and end of the listing.
    pub stage: Stage,
}

impl Parser {
    /// The round's parsers: `threads.parsers` of them, sharing one compiled extractor and one
    /// set of selector warnings.
    pub fn build_all(
        config: &Config,
        context: &Context,
        chain: Option<&Arc<Chain>>,
    ) -> Vec<Parser> {
        let extractor = Arc::new(config.extract.clone());
        let warnings = Arc::new(SelectorWarnings::new(&config.extract, &config.site));
        (0..config.threads.parsers.get())
            .map(|i| Parser {
                extractor: extractor.clone(),
                bodies: context.bodies.clone(),
                until_empty: config.site.last_page.is_none(),
                warnings: warnings.clone(),
                chain: chain.cloned(),
                stage: context.stage(format!("parser-{i}")),
            })
            .collect()
    }

    /// Parses pages until the `html` channel is disconnected and drained, or the writer is gone.
    pub fn run(self, html: Receiver<Fetched>, items: Onward<Parsed>) {
        let stats = &self.stage.stats;
        for page in html.iter() {
            stats.queue_depth(Queue::Html, html.len());
            let Page {
                number,
                url,
                content,
                mut learned,
            } = page;
            let content = match content {
                Ok(html) => self.parse(number, &url, html, &mut learned),
                // Failed before: on to the writer as it is.
                Err(failure) => Err(failure),
            };
            if let Some(chain) = &self.chain {
                // Before the page goes on, so that the next list page is fetched while this
                // one's detail pages are.
                let next = content.as_ref().ok().and(learned.next_url());
                chain.report(number, next.map(str::to_string));
            }
            let parsed = content.is_ok();
            if items
                .send(Page {
                    number,
                    url,
                    content,
                    learned,
                })
                .is_err()
            {
                // The writer is gone (it failed or panicked); the pipeline reports why.
                break;
            }
            if parsed {
                stats.queue_depth(Queue::Items, items.len());
            }
        }
    }

    /// The items of page `number`, or why it fails; whether it says another page follows
    /// (`site.has_next`) goes into what it `learned`.
    fn parse(
        &self,
        number: u64,
        url: &str,
        html: Html,
        learned: &mut Learned,
    ) -> Result<Vec<Item>, NoContent> {
        let stats = &self.stage.stats;
        let Html { body, final_url } = html;
        // The client fetched it, so it parses; the page's own URL is the fallback all the same.
        let final_url = Url::parse(&final_url)
            .or_else(|_| Url::parse(url))
            .map_err(|reason| {
                NoContent::Failed(PageError::Parse(ParseError::BadUrl {
                    url: final_url.clone(),
                    reason,
                }))
            })?;
        let (outcome, used) = extract_guarded(|| {
            #[cfg(test)]
            super::stage::inject_panic(url, "parser");
            self.extractor.extract_values(&body, &final_url)
        });
        // A page with items names the next one; an empty page ends the listing whatever it
        // names.
        let next = match (&self.chain, &outcome) {
            (Some(chain), Ok(extracted)) if !extracted.items.is_empty() => {
                Some(chain.next_of(&body, &final_url))
            }
            _ => None,
        };
        if used == Some(Used::Dom) {
            stats.page_parsed_dom();
        }
        let body_bytes = body.len();
        self.bodies.give(body.into_bytes());
        let items = match outcome {
            Ok(extracted) => {
                if extracted.unconverted > 0 {
                    debug!(
                        "page {number} ({url}): {} field values did not convert to their type",
                        extracted.unconverted
                    );
                    stats.fields_unconverted(extracted.unconverted);
                }
                learned.has_next = extracted.has_next;
                match next {
                    Some(Ok(next)) => learned.next = Some(next),
                    Some(Err(reason)) => {
                        warn!("page {number} ({url}): {reason}");
                        return Err(NoContent::Failed(PageError::Parse(ParseError::NextLink(
                            reason,
                        ))));
                    }
                    None => {}
                }
                if extracted.has_next == Some(false) && self.until_empty {
                    // The crawlers need not ask for any page after it.
                    self.stage.end.observe_empty(number);
                }
                extracted.items
            }
            Err(reason) => {
                warn!("page {number} ({url}): {reason}");
                return Err(NoContent::Failed(PageError::Parse(reason)));
            }
        };
        self.warnings.check(number, url, body_bytes, &items);
        if items.is_empty() {
            debug!("page {number} ({url}): no items");
            if self.until_empty {
                self.stage.end.observe_empty(number);
            }
        }
        stats.page_parsed();
        Ok(items)
    }
}
