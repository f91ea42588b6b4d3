//! The follow stage (`[follow]`): parsed list pages in, the same pages out with every item's
//! detail fields added.
//!
//! A detail crawler takes one whole list page at a time and fetches the detail page of each of
//! its items (the URL in `follow.field`, resolved against the list page's URL) with the help of
//! every other detail crawler that is free ([`super::crew`]: one list page's forty detail pages
//! go out `follow.crawlers` at a time), through the crawl's shared client (per-host slots and
//! pacing), extracts `[follow.fields]` from each and appends them to the item. The thread that
//! took the page alone passes it on. A page leaves this stage only when every one of its items is
//! complete, so the writer commits whole pages as before and exactly-once holds: a page whose
//! detail page failed after its retries fails as a whole (the reason names the detail URL) and
//! is fetched again next run; an item is never written without its detail fields.
//!
//! With `follow.next`, a detail page in several parts is read part after part
//! ([`super::detail_parts`]): its parts one at a time, since each next link comes from the part
//! before it, while the crew spreads the detail pages of a list page as before. Such a page is
//! always fetched whole, never asked conditionally: a `304` of its first part would say nothing
//! of the others.
//!
//! A stop does not end this stage: every list page already fetched is followed up, with the
//! requests bounded by the grace period. At its deadline (`give_up`) the requests in flight
//! fail, and the page being followed, like every page still queued, is dropped: not committed,
//! and fetched again next run. The stage never writes.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use anyhow::Result;
use crossbeam_channel::Receiver;
use log::{debug, warn};
use url::Url;

use super::budget::Onward;
use super::crew::{Crew, Work};
use super::detail_cache::{Detail, DetailCache};
use super::detail_parts::{PartsEnd, walk};
use super::error::{DetailError, PageError};
use super::message::{Item, Learned, Parsed};
use super::stage::{
    Context, Incomplete, Refusals, Stage, complete_pages, extract_guarded, first_link, resolve_link,
};
use crate::config::{Config, DetailParts, FrontierConfig, HostList};
use crate::extract::{Extractor, Value};
use crate::http::{Answer, BodyPool, Client, FetchError, Response, Validators};
use crate::shutdown::Shutdown;
use crate::store::dedup::AlreadyWritten;
use crate::store::items::DetailReader;

/// The detail crawlers' crew: detail URLs in, each page's fields (and whether this job fetched
/// it) out.
pub(crate) type DetailCrew = Crew<Url, (Arc<Detail>, bool)>;

/// One detail crawler thread's share of the work.
pub(crate) struct Follower {
    /// The HTTP client, shared with every thread that sends requests.
    pub client: Client,
    /// The detail page's fields (one item: the whole document).
    pub extractor: Arc<Extractor>,
    /// With `follow.next`: how a detail page in several parts is read.
    pub parts: Option<Arc<DetailParts>>,
    /// With `follow.next` and `download.referer` on a detail field: that field's position
    /// among the detail fields, whose file links' parts go to the downloaders.
    pub track: Option<usize>,
    /// The gate of next links (`follow.hosts`, robots.txt), warning once per host.
    pub part_refusals: RefCell<Refusals>,
    /// Whether this thread has warned of a detail page cut at `follow.max_pages`.
    pub capped_warned: Cell<bool>,
    /// The position of the list field holding the detail URL.
    pub index: usize,
    /// Hosts detail pages may be on.
    pub hosts: HostList,
    /// Where bodies go back once parsed.
    pub bodies: Arc<BodyPool>,
    /// Raised at the end of the grace period after a stop: what is not done by then is
    /// dropped, for the next run.
    pub give_up: Shutdown,
    /// With `output.dedup`: the items written before, whose detail pages are not fetched (the
    /// writer drops them).
    pub written: Option<AlreadyWritten>,
    /// The round's detail pages, shared by its detail crawlers: each fetched once.
    pub cache: Arc<DetailCache>,
    /// With `http.conditional`: what the store knows of each detail page (its validators and
    /// fields), on this thread's own connection.
    pub known: Option<DetailReader>,
    /// This thread's place among the detail crawlers, which share each page's detail pages;
    /// taken by [`Follower::run`].
    pub crew: Option<DetailCrew>,
    /// The round's counters (and its shutdown flag, which this stage does not obey).
    pub stage: Stage,
}

impl Follower {
    /// The round's detail crawlers: `follow.crawlers` of them, sharing one compiled extractor
    /// and one cache of detail pages; none without `[follow]`. `written` are the items written
    /// before (`output.dedup`); with `http.conditional`, each reads the store of
    /// `output.key` on a connection of its own.
    pub fn build_all(
        config: &Config,
        context: &Context,
        written: &Option<AlreadyWritten>,
    ) -> Result<Vec<Follower>> {
        let Some(follow) = &config.follow else {
            return Ok(Vec::new());
        };
        let extractor = Arc::new(follow.extract.clone());
        let parts = follow.parts.clone().map(Arc::new);
        let cache = Arc::new(DetailCache::default());
        // A shared crawl's daemons keep no store of their own to read the detail pages'
        // validators from: they are asked in full.
        let conditional = config.http.conditional
            && config.output.key.is_some()
            && config.frontier == FrontierConfig::Local;
        let list_fields = config.extract.field_names().count();
        let track = config
            .download
            .as_ref()
            .filter(|download| download.referer && parts.is_some())
            .and_then(|download| download.index.checked_sub(list_fields));
        Crew::set(follow.crawlers.get())
            .into_iter()
            .enumerate()
            .map(|(i, crew)| {
                Ok(Follower {
                    client: context.client.clone(),
                    extractor: extractor.clone(),
                    parts: parts.clone(),
                    track,
                    part_refusals: RefCell::new(Refusals::new(
                        "next part of a detail page",
                        "follow.hosts",
                        " (the detail page ends at the part before it)",
                    )),
                    capped_warned: Cell::new(false),
                    index: follow.index,
                    hosts: follow.hosts.clone(),
                    bodies: context.bodies.clone(),
                    give_up: context.give_up.clone(),
                    written: written.clone(),
                    cache: cache.clone(),
                    known: match conditional {
                        true => Some(DetailReader::open(&config.output.store)?),
                        false => None,
                    },
                    crew: Some(crew),
                    stage: context.stage(format!("follower-{i}")),
                })
            })
            .collect()
    }

    /// Follows up pages until `input` is disconnected and drained, or the next stage is gone;
    /// then helps the other detail crawlers until they are done too.
    pub fn run(mut self, input: Receiver<Parsed>, output: Onward<Parsed>) {
        let crew = self.crew.take().expect("a follower runs once");
        let mut refusals = Refusals::new(
            "detail page",
            "follow.hosts",
            " (its items get null detail fields)",
        );
        let work = |url: &Url| self.detail(url);
        complete_pages(
            || crew.next(&input, &work),
            output,
            &self.stage,
            &self.give_up,
            |url, items, learned| {
                #[cfg(test)]
                super::stage::inject_panic(url, "follower");
                self.complete(url, items, &mut refusals, learned, (&crew, &work))
            },
        );
        crew.finish(&work);
    }

    /// `items` of the page at `page_url`, each with its detail fields after its own. Their
    /// detail pages are fetched by the whole crew at once.
    fn complete(
        &self,
        page_url: &str,
        mut items: Vec<Item>,
        refusals: &mut Refusals,
        learned: &mut Learned,
        (crew, work): (&DetailCrew, Work<'_, Url, (Arc<Detail>, bool)>),
    ) -> Result<Vec<Item>, Incomplete> {
        let base = Url::parse(page_url).ok();
        let width = self.extractor.field_names().count();
        // Each item's detail page, if it has one to fetch: an index into `targets`.
        let mut wants = Vec::with_capacity(items.len());
        let mut targets = Vec::new();
        let written = match &self.written {
            Some(written) => written.select(&items),
            None => vec![false; items.len()],
        };
        for (item, written) in items.iter().zip(written) {
            if written {
                wants.push(None);
                continue;
            }
            let target =
                first_link(item.get(self.index)).and_then(|link| resolve_link(base.as_ref(), link));
            let wanted = match target {
                Some(target)
                    if !refusals.allows(&self.client, &self.hosts, &target, &self.give_up)? =>
                {
                    self.stage.stats.detail_refused();
                    None
                }
                Some(target) => {
                    targets.push(target);
                    Some(targets.len() - 1)
                }
                None => None,
            };
            wants.push(wanted);
        }
        let urls = targets.clone();
        let details = crew.run_all(targets, work)?;
        for (item, wanted) in items.iter_mut().zip(wants) {
            let Some(i) = wanted else {
                item.extend(std::iter::repeat_n(Value::Null, width));
                if self.track.is_some() {
                    learned.found_on.push(Vec::new());
                }
                continue;
            };
            let (detail, fetched) = &details[i];
            if self.track.is_some() {
                learned.found_on.push(detail.found_on.clone());
            }
            // A detail page fetched with a body goes into what the page learned, for the
            // store: once, by the item whose job fetched it.
            if let (true, Some(validators)) = (*fetched, &detail.fresh) {
                learned.details.push((
                    urls[i].to_string(),
                    validators.clone(),
                    detail.fields.clone(),
                ));
            }
            item.extend(detail.fields.iter().cloned());
        }
        Ok(items)
    }

    /// The detail page at `url`, fetched once this round whatever links to it (the second
    /// value: whether this call fetched it).
    fn detail(&self, url: &Url) -> Result<(Arc<Detail>, bool), Incomplete> {
        self.cache.get_or(url.as_str(), || self.fetch(url))
    }

    /// Fetches the detail page at `url`, asking with its validators when the store knows them:
    /// a `304` keeps the fields the store has.
    fn fetch(&self, url: &Url) -> Result<Detail, Incomplete> {
        if let Some(parts) = &self.parts {
            return self.fetch_parts(parts, url);
        }
        let stats = &self.stage.stats;
        let known = self.known.as_ref().and_then(|reader| {
            reader
                .get(url.as_str())
                .inspect_err(|err| warn!("detail page {url}: reading the store: {err:#}"))
                .ok()
                .flatten()
        });
        let ask = known
            .as_ref()
            .map(|k| k.validators.clone())
            .unwrap_or_default();
        let response = match self.get(url, &ask)? {
            Answer::Changed(response) => response,
            Answer::NotModified => {
                stats.detail_not_modified();
                let fields = known.map(|k| k.fields).unwrap_or_default();
                return Ok(Detail {
                    fields: self.stored_fields(&fields),
                    fresh: None,
                    found_on: Vec::new(),
                });
            }
        };
        let validators = response.validators.clone();
        stats.detail_fetched(response.body.len() as u64);
        let (fields, _) = self.extract(&self.extractor, url, response)?;
        Ok(Detail {
            fields,
            fresh: Some(validators),
            found_on: Vec::new(),
        })
    }

    /// Fetches the detail page at `url` and its later parts, following their next links.
    fn fetch_parts(&self, parts: &DetailParts, url: &Url) -> Result<Detail, Incomplete> {
        let stats = &self.stage.stats;
        let read = |part: &Url| {
            // Asked without validators: see the module's comment.
            let Answer::Changed(response) = self.get(part, &Validators::default())? else {
                unreachable!("a request without validators is never answered 304")
            };
            match part == url {
                true => stats.detail_fetched(response.body.len() as u64),
                false => stats.detail_part_fetched(response.body.len() as u64),
            }
            self.extract(&parts.extract, part, response)
        };
        let allowed = |next: &Url| {
            self.part_refusals
                .borrow_mut()
                .allows(&self.client, &self.hosts, next, &self.give_up)
        };
        let walked = walk(parts, self.track, url, read, allowed)?;
        match &walked.end {
            PartsEnd::Last => {}
            PartsEnd::Loop(next) => {
                stats.detail_part_loop();
                debug!("detail page {url}: the next link of its last part, {next}, leads back");
            }
            PartsEnd::Capped(next) => {
                stats.detail_parts_cut();
                if !self.capped_warned.replace(true) {
                    warn!(
                        "detail page {url}: {} parts read (follow.max_pages), the next ({next}) \
                         and any after it left unread; raise follow.max_pages to read more (warned \
                         once, counted in detail_parts_cut)",
                        walked.parts
                    );
                }
            }
            // Warned of by the gate.
            PartsEnd::Refused(_) => stats.detail_parts_cut(),
        }
        Ok(Detail {
            fields: walked.fields,
            // Kept with no validators, so that the next round fetches it whole again.
            fresh: Some(Validators::default()),
            found_on: walked.found_on,
        })
    }

    /// The answer to a request for the detail page (or part) at `url`, asked with `ask`; a
    /// failure after the retries fails the page, unless it came with the grace deadline.
    fn get(&self, url: &Url, ask: &Validators) -> Result<Answer, Incomplete> {
        let stats = &self.stage.stats;
        match self
            .client
            .fetch_if_changed(url.as_str(), ask, &self.give_up, stats)
        {
            Ok(answer) => Ok(answer),
            Err(FetchError::Interrupted) => Err(Incomplete::Abandoned),
            // Cut off at the grace deadline: not a failure of the page.
            Err(_) if self.give_up.is_requested() => Err(Incomplete::Abandoned),
            Err(err) => {
                stats.detail_failed();
                Err(detail_failed(url, DetailError::Fetch(Arc::new(err))))
            }
        }
    }

    /// The fields of a detail page the store kept (as JSON text): null where one is missing.
    fn stored_fields(&self, fields: &[String]) -> Item {
        let width = self.extractor.field_names().count();
        (0..width)
            .map(|i| {
                fields
                    .get(i)
                    .and_then(|text| Value::from_json_text(text))
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    /// The values `extractor` finds in the detail page (or part) at `url`, from its
    /// `response`, and the URL they came from after redirects.
    fn extract(
        &self,
        extractor: &Extractor,
        url: &Url,
        response: Response,
    ) -> Result<(Item, Url), Incomplete> {
        let stats = &self.stage.stats;
        let body = response.body;
        // Its links resolve against where the redirects led.
        let final_url = Url::parse(&response.url).unwrap_or_else(|_| url.clone());
        let (extracted, _) = extract_guarded(|| extractor.extract_values(&body, &final_url));
        self.bodies.give(body.into_bytes());
        let items = match extracted {
            Ok(extracted) => {
                if extracted.unconverted > 0 {
                    stats.fields_unconverted(extracted.unconverted);
                }
                extracted.items
            }
            Err(reason) => {
                stats.detail_failed();
                return Err(detail_failed(url, DetailError::Parse(reason)));
            }
        };
        let width = extractor.field_names().count();
        // The item selector is the root element, which every document has.
        let values = items
            .into_iter()
            .next()
            .unwrap_or_else(|| vec![Value::Null; width]);
        Ok((values, final_url))
    }
}

/// The page fails: the detail page at `url` did, for `error`.
fn detail_failed(url: &Url, error: DetailError) -> Incomplete {
    Incomplete::Failed(PageError::Detail {
        url: url.to_string(),
        error,
    })
}
