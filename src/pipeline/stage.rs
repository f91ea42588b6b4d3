//! What every stage thread shares ([`Context`], and each thread's [`Stage`] made from it), the
//! two kinds of thread that may come from elsewhere (a [`Source`] of page numbers: the local
//! feeder or the shared frontier's; a [`Listener`] to what the writer commits: the shared
//! frontier's acker), and what the stages that complete whole pages have in common (the detail
//! crawlers and the downloaders: [`complete_pages`], [`Refusals`]).

use std::collections::HashSet;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};
use url::Url;

use super::budget::Onward;
use super::error::ParseError;
use super::message::{Committed, Item, Learned, NoContent, Page, PageError, Parsed, ToFetch};
use crate::config::{Config, HostList};
use crate::extract::{Extracted, OverLimit, Used, Value};
use crate::http::{BodyPool, Client};
use crate::pipeline::listing::ListingEnd;
use crate::shutdown::{PanicGuard, Shutdown, panic_text};
use crate::stats::Stats;

/// What the threads of one round share; each stage is built from it and its own config
/// section, and each thread's own [`Stage`] is made from it.
#[derive(Clone)]
pub(crate) struct Context {
    /// Raised to stop taking new pages.
    pub shutdown: Shutdown,
    /// The round's counters.
    pub stats: Arc<Stats>,
    /// The end of the listing, in "until empty" mode: no page past it is needed.
    pub end: Arc<ListingEnd>,
    /// The HTTP client every stage that sends requests shares (one connection pool, per-host
    /// slots and pacing, robots.txt).
    pub client: Client,
    /// The body buffers the crawlers read pages into and the parsers give back.
    pub bodies: Arc<BodyPool>,
    /// Raised at the end of the grace period after a stop: the follow-ups of pages already
    /// fetched give up then.
    pub give_up: Shutdown,
}

impl Context {
    /// The stage context of the thread called `name` (for the log, should it panic).
    pub fn stage(&self, name: impl Into<String>) -> Stage {
        Stage::new(&self.shutdown, &self.stats, &self.end, name)
    }
}

impl Stage {
    /// The share of the thread called `name` in a round with these flag, counters and end.
    pub fn new(
        shutdown: &Shutdown,
        stats: &Arc<Stats>,
        end: &Arc<ListingEnd>,
        name: impl Into<String>,
    ) -> Stage {
        Stage {
            shutdown: shutdown.clone(),
            stats: stats.clone(),
            end: end.clone(),
            _guard: shutdown.panic_guard(name),
        }
    }
}

/// One stage thread's share of the round: the same four things every stage needs.
#[derive(Debug)]
pub(crate) struct Stage {
    /// Raised to stop taking new pages; stages that must finish what they hold ignore it.
    pub shutdown: Shutdown,
    /// The round's counters.
    pub stats: Arc<Stats>,
    /// The end of the listing, shared by every stage.
    pub end: Arc<ListingEnd>,
    /// Raises the shutdown flag if this thread panics: dropped with the stage, while unwinding.
    pub _guard: PanicGuard,
}

/// A frontier shared with other daemons, which gives a round its feeder and its listener once
/// the round's context exists (the shared frontier of Redis).
pub(crate) trait Frontier: Send {
    /// The round's feeder and the listener to its commits, with `stage` for the feeder.
    fn threads(
        self: Box<Self>,
        config: &Config,
        stage: Stage,
    ) -> anyhow::Result<(Box<dyn Source>, Box<dyn Listener>)>;
}

/// The feeder: the one thread that sends pages to fetch. It ends, and so disconnects `pages`,
/// when it has nothing more to send, on shutdown, or when no crawler is left.
pub(crate) trait Source: Send {
    /// Sends pages until done.
    fn run(self: Box<Self>, pages: Sender<ToFetch>);
}

/// A thread that acts on what the writer committed.
pub(crate) trait Listener: Send {
    /// Handles every message until the writer is gone and the channel is drained.
    /// `writer_done` disconnects once the writer has ended: from then on nothing holds the crawl
    /// back, and a listener should give up on what it cannot do in a bounded time.
    fn run(self: Box<Self>, committed: Receiver<Committed>, writer_done: Receiver<()>);
}

/// Why a stage between the parsers and the writer could not complete a page.
#[derive(Debug, Clone)]
pub(crate) enum Incomplete {
    /// A follow-up (a detail page, a file) failed after its retries: the page fails, with this
    /// reason, and the next run fetches it again.
    Failed(PageError),
    /// The grace period after a stop ran out: the page is dropped, not committed, and the next
    /// run fetches it again.
    Abandoned,
}

/// The loop of a stage that completes whole pages (detail crawlers, downloaders): each page
/// with items goes through `complete` (which may add to what the page learned) and on, whole,
/// or fails whole; failed pages pass on unchanged. Once `give_up` is raised (the grace
/// deadline), pages are dropped unworked. Pages come from `next` (the stage's input, read by its
/// [`super::crew::Crew`] when it has one); ends when `next` has no more (the input is
/// disconnected and drained), or the next stage is gone.
pub(crate) fn complete_pages(
    mut next: impl FnMut() -> Option<Parsed>,
    output: Onward<Parsed>,
    stage: &Stage,
    give_up: &Shutdown,
    mut complete: impl FnMut(&str, Vec<Item>, &mut Learned) -> Result<Vec<Item>, Incomplete>,
) {
    while let Some(page) = next() {
        if give_up.is_requested() {
            // Draining without working: the next run fetches the page again.
            stage.end.count_unneeded(page.number, &stage.stats);
            continue;
        }
        let Page {
            number,
            url,
            content,
            mut learned,
        } = page;
        let content = match content {
            Ok(items) => match complete(&url, items, &mut learned) {
                Ok(items) => Ok(items),
                Err(Incomplete::Failed(reason)) => {
                    warn!("page {number} ({url}): {reason}");
                    Err(NoContent::Failed(reason))
                }
                Err(Incomplete::Abandoned) => {
                    stage.end.count_unneeded(number, &stage.stats);
                    continue;
                }
            },
            Err(failure) => Err(failure),
        };
        let message = Page {
            number,
            url,
            content,
            learned,
        };
        if output.send(message).is_err() {
            // The next stage is gone; the pipeline reports why.
            break;
        }
    }
}

/// The gate every follow-up request passes (detail pages, files): its host must be the site's
/// or listed (`follow.hosts`, `download.hosts`), and its robots.txt must allow it. A refusal is
/// warned of once per host and reason, for the whole of a stage thread's life.
pub(crate) struct Refusals {
    /// What is requested, for the warning: "detail page", "file".
    what: &'static str,
    /// The key that lists other hosts: "follow.hosts", "download.hosts".
    key: &'static str,
    /// What a refusal means for the item, for the warning.
    outcome: &'static str,
    /// The hosts warned of, with the reason ("hosts" or "robots").
    warned: HashSet<(String, &'static str)>,
}

impl Refusals {
    /// A gate that names `what` is refused, the `key` that lists hosts and the `outcome`.
    pub fn new(what: &'static str, key: &'static str, outcome: &'static str) -> Refusals {
        Refusals {
            what,
            key,
            outcome,
            warned: HashSet::new(),
        }
    }

    /// Whether `url` may be requested (robots.txt is read as for pages, once per host and
    /// round; always allowed with `http.robots = false`). [`Incomplete::Abandoned`] when the
    /// grace deadline (`give_up`) came while robots.txt was being fetched.
    pub fn allows(
        &mut self,
        client: &Client,
        hosts: &HostList,
        url: &Url,
        give_up: &Shutdown,
    ) -> Result<bool, Incomplete> {
        let host = url.host_str().unwrap_or_default();
        let (reason, why) = if !hosts.allows(url) {
            let why = format!("{host} is not the site's host nor listed in `{}`", self.key);
            ("hosts", why)
        } else {
            let Some(rules) = client.robots_rules(url, give_up) else {
                return Ok(true);
            };
            if give_up.is_requested() {
                return Err(Incomplete::Abandoned);
            }
            if rules.allowed(url) {
                return Ok(true);
            }
            ("robots", format!("the robots.txt of {host} disallows it"))
        };
        // One warning per host and reason: a listing of links elsewhere would repeat it.
        if self.warned.insert((host.to_string(), reason)) {
            warn!("{} {url} not requested: {why}{}", self.what, self.outcome);
        }
        Ok(false)
    }
}

/// Runs `extract` (an extractor on one page), catching a panic of the HTML parser so that a
/// parser bug on one hostile page costs that page, not the crawl. The engine that read the page
/// comes back with the items; `None` when the parser panicked.
pub(crate) fn extract_guarded(
    extract: impl FnOnce() -> (Result<Extracted, OverLimit>, Used),
) -> (Result<Extracted, ParseError>, Option<Used>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(extract)) {
        Ok((Ok(extracted), used)) => (Ok(extracted), Some(used)),
        Ok((Err(reason), used)) => (Err(ParseError::Limit(reason)), Some(used)),
        Err(panic) => (Err(ParseError::Panicked(panic_text(&*panic))), None),
    }
}

/// The link a field holds: a string, or the first string of a list (field forms give a string,
/// a URL resolved already, or a list of them); `None` for anything else.
pub(crate) fn first_link(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::String(link)) => Some(link.as_str()),
        Some(Value::List(links)) => links.iter().find_map(|link| match link {
            Value::String(link) => Some(link.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// The URLs a download field holds: a string, or the strings of a list (`all = true`, a
/// `srcset`), in order; none for null, blanks or anything else.
pub(crate) fn urls_of(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::List(values)) => values.iter().filter_map(file_link).collect(),
        Some(value) => file_link(value).into_iter().collect(),
        None => Vec::new(),
    }
}

/// One value of a download field as a file's link: a string that is not blank.
pub(crate) fn file_link(value: &Value) -> Option<&str> {
    match value {
        Value::String(url) if !url.trim().is_empty() => Some(url.as_str()),
        _ => None,
    }
}

/// `link` (a detail page's or a file's URL in an item) as an absolute http(s) URL, resolved
/// against the URL of the page it was found on; `None` (logged) when it is not one.
pub(crate) fn resolve_link(page_url: Option<&Url>, link: &str) -> Option<Url> {
    let resolved = match page_url {
        Some(base) => base.join(link.trim()),
        None => Url::parse(link.trim()),
    };
    match resolved {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        Ok(url) => {
            debug!("not an http(s) URL (scheme {}): {link:?}", url.scheme());
            None
        }
        Err(err) => {
            debug!("not a URL ({err}): {link:?}");
            None
        }
    }
}

/// Test-only fault injection: panics when the URL carries `pagecrawl-test-panic=<stage>`.
/// Keyed on the URL so that tests running in parallel cannot trip each other.
#[cfg(test)]
pub(crate) fn inject_panic(url: &str, stage: &str) {
    if url.contains(&format!("pagecrawl-test-panic={stage}")) {
        panic!("injected {stage} panic");
    }
}
