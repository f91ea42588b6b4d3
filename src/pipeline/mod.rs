//! Wires feeder → crawlers → parsers → writer with bounded channels, runs them, joins them.
//!
//! Every worker is built before any thread is spawned, each with its own clone of the channel
//! ends it uses; this function drops its own originals right after spawning, so that each channel
//! disconnects exactly when the last thread of the stage before it ends. It joins every thread, in
//! pipeline order, and turns a panic or an error into a failure in the [`Outcome`] instead of a
//! hang. It does not install signal handlers: the caller owns the [`Shutdown`] flag.
//!
//! One call is one crawl of the page range: a *round*. A scheduled service (see
//! [`crate::cli::service`]) calls it once per round; the journal says whether a call resumes an
//! unfinished round or starts the next one, and this function records the round's end.

pub mod budget;
pub mod feeder;
pub mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use crossbeam_channel::{RecvTimeoutError, select};
use log::{error, info, warn};

use crate::ExitCode;
use crate::cli::progress::Progress;
use crate::cli::status::Status;
use crate::config::Config;
use crate::config::FrontierConfig;
use crate::extract::{Parsed, Parser, panic_text as panic_message};
use crate::frontier::{self, Acker, Keys, Leases, Link, RedisFeeder, Seeded, SharedSeen};
use crate::http::client::{BodyPool, Crawler, Pacer, build_agent};
use crate::http::policy::Policy;
use crate::listing::{InOrder, Limits, Listing, ListingEnd, Unordered};
use crate::pipeline::feeder::Feeder;
use crate::pipeline::write::{LineEncoder, Shared, Writer, WriterReport, open_output};
use crate::shutdown::{OutputLock, Shutdown};
use crate::stats::{self, Report, Stats, Summary};
use crate::store::journal::{self, Journal, Record};
use crate::store::resume::{Files, Mode};
use crate::store::seen::SeenSet;

/// How a crawl ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The final counters.
    pub summary: Summary,
    /// Whether shutdown was requested before the crawl finished.
    pub interrupted: bool,
    /// Stage failures: panics, and the writer's error. Empty when every stage ended cleanly.
    pub failures: Vec<String>,
    /// Where the listing ends, in "until empty" mode: the first page that is empty, answered
    /// 404 or 410, or repeated the page before it.
    pub end_of_listing: Option<u64>,
    /// Why an "until empty" crawl stopped before the end of its listing (failed pages in a row,
    /// `site.max_pages`, an empty first page), if it did.
    pub stopped: Option<String>,
    /// Pages that failed in this run after their retries, with the reason. The state keeps them,
    /// and the next run tries them again.
    pub failed_pages: BTreeMap<u64, String>,
    /// Pages committed by earlier runs and skipped by this one.
    pub resumed_pages: u64,
    /// The round this crawl was (1 for a first crawl).
    pub round: u64,
    /// When the round started (an earlier run's time, if this one resumed it), in milliseconds
    /// since the Unix epoch.
    pub round_started_ms: u64,
    /// Whether the round finished and its end is recorded, so that the next scheduled round
    /// starts afresh.
    pub round_ended: bool,
}

/// How a crawl fits into the process around it.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Part of a scheduled service: a finished round in the state starts the next one, a
    /// changed config starts a new round instead of being refused, and a round with failed pages
    /// still ends (the next round fetches them again). See [`Mode::Rounds`].
    pub scheduled: bool,
    /// Where the round's counters are published for the metrics endpoint.
    pub status: Option<Arc<Status>>,
    /// The terminal's progress bar, when stderr is one.
    pub progress: Option<Progress>,
}

impl Outcome {
    /// The process exit code this outcome calls for.
    pub fn exit_code(&self) -> ExitCode {
        if !self.failures.is_empty() {
            ExitCode::Error
        } else if self.interrupted {
            ExitCode::Interrupted
        } else if !self.failed_pages.is_empty() || self.stopped.is_some() {
            ExitCode::PagesFailed
        } else {
            ExitCode::Success
        }
    }
}

/// A spawned thread and the name used to report it.
struct Worker<T> {
    /// Thread name, e.g. `crawler-2`.
    name: String,
    /// Its handle.
    handle: JoinHandle<T>,
}

/// Spawned threads, kept so that every one is joined whatever happens.
#[derive(Default)]
struct Threads {
    /// Feeder, crawlers and parsers, in pipeline order.
    stages: Vec<Worker<()>>,
    /// The writer, joined last.
    writer: Option<Worker<Result<WriterReport>>>,
    /// The first spawn error, if any.
    spawn_error: Option<std::io::Error>,
}

impl Threads {
    fn spawn(&mut self, name: String, f: impl FnOnce() + Send + 'static) {
        if self.spawn_error.is_some() {
            return; // Dropping `f` drops its channel ends, which winds the others down.
        }
        match std::thread::Builder::new().name(name.clone()).spawn(f) {
            Ok(handle) => self.stages.push(Worker { name, handle }),
            Err(err) => self.spawn_error = Some(err),
        }
    }
}

/// Runs one crawl as `config` says, until it is done or `shutdown` is requested.
///
/// Setup errors (the output file cannot be opened, a thread cannot be spawned) are returned as
/// `Err`; everything that happens once the threads run ends up in the [`Outcome`].
pub fn run(config: &Config, shutdown: &Shutdown, output_lock: &OutputLock) -> Result<Outcome> {
    run_with(config, shutdown, output_lock, &RunOptions::default())
}

/// [`run`], as one round of a service: see [`RunOptions`].
pub fn run_with(
    config: &Config,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
    options: &RunOptions,
) -> Result<Outcome> {
    if let Some(why) = config.extract.stream_unavailable() {
        warn!(
            "`extract.engine` is \"stream\", but every page will be parsed into a full document \
             tree (the slower DOM engine): the streaming matcher does not support the selector {why}"
        );
    }
    // A shared frontier: reachable and seeded now, or a clear error before anything starts.
    let mut shared = match &config.frontier {
        FrontierConfig::Local => None,
        FrontierConfig::Redis(redis) => {
            let mut link = Link::connect(redis)?;
            let keys = Keys::new(&redis.name);
            match frontier::seed(&mut link, config, &keys, false)? {
                Seeded::Now(pages) => {
                    info!("frontier {}: seeded the crawl ({pages} pages)", keys.pages)
                }
                Seeded::Already { .. } => info!("frontier {}: joining the crawl", keys.pages),
            }
            Some((redis.clone(), keys, link))
        }
    };
    let dedup = config.output.dedup.as_ref();
    let seen_path = dedup.map(|_| config.output.seen.as_path());
    for path in [&config.output.path, &config.output.state]
        .into_iter()
        .chain(seen_path.map(|_| &config.output.seen))
    {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating output folder {}", parent.display()))?;
        }
    }
    // Recovery first: it may cut the output back before we append to it.
    let files = Files {
        output: &config.output.path,
        state: &config.output.state,
        seen: seen_path,
    };
    let mode = if options.scheduled {
        Mode::Rounds
    } else {
        Mode::Resume
    };
    let opened = Journal::open_round(&files, &config.fingerprint(), mode)?;
    let recovery = opened.recovery;
    let round = recovery.round;
    let recovery_started_ms = recovery.started_ms;
    // Pages a crash left committed here but unacknowledged: done, for every daemon.
    if let Some((_, keys, link)) = &mut shared {
        frontier::reconcile(link, keys, &recovery.committed)?;
    }
    let shared = shared.map(|(redis, keys, _)| (redis, keys));
    let dedup = match (dedup, seen_path, &shared) {
        (Some(dedup), Some(path), None) => Some((SeenSet::open(path)?, dedup.index)),
        _ => None,
    };
    let file = open_output(&config.output.path)?;
    let out_len = file
        .metadata()
        .with_context(|| format!("reading {}", config.output.path.display()))?
        .len();
    let in_range =
        |p: &u64| *p >= config.site.first_page && config.site.last_page.is_none_or(|l| *p <= l);
    let committed: BTreeSet<u64> = recovery
        .committed
        .iter()
        .copied()
        .filter(in_range)
        .collect();
    if !committed.is_empty() || !recovery.failed.is_empty() {
        info!(
            "resuming from {}: {} pages already committed; {} failed earlier and are tried again",
            config.output.state.display(),
            committed.len(),
            recovery.failed.len()
        );
    }
    let planned = match shared {
        // The range is shared: how much of it is this daemon's is not known.
        Some(_) => None,
        None => config
            .site
            .page_count()
            .map(|n| n.saturating_sub(committed.len() as u64)),
    };
    let stats = Stats::new(
        planned,
        options
            .status
            .as_ref()
            .map_or_else(stats::fetch_latency_histogram, |s| s.fetch_latency()),
    );
    if let Some(status) = &options.status {
        status.round_started(round, stats.clone());
    }
    let until_empty = config.site.last_page.is_none();
    let end = Arc::new(ListingEnd::default());
    // An end recorded with a known range (by an older pagecrawl) is not one: every page of a
    // known range is crawled.
    let recorded_end = recovery.end.filter(|_| until_empty);
    if let Some(page) = recorded_end {
        end.observe_empty(page);
    }
    let resumed_pages = committed.len() as u64;
    let crawlers = config.threads.crawlers.get();
    let parsers = config.threads.parsers.get();

    let (pages_tx, pages_rx) = crossbeam_channel::bounded(config.queues.pages.get());
    let (html_tx, html_rx) = crossbeam_channel::bounded(config.queues.html.get());
    // Bounded in pages and in bytes: a page of many items weighs what it holds.
    let (items_tx, items_rx) = budget::channel(
        config.queues.items.get(),
        config.queues.items_bytes.get(),
        Parsed::weight,
    );

    // The shared frontier's threads: its feeder, and the acker that the writer reports to.
    let leases = Arc::new(Leases::default());
    let (wind_down, wind_down_rx) = crossbeam_channel::bounded::<()>(0);
    let (acker, writer_shared, redis_feeder) = match &shared {
        None => (None, None, None),
        Some((redis, keys)) => {
            let (acks_tx, acks_rx) = crossbeam_channel::bounded(config.queues.items.get());
            let acker = Acker {
                link: Link::connect(redis)?,
                keys: keys.clone(),
                leases: leases.clone(),
                shutdown: shutdown.clone(),
                wind_down: wind_down_rx.clone(),
            };
            let dedup = match &config.output.dedup {
                Some(dedup) => Some((
                    SharedSeen {
                        link: Link::connect(redis)?,
                        key: keys.seen.clone(),
                        shutdown: shutdown.clone(),
                    },
                    dedup.index,
                    HashSet::new(),
                )),
                None => None,
            };
            let feeder = RedisFeeder {
                link: Link::connect(redis)?,
                keys: keys.clone(),
                consumer: frontier::consumer_name(),
                lease: redis.lease,
                leases: leases.clone(),
                shutdown: shutdown.clone(),
                end: end.clone(),
                stats: stats.clone(),
                until_empty,
                max_page: config.site.max_page(),
                guard: shutdown.panic_guard("feeder"),
            };
            (
                Some((acker, acks_rx)),
                Some(Shared {
                    acks: acks_tx,
                    dedup,
                }),
                Some(feeder),
            )
        }
    };
    drop(wind_down_rx);

    // "Until empty": the writer puts pages in order, and the feeder stays a window of credits
    // ahead of it: enough to keep every stage busy, few enough to hold little past the end.
    let limits = Limits {
        first_page: config.site.first_page,
        max_page: config.site.max_page(),
        max_failed_in_a_row: config.site.max_failed_in_a_row,
    };
    let (listing, credits) = match (until_empty, &shared) {
        (false, _) => (Listing::Range, None),
        (true, Some(_)) => (
            Listing::Unordered(Unordered::new(limits, end.clone(), stats.clone())),
            None,
        ),
        (true, None) => {
            let window =
                2 * (config.queues.pages.get() + crawlers + config.queues.html.get()) + 2 * parsers;
            let (credits_tx, credits_rx) = crossbeam_channel::bounded(window);
            for _ in 0..window {
                // Cannot fail: the channel has room for exactly these.
                let _ = credits_tx.try_send(());
            }
            let order = InOrder::new(
                limits,
                committed.clone(),
                recovery.tail,
                recorded_end,
                credits_tx,
                end.clone(),
                stats.clone(),
            );
            (Listing::InOrder(Box::new(order)), Some(credits_rx))
        }
    };
    let mut skip = committed;
    // The page that ended the listing is not committed; it is not fetched again either.
    skip.extend(recorded_end);

    // Build every worker before spawning any, so a failure here leaves nothing running.
    let writer = Writer {
        file,
        path: config.output.path.clone(),
        len: out_len,
        journal: opened.journal,
        sync: config.output.sync,
        encoder: LineEncoder::new(config.extract.field_names()),
        lock: output_lock.clone(),
        stats: stats.clone(),
        listing,
        shutdown: shutdown.clone(),
        dedup,
        shared: writer_shared,
        guard: shutdown.panic_guard("writer"),
    };
    let extractor = Arc::new(config.extract.clone());
    let bodies = Arc::new(BodyPool::new(crawlers + config.queues.html.get() + parsers));
    let parser_workers: Vec<Parser> = (0..parsers)
        .map(|i| Parser {
            extractor: extractor.clone(),
            stats: stats.clone(),
            end: until_empty.then(|| end.clone()),
            bodies: bodies.clone(),
            guard: shutdown.panic_guard(format!("parser-{i}")),
        })
        .collect();
    let policy = Arc::new(Policy::for_site(
        &config.site.url_of(config.site.first_page),
        config.http.follow_offsite_redirects,
    ));
    let agent = build_agent(&config.http, crawlers, policy.clone());
    let pacer = Arc::new(Pacer::new(config.http.delay));
    let crawler_workers: Vec<Crawler> = (0..crawlers)
        .map(|i| Crawler {
            agent: agent.clone(),
            http: config.http.clone(),
            site: config.site.clone(),
            pacer: pacer.clone(),
            policy: policy.clone(),
            shutdown: shutdown.clone(),
            end: end.clone(),
            stats: stats.clone(),
            bodies: bodies.clone(),
            guard: shutdown.panic_guard(format!("crawler-{i}")),
        })
        .collect();
    let feeder = Feeder {
        skip,
        first_page: config.site.first_page,
        last_page: config.site.last_page,
        max_page: config.site.max_page(),
        credits,
        shutdown: shutdown.clone(),
        end: end.clone(),
        stats: stats.clone(),
        guard: shutdown.panic_guard("feeder"),
    };

    info!(
        "crawling {} (pages {}..{}) with {crawlers} crawlers and {parsers} parsers into {}",
        config.site.url.as_str(),
        config.site.first_page,
        config
            .site
            .last_page
            .map_or("the end of the listing".to_string(), |l| l.to_string()),
        config.output.path.display()
    );

    let mut threads = Threads::default();
    match std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || writer.run(items_rx))
    {
        Ok(handle) => {
            threads.writer = Some(Worker {
                name: "writer".into(),
                handle,
            })
        }
        Err(err) => threads.spawn_error = Some(err),
    }
    for (i, parser) in parser_workers.into_iter().enumerate() {
        let (html_rx, items_tx) = (html_rx.clone(), items_tx.clone());
        threads.spawn(format!("parser-{i}"), move || parser.run(html_rx, items_tx));
    }
    for (i, crawler) in crawler_workers.into_iter().enumerate() {
        let (pages_rx, html_tx) = (pages_rx.clone(), html_tx.clone());
        threads.spawn(format!("crawler-{i}"), move || {
            crawler.run(pages_rx, html_tx)
        });
    }
    let acker = acker.and_then(|(acker, acks_rx)| {
        std::thread::Builder::new()
            .name("acker".into())
            .spawn(move || acker.run(acks_rx))
            .map_err(|err| threads.spawn_error = Some(err))
            .ok()
    });
    match redis_feeder {
        Some(feeder) => threads.spawn("feeder".into(), move || feeder.run(pages_tx)),
        None => threads.spawn("feeder".into(), move || feeder.run(pages_tx)),
    }
    // Our copies must go now, or the channels would never disconnect.
    drop((pages_rx, html_tx, html_rx, items_tx));

    // The grace deadline: once a stop is requested, requests in flight get this long, then the
    // agent's connections are shut down under them. Dropping `crawlers_done` ends the watch.
    let (crawlers_done, crawlers_done_rx) = crossbeam_channel::bounded::<()>(0);
    let watchdog = {
        let (shutdown, grace) = (shutdown.clone(), config.http.shutdown_grace);
        std::thread::Builder::new()
            .name("grace".into())
            .spawn(move || {
                select! {
                    recv(crawlers_done_rx) -> _ => return,
                    recv(shutdown.waker()) -> _ => {}
                }
                if let Err(RecvTimeoutError::Timeout) = crawlers_done_rx.recv_timeout(grace) {
                    warn!(
                        "the grace period ({:.1}s) is over: abandoning requests in flight; \
                         their pages are not committed and will be fetched next time",
                        grace.as_secs_f64()
                    );
                    agent.shutdown();
                }
            })
            .inspect_err(|err| warn!("no grace deadline: spawning its thread failed: {err}"))
            .ok()
    };

    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let bar = options
        .progress
        .as_ref()
        .map(|progress| progress.bar(stats.snapshot().planned, round));
    let report = match (bar, config.log.stats_interval) {
        (Some(bar), _) => Some(Report::Bar(bar)),
        (None, Some(interval)) => Some(Report::Lines(interval)),
        (None, None) => None,
    };
    let reporter = match report {
        // A missing progress line is not worth failing the crawl for.
        Some(report) => stats::spawn_reporter(stats.clone(), report, done_rx)
            .inspect_err(|err| warn!("no progress report: spawning its thread failed: {err}"))
            .ok(),
        None => None,
    };

    let mut failures = Vec::new();
    if let Some(err) = threads.spawn_error.take() {
        shutdown.request();
        failures.push(format!("spawning a thread: {err}"));
    }
    // Feeder first, then crawlers, then parsers: the order in which they end (they were spawned
    // the other way round, so that each stage's consumer existed before its producer).
    let mut crawlers_done = Some(crawlers_done);
    for worker in threads.stages.into_iter().rev() {
        if worker.name.starts_with("parser") {
            // Every request is done: the grace watch has nothing left to guard.
            crawlers_done.take();
        }
        if let Err(panic) = worker.handle.join() {
            failures.push(format!(
                "{} panicked: {}",
                worker.name,
                panic_message(&*panic)
            ));
        }
    }
    let mut report = WriterReport::default();
    if let Some(worker) = threads.writer {
        match worker.handle.join() {
            Ok(Ok(r)) => report = r,
            Ok(Err(err)) => failures.push(format!("{err:#}")),
            Err(panic) => failures.push(format!(
                "{} panicked: {}",
                worker.name,
                panic_message(&*panic)
            )),
        }
    }
    // The writer is done: the acker handles what it was sent, giving Redis a deadline.
    drop(wind_down);
    if let Some(acker) = acker
        && let Err(panic) = acker.join()
    {
        failures.push(format!("acker panicked: {}", panic_message(&*panic)));
    }
    drop(done_tx);
    drop(crawlers_done);
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    if let Some(reporter) = reporter
        && reporter.join().is_err()
    {
        failures.push("the stats reporter panicked".to_string());
    }

    // The round is over only if every page got its chance. In a single crawl, failed pages
    // (or a stop before the end of the listing) keep it open for the next run to retry; a
    // service fetches them again next round anyway.
    let interrupted = shutdown.is_requested();
    let stopped = end.stop_reason();
    let complete = report.failed.is_empty() && stopped.is_none();
    let mut round_ended = false;
    if failures.is_empty()
        && !interrupted
        && (options.scheduled || complete)
        && let Some(mut journal) = report.journal.take()
    {
        let _whole = output_lock.lock();
        let record = Record::RoundEnd {
            round,
            at_ms: journal::now_ms(),
        };
        match journal.append(&record, true) {
            Ok(()) => round_ended = true,
            Err(err) => failures.push(format!(
                "writing state file {}: {err}",
                journal.path().display()
            )),
        }
    }

    let summary = stats.snapshot();
    if let Some(status) = &options.status {
        status.round_finished(summary.elapsed);
    }
    for failure in &failures {
        error!("{failure}");
    }
    let outcome = Outcome {
        summary,
        interrupted,
        failures,
        end_of_listing: report.end,
        stopped,
        failed_pages: report.failed,
        resumed_pages,
        round,
        round_started_ms: recovery_started_ms,
        round_ended,
    };
    info!(
        target: stats::TARGET,
        "summary: {summary} pages_resumed={resumed_pages} round={round}"
    );
    if let Some(reason) = &outcome.stopped {
        warn!(
            target: stats::TARGET,
            "the crawl stopped before the end of the listing: {reason}"
        );
    }
    if !outcome.failed_pages.is_empty() {
        let list: Vec<String> = outcome
            .failed_pages
            .iter()
            .map(|(page, reason)| format!("{page} ({reason})"))
            .collect();
        let when = if options.scheduled {
            "fetched again next round"
        } else {
            "retried by the next run"
        };
        warn!(
            target: stats::TARGET,
            "failed pages, recorded in {} and {when}: {}",
            config.output.state.display(),
            list.join(", ")
        );
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use demo_site::{DemoSite, SiteOptions};

    /// A crawl of the demo site whose URLs tell `stage` to panic (see `parse::inject_panic`).
    fn crawl_with_panic_in(stage: &str) -> Outcome {
        let site = DemoSite::start(SiteOptions {
            pages: 30,
            ..SiteOptions::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = crate::cli::demo::demo_config_toml(
            &format!("{}&pagecrawl-test-panic={stage}", site.url_template()),
            29,
            &dir.path().join("out.jsonl"),
        )
        .replace("stats_interval_secs = 5", "stats_interval_secs = 0");
        let config = Config::from_toml(&text).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let outcome = run(&config, &Shutdown::new(), &OutputLock::default());
            let _ = tx.send(outcome.unwrap());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("a {stage} panic hung the pipeline"))
    }

    #[test]
    fn a_parser_panic_costs_the_page_not_the_crawl() {
        let outcome = crawl_with_panic_in("parser");
        assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        assert_eq!(outcome.failed_pages.len(), 30);
        assert!(
            outcome.failed_pages[&0].contains("parser panicked: injected parser panic"),
            "{:?}",
            outcome.failed_pages
        );
    }

    #[test]
    fn a_panic_in_any_stage_stops_the_crawl_and_is_reported() {
        for stage in ["crawler", "writer"] {
            let outcome = crawl_with_panic_in(stage);
            assert_eq!(outcome.exit_code(), ExitCode::Error, "{stage}");
            assert!(
                outcome
                    .failures
                    .iter()
                    .any(|f| f.contains(stage) && f.contains("injected")),
                "{stage}: {:?}",
                outcome.failures
            );
            // Every thread of the stage panics on its first page, before doing its work.
            match stage {
                "crawler" => assert_eq!(outcome.summary.fetched, 0),
                _ => assert_eq!(outcome.summary.written_pages, 0),
            }
        }
    }
}
