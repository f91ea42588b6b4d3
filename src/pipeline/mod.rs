//! The pipeline of one round: channels, threads and join order, nothing else.
//!
//! ```text
//! feeder ─pages─▶ N crawlers ─html─▶ M parsers ─items─▶ [detail crawlers ─items─▶]
//!        [downloaders ─items─▶] writer ─committed─▶ listener
//! ```
//!
//! The stages in brackets run only when configured (`[follow]`, `[download]`); absent, their
//! channel is not made and the stage before sends straight on. It is still a chain, so every
//! stage ends when its input is disconnected and drained.
//!
//! Every stage is built by the caller before any thread starts ([`Parts`]); this function makes
//! the bounded channels, gives each thread its own clones of the ends it uses, drops its own
//! originals right after spawning (so each channel disconnects exactly when the last thread of
//! the stage before it ends), and joins every thread in pipeline order, turning a panic or the
//! writer's error into a failure instead of a hang. One file per stage (`feeder.rs`,
//! `crawl.rs`, `parse.rs`, `write.rs`); what flows between them is in `message.rs`.

use std::thread::Builder;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use log::warn;

pub(crate) mod budget;
pub(crate) mod crawl;
pub(crate) mod download;
pub(crate) mod feeder;
pub(crate) mod follow;
mod grace;
pub(crate) mod listing;
pub(crate) mod message;
mod observer;
pub(crate) mod parse;
pub(crate) mod selector_warnings;
pub(crate) mod stage;
mod threads;
pub(crate) mod write;

pub use observer::{Observer, Silent};

use crate::config::QueuesConfig;
use crate::shutdown::Shutdown;
use budget::Onward;
use message::Parsed;
use stage::{Listener, Source};
use threads::{Spawner, join};
use write::{Writer, WriterReport};

/// Every thread of one round, built and ready.
pub(crate) struct Parts {
    /// Sends page numbers: the local feeder, or the shared frontier's.
    pub source: Box<dyn Source>,
    /// Fetch pages.
    pub crawlers: Vec<crawl::Crawler>,
    /// Extract items.
    pub parsers: Vec<parse::Parser>,
    /// Fetch each item's detail page (`[follow]`); empty when not configured.
    pub followers: Vec<follow::Follower>,
    /// Download each item's files (`[download]`); empty when not configured.
    pub downloaders: Vec<download::Downloader>,
    /// Writes and commits.
    pub writer: Writer,
    /// Hears of every commit (the shared frontier's acker), if anyone needs to.
    pub listener: Option<Box<dyn Listener>>,
    /// The capacities of the channels.
    pub queues: QueuesConfig,
    /// How long requests in flight get after a stop (in every stage that sends requests), and
    /// what abandons them after that.
    pub grace: (Duration, Box<dyn FnOnce() + Send>),
}

/// What the threads left behind.
#[derive(Default)]
pub(crate) struct Joined {
    /// The writer's report; `None` if it failed or panicked.
    pub report: Option<WriterReport>,
    /// Panics, the writer's error, a thread that could not be spawned. Empty if all went well.
    pub failures: Vec<String>,
}

/// If `present`, the channel in front of a stage (`capacity` pages) that sends where `head`
/// sent: its input and its output, and `head` becomes its input's sender.
fn stage_before(
    head: &mut Onward<Parsed>,
    present: bool,
    capacity: usize,
) -> Option<(Receiver<Parsed>, Onward<Parsed>)> {
    if !present {
        return None;
    }
    let (tx, rx) = bounded(capacity);
    let output = std::mem::replace(head, Onward::Plain(tx));
    Some((rx, output))
}

/// Runs `parts` until every thread has ended; `shutdown` is raised if a thread cannot be spawned.
pub(crate) fn run(parts: Parts, shutdown: &Shutdown) -> Joined {
    let q = parts.queues;
    let (pages_tx, pages_rx) = bounded(q.pages.get());
    let (html_tx, html_rx) = bounded(q.html.get());
    // To the writer: bounded in pages and in bytes, since a page of many items weighs what it
    // holds.
    let (writer_tx, items_rx) = budget::channel(q.items.get(), q.items_bytes.get(), Parsed::weight);
    // Between the parsers and the writer, a channel in front of each stage that is configured,
    // as deep as the html queue: pages wait there for a slow stage, so it is the one to hold
    // the crawl back.
    let mut items_tx = Onward::Budget(writer_tx);
    let download = stage_before(&mut items_tx, !parts.downloaders.is_empty(), q.html.get());
    let follow = stage_before(&mut items_tx, !parts.followers.is_empty(), q.html.get());
    let (committed_tx, committed_rx) = bounded(q.items.get());
    let committed_tx = parts.listener.is_some().then_some(committed_tx);
    let (writer_done, writer_done_rx) = bounded::<()>(0);
    let (crawlers_done, crawlers_done_rx) = bounded::<()>(0);
    let (grace, abandon) = parts.grace;
    std::thread::scope(|s| {
        let mut spawn = Spawner {
            scope: s,
            error: None,
        };
        // Consumers first, so that each stage's consumer exists before its producer.
        let writer = spawn.thread("writer", move || parts.writer.run(items_rx, committed_tx));
        let mut downloaders = Vec::new();
        for (i, downloader) in parts.downloaders.into_iter().enumerate() {
            let (input, output) = download.clone().expect("a channel for every downloader");
            downloaders.push(spawn.thread(format!("downloader-{i}"), move || {
                downloader.run(input, output)
            }));
        }
        let mut followers = Vec::new();
        for (i, follower) in parts.followers.into_iter().enumerate() {
            let (input, output) = follow.clone().expect("a channel for every follower");
            followers
                .push(spawn.thread(format!("follower-{i}"), move || follower.run(input, output)));
        }
        let mut parsers = Vec::new();
        for (i, parser) in parts.parsers.into_iter().enumerate() {
            let (html_rx, items_tx) = (html_rx.clone(), items_tx.clone());
            parsers
                .push(spawn.thread(format!("parser-{i}"), move || parser.run(html_rx, items_tx)));
        }
        let mut crawlers = Vec::new();
        for (i, crawler) in parts.crawlers.into_iter().enumerate() {
            let (pages_rx, html_tx) = (pages_rx.clone(), html_tx.clone());
            crawlers.push(spawn.thread(format!("crawler-{i}"), move || {
                crawler.run(pages_rx, html_tx)
            }));
        }
        let listener = parts.listener.map(|listener| {
            spawn.thread("listener", move || {
                listener.run(committed_rx, writer_done_rx)
            })
        });
        let feeder = spawn.thread("feeder", move || parts.source.run(pages_tx));
        // Our copies must go now, or the channels would never disconnect.
        drop((pages_rx, html_tx, html_rx, items_tx, follow, download));
        let watch = Builder::new()
            .name("grace".into())
            .spawn_scoped(s, move || {
                grace::watch(shutdown, grace, &crawlers_done_rx, abandon)
            })
            .inspect_err(|err| warn!("no grace deadline: spawning its thread failed: {err}"));

        let mut joined = Joined::default();
        if let Some(err) = spawn.error {
            shutdown.request();
            joined.failures.push(format!("spawning a thread: {err}"));
        }
        // In the order the stages end: feeder, crawlers, parsers, writer, listener.
        join(feeder, &mut joined.failures);
        for crawler in crawlers {
            join(crawler, &mut joined.failures);
        }
        for parser in parsers {
            join(parser, &mut joined.failures);
        }
        for follower in followers {
            join(follower, &mut joined.failures);
        }
        for downloader in downloaders {
            join(downloader, &mut joined.failures);
        }
        // Every request is done: the grace watch has nothing left to guard.
        drop(crawlers_done);
        match join(writer, &mut joined.failures) {
            Some(Ok(report)) => joined.report = Some(report),
            Some(Err(err)) => joined.failures.push(format!("{err:#}")),
            None => {}
        }
        // The writer is done: a listener gives what is left a deadline.
        drop(writer_done);
        if let Some(listener) = listener {
            join(listener, &mut joined.failures);
        }
        if let Ok(watch) = watch {
            let _ = watch.join();
        }
        joined
    })
}
