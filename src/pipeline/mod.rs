//! The pipeline of one round: its channels, its threads and their join order.
//!
//! ```text
//! feeder ─pages─▶ N crawlers ─html─▶ M parsers ─items─▶ [detail crawlers ─items─▶]
//!                    └──── pages without a body ───┘
//!        [downloaders ─items─▶] writer ─committed─▶ listener
//!    ▲                                                 │
//!    └──────────────── credits ("until empty") ◀───────┘
//! ```
//!
//! On a listing paged by next links (`site.next`) the feeder is `chain.rs`'s: it sends a page
//! once the parsers have reported the page before it, with the URL that page names.
//!
//! The stages in brackets run only when configured (`[follow]`, `[download]`); absent, their
//! channel is not made and the stage before sends straight on. It is still a chain, so every
//! stage ends when its input is disconnected and drained.
//!
//! [`run`] makes what the stages share (the end of the listing, the credit loop), has every
//! stage built before any thread starts (`build.rs`: each from its own config section), makes
//! the bounded channels, gives each thread its own clones of the ends it uses, drops its own
//! originals right after spawning (so each channel disconnects exactly when the last thread of
//! the stage before it ends), and joins every thread in pipeline order, turning a panic or the
//! writer's error into a failure instead of a hang. One file per stage (`feeder.rs`,
//! `crawl.rs`, `parse.rs`, `follow.rs`, `download.rs`, `write.rs`); what flows between them is
//! in `message.rs`.

use std::sync::Arc;
use std::thread::Builder;
use std::time::Duration;

use anyhow::Result;
use crossbeam_channel::{Receiver, Sender, bounded};
use log::warn;

pub(crate) mod budget;
mod build;
pub(crate) mod chain;
pub(crate) mod crawl;
mod crew;
mod detail_cache;
pub(crate) mod detail_parts;
pub(crate) mod download;
mod error;
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

pub(crate) use build::Round;
pub use error::{DetailError, FileError, PageError, ParseError, StageFailure};
pub(crate) use listing::Resumed;
pub use observer::{Observer, Silent};
pub(crate) use write::Output;

use crate::config::QueuesConfig;
use crate::shutdown::Shutdown;
use budget::Onward;
use build::Stages;
use listing::ListingEnd;
use message::Parsed;
use stage::Context;
use threads::{Spawned, Spawner, join};
use write::WriterReport;

/// What the threads left behind.
#[derive(Default)]
pub(crate) struct Joined {
    /// The writer's report; `None` if it failed or panicked.
    pub report: Option<WriterReport>,
    /// Panics, the writer's error, a thread that could not be spawned. Empty if all went well.
    pub failures: Vec<StageFailure>,
    /// Why an "until empty" crawl stopped before the end of its listing, if it did.
    pub stopped: Option<String>,
}

/// Runs one round until every thread has ended. An error comes before any thread starts (a
/// shared frontier's connection that cannot be made); `shutdown` is raised if a thread cannot
/// be spawned.
pub(crate) fn run(round: Round<'_>, shutdown: &Shutdown) -> Result<Joined> {
    let config = round.config;
    // What the crawl knows of the listing's end, shared by every stage: the feeder stops at
    // it, the crawlers skip pages past it, the parsers and the writer find it.
    let end = Arc::new(ListingEnd::new(round.resumed.end));
    // The writer gives the feeder a credit for each page it writes in page order, so that the
    // feeder stays a window of pages ahead of it ("until empty" on one daemon).
    let credits = round.paced().then(|| build::credits(config));
    let context = build::context(config, shutdown, &round.stats, &end);
    let stages = Stages::build(round, &context, credits)?;
    let mut joined = wire(stages, &context, config.queues, config.http.shutdown_grace);
    joined.stopped = end.stop_reason();
    Ok(joined)
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

/// The round's threads, spawned, in the order they end.
struct Threads<'scope> {
    feeder: Spawned<'scope, ()>,
    crawlers: Vec<Spawned<'scope, ()>>,
    parsers: Vec<Spawned<'scope, ()>>,
    followers: Vec<Spawned<'scope, ()>>,
    downloaders: Vec<Spawned<'scope, ()>>,
    writer: Spawned<'scope, Result<WriterReport>>,
    listener: Option<Spawned<'scope, ()>>,
}

/// Makes the channels, spawns every stage of `stages` on them and joins them all.
fn wire(stages: Stages, context: &Context, q: QueuesConfig, grace: Duration) -> Joined {
    let shutdown = &context.shutdown;
    let (pages_tx, pages_rx) = bounded(q.pages.get());
    let (html_tx, html_rx) = bounded(q.html.get());
    // To the writer: bounded in pages and in bytes, since a page of many items weighs what it
    // holds.
    let (writer_tx, items_rx) = budget::channel(q.items.get(), q.items_bytes.get(), Parsed::weight);
    // Between the parsers and the writer, a channel in front of each stage that is configured,
    // as deep as the html queue: pages wait there for a slow stage, so it is the one to hold
    // the crawl back.
    let mut items_tx = Onward::Budget(writer_tx);
    let download = stage_before(&mut items_tx, !stages.downloaders.is_empty(), q.html.get());
    let follow = stage_before(&mut items_tx, !stages.followers.is_empty(), q.html.get());
    let (committed_tx, committed_rx) = bounded(q.items.get());
    let committed_tx = stages.listener.is_some().then_some(committed_tx);
    let (writer_done, writer_done_rx) = bounded::<()>(0);
    let (crawlers_done, crawlers_done_rx) = bounded::<()>(0);
    let abandon = grace::abandon(context);
    std::thread::scope(|s| {
        let mut spawn = Spawner {
            scope: s,
            error: None,
        };
        // Consumers first, so that each stage's consumer exists before its producer.
        let writer = spawn.thread("writer", move || stages.writer.run(items_rx, committed_tx));
        let downloaders = spawn.each("downloader", stages.downloaders, |d| {
            let (input, output) = download.clone().expect("a channel for every downloader");
            move || d.run(input, output)
        });
        let followers = spawn.each("follower", stages.followers, |f| {
            let (input, output) = follow.clone().expect("a channel for every follower");
            move || f.run(input, output)
        });
        let parsers = spawn.each("parser", stages.parsers, |p| {
            let (html_rx, items_tx) = (html_rx.clone(), items_tx.clone());
            move || p.run(html_rx, items_tx)
        });
        let crawlers = spawn.each("crawler", stages.crawlers, |c| {
            let (pages_rx, html_tx, unparsed) =
                (pages_rx.clone(), html_tx.clone(), items_tx.clone());
            move || c.run(pages_rx, html_tx, unparsed)
        });
        let listener = stages.listener.map(|listener| {
            spawn.thread("listener", move || {
                listener.run(committed_rx, writer_done_rx)
            })
        });
        let feeder = spawn.thread("feeder", move || stages.source.run(pages_tx));
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
            joined.failures.push(StageFailure::Spawn(Arc::new(err)));
        }
        let threads = Threads {
            feeder,
            crawlers,
            parsers,
            followers,
            downloaders,
            writer,
            listener,
        };
        join_all(threads, (crawlers_done, writer_done), &mut joined);
        if let Ok(watch) = watch {
            let _ = watch.join();
        }
        joined
    })
}

/// Joins `threads` in the order the stages end: feeder, crawlers, parsers, detail crawlers,
/// downloaders, writer, listener. `done` disconnects first when every request is over (the
/// grace watch has nothing left to guard), then when the writer is (a listener gives what is
/// left a deadline).
fn join_all(threads: Threads<'_>, done: (Sender<()>, Sender<()>), joined: &mut Joined) {
    let (crawlers_done, writer_done) = done;
    let failures = &mut joined.failures;
    join(threads.feeder, failures);
    let requesters = [
        threads.crawlers,
        threads.parsers,
        threads.followers,
        threads.downloaders,
    ];
    for thread in requesters.into_iter().flatten() {
        join(thread, failures);
    }
    drop(crawlers_done);
    match join(threads.writer, failures) {
        Some(Ok(report)) => joined.report = Some(report),
        Some(Err(err)) => failures.push(StageFailure::Writer(Arc::new(err))),
        None => {}
    }
    drop(writer_done);
    if let Some(listener) = threads.listener {
        join(listener, failures);
    }
}
