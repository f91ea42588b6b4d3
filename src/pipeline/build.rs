//! A round's stages, built before any thread starts: what they share (the [`Context`]: the
//! HTTP client, the body buffers, the counters, the end of the listing), then each stage from
//! its own config section, as many threads as the config says. And the pipeline's arithmetic
//! behind them: how far the feeder may run ahead of the writer, how many body buffers are kept,
//! how many threads send requests.
//!
//! A stage's constructor is in the stage's own file; this file only calls them in turn.

use std::sync::Arc;

use anyhow::Result;
use crossbeam_channel::{Receiver, Sender};

use super::chain::{Chain, ChainFeeder, NamedNexts};
use super::crawl::Crawler;
use super::download::Downloader;
use super::feeder::Feeder;
use super::follow::Follower;
use super::listing::{ChainStart, Listing, ListingEnd, Resumed};
use super::parse::Parser;
use super::stage::{Context, Frontier, Listener, Source};
use super::write::{Output, Writer};
use crate::config::Config;
use crate::http::{BodyPool, Client, PageValidators};
use crate::shutdown::Shutdown;
use crate::stats::Stats;

/// What a round's stages are built from: the config, and what the round's setup opened.
pub(crate) struct Round<'a> {
    /// The config of the round.
    pub config: &'a Config,
    /// The round's counters, which its observer already holds.
    pub stats: Arc<Stats>,
    /// The output and the state the writer owns.
    pub output: Output,
    /// What earlier runs of this round committed.
    pub resumed: Resumed,
    /// The shared frontier, if the round takes its pages from one.
    pub shared: Option<Box<dyn Frontier>>,
    /// With `http.conditional`: each list page's validators of the last round, by URL.
    pub validators: Option<PageValidators>,
    /// With `http.conditional` on a next-link listing: what each page named next last time.
    pub named_next: NamedNexts,
}

/// Every thread of one round, built and ready.
pub(crate) struct Stages {
    /// Sends page numbers: the local feeder, or the shared frontier's.
    pub source: Box<dyn Source>,
    /// Fetch pages.
    pub crawlers: Vec<Crawler>,
    /// Extract items.
    pub parsers: Vec<Parser>,
    /// Fetch each item's detail page (`[follow]`); empty when not configured.
    pub followers: Vec<Follower>,
    /// Download each item's files (`[download]`); empty when not configured.
    pub downloaders: Vec<Downloader>,
    /// Writes and commits.
    pub writer: Writer,
    /// Hears of every commit (the shared frontier's acker), if anyone needs to.
    pub listener: Option<Box<dyn Listener>>,
}

impl Round<'_> {
    /// Whether the writer paces the feeder with credits: "until empty" on one daemon, where
    /// pages are written in page order (a shared crawl cannot order them).
    pub fn paced(&self) -> bool {
        // A next-link listing has one list page in flight at a time: nothing to pace.
        self.config.site.last_page.is_none() && self.shared.is_none() && self.config.next.is_none()
    }
}

/// The context every stage of a round of `config` shares.
pub(crate) fn context(
    config: &Config,
    shutdown: &Shutdown,
    stats: &Arc<Stats>,
    end: &Arc<ListingEnd>,
) -> Context {
    let bodies = Arc::new(BodyPool::new(body_buffers(config)));
    Context {
        shutdown: shutdown.clone(),
        stats: stats.clone(),
        end: end.clone(),
        client: Client::new(
            &config.http,
            &config.site,
            requesters(config),
            bodies.clone(),
        ),
        bodies,
        give_up: Shutdown::new(),
    }
}

impl Stages {
    /// Builds every stage of `round`; `credits` is the credit loop from the writer to the
    /// feeder, when the round is [`Round::paced`].
    pub fn build(
        round: Round<'_>,
        context: &Context,
        credits: Option<(Sender<()>, Receiver<()>)>,
    ) -> Result<Stages> {
        let Round {
            config,
            stats: _,
            output,
            resumed,
            shared,
            validators,
            named_next,
        } = round;
        let (credits_tx, credits_rx) = credits.unzip();
        // Items written before need no follow-ups: the writer drops them.
        let written = match (&config.follow, &config.download) {
            (None, None) => None,
            _ => output.dedup.already_written(),
        };
        let shared_state = (&context.end, &context.stats);
        let listing = Listing::new(config, &resumed, shared.is_some(), credits_tx, shared_state);
        let mut chain = None;
        let (source, listener): (Box<dyn Source>, Option<Box<dyn Listener>>) = match shared {
            Some(shared) => {
                let (feeder, acker) = shared.threads(config, context.stage("feeder"))?;
                (feeder, Some(acker))
            }
            None => match &config.next {
                Some(link) => {
                    let start = resumed
                        .chain
                        .clone()
                        .unwrap_or_else(|| ChainStart::fresh(config));
                    let (shared_chain, reports) =
                        Chain::new(config, link.clone(), &start, named_next);
                    chain = Some(shared_chain);
                    let feeder = ChainFeeder::new(config, &start, reports, context);
                    (Box::new(feeder), None)
                }
                None => (
                    Box::new(Feeder::new(config, &resumed, credits_rx, context)),
                    None,
                ),
            },
        };
        Ok(Stages {
            source,
            crawlers: Crawler::build_all(config, context, validators, chain.as_ref()),
            parsers: Parser::build_all(config, context, chain.as_ref()),
            followers: Follower::build_all(config, context, &written)?,
            downloaders: Downloader::build_all(config, context, &written)?,
            writer: Writer::new(config, output, listing, context.stage("writer")),
            listener,
        })
    }
}

/// The credit loop of a [`Round::paced`] round: a channel of `window` credits, full.
pub(crate) fn credits(config: &Config) -> (Sender<()>, Receiver<()>) {
    let window = credit_window(config);
    let (tx, rx) = crossbeam_channel::bounded(window);
    for _ in 0..window {
        // Cannot fail: the channel has room for exactly these.
        let _ = tx.try_send(());
    }
    (tx, rx)
}

/// How many pages the feeder may send before the writer has written the lowest of them: enough
/// to keep every stage busy (every queue full and every thread holding a page, twice over),
/// few enough to hold little past the listing's end.
pub(crate) fn credit_window(config: &Config) -> usize {
    let q = &config.queues;
    // The detail crawlers and downloaders hold pages too, each with a queue in front.
    let follow_ups = [config.follow.is_some(), config.download.is_some()];
    let held = follow_ups.iter().filter(|&&on| on).count() * q.html.get()
        + config.follow.as_ref().map_or(0, |f| f.crawlers.get())
        + config.download.as_ref().map_or(0, |d| d.threads.get());
    let (crawlers, parsers) = (config.threads.crawlers.get(), config.threads.parsers.get());
    2 * (q.pages.get() + crawlers + q.html.get() + held) + 2 * parsers
}

/// How many body buffers the pool keeps: one per page that can be between a read and its
/// parse (a crawler's, one per `html` slot, a parser's); more would only hold memory.
fn body_buffers(config: &Config) -> usize {
    config.threads.crawlers.get() + config.queues.html.get() + config.threads.parsers.get()
}

/// How many threads send requests, for the client's connection pool: the crawlers, the detail
/// crawlers and the downloaders.
fn requesters(config: &Config) -> usize {
    config.threads.crawlers.get()
        + config.follow.as_ref().map_or(0, |f| f.crawlers.get())
        + config.download.as_ref().map_or(0, |d| d.threads.get())
}
