//! The pipeline of one round: channels, threads and join order, nothing else.
//!
//! ```text
//! feeder ─pages─▶ N crawlers ─html─▶ M parsers ─items─▶ writer ─committed─▶ listener
//! ```
//!
//! Every stage is built by the caller before any thread starts ([`Parts`]); this function makes
//! the bounded channels, gives each thread its own clones of the ends it uses, drops its own
//! originals right after spawning (so each channel disconnects exactly when the last thread of
//! the stage before it ends), and joins every thread in pipeline order, turning a panic or the
//! writer's error into a failure instead of a hang. One file per stage (`feeder.rs`,
//! `crawl.rs`, `parse.rs`, `write.rs`); what flows between them is in `message.rs`.

use std::thread::Builder;
use std::time::Duration;

use crossbeam_channel::bounded;
use log::warn;

pub(crate) mod budget;
pub(crate) mod crawl;
pub(crate) mod feeder;
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
    /// Writes and commits.
    pub writer: Writer,
    /// Hears of every commit (the shared frontier's acker), if anyone needs to.
    pub listener: Option<Box<dyn Listener>>,
    /// The capacities of the channels.
    pub queues: QueuesConfig,
    /// How long requests in flight get after a stop, and what abandons them after that.
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

/// Runs `parts` until every thread has ended; `shutdown` is raised if a thread cannot be spawned.
pub(crate) fn run(parts: Parts, shutdown: &Shutdown) -> Joined {
    let q = parts.queues;
    let (pages_tx, pages_rx) = bounded(q.pages.get());
    let (html_tx, html_rx) = bounded(q.html.get());
    // Bounded in pages and in bytes: a page of many items weighs what it holds.
    let (items_tx, items_rx) = budget::channel(q.items.get(), q.items_bytes.get(), Parsed::weight);
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
        drop((pages_rx, html_tx, html_rx, items_tx));
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
        // Every request is done: the grace watch has nothing left to guard.
        drop(crawlers_done);
        for parser in parsers {
            join(parser, &mut joined.failures);
        }
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
