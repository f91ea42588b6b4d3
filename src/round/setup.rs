//! Everything a round needs before its first thread starts: the shared frontier joined, the state
//! opened (recovering the output and the seen-set), the output opened, the listing's mode
//! chosen, and every stage built. A failure here is returned before anything runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use log::{info, warn};

use super::RunOptions;
use crate::config::{Config, FILES_KEY, FrontierConfig, SyncMode};
use crate::extract::Extractor;
use crate::frontier::SharedCrawl;
use crate::http::{BodyPool, Client};
use crate::pipeline::crawl::Crawler;
use crate::pipeline::download::Downloader;
use crate::pipeline::feeder::Feeder;
use crate::pipeline::follow::Follower;
use crate::pipeline::listing::{InOrder, Limits, Listing, ListingEnd, Unordered};
use crate::pipeline::parse::Parser;
use crate::pipeline::selector_warnings::SelectorWarnings;
use crate::pipeline::stage::{Context, Listener, Source};
use crate::pipeline::write::Writer;
use crate::pipeline::{Observer, Parts, Silent};
use crate::shutdown::{OutputLock, Shutdown};
use crate::stats::Stats;
use crate::store::dedup::Dedup;
use crate::store::files::sweep_stale_parts;
use crate::store::journal::{Fingerprint, Journal};
use crate::store::output::{LineEncoder, create_parent, open_output};
use crate::store::resume::{Files, Mode, Opened};
use crate::store::seen::SeenSet;

/// A round, ready to run.
pub(super) struct Prepared {
    /// Its threads.
    pub parts: Parts,
    /// Its counters.
    pub stats: Arc<Stats>,
    /// The end of its listing, as far as it will be known.
    pub end: Arc<ListingEnd>,
    /// Its number.
    pub round: u64,
    /// When it started (an earlier run's time, if this one resumes it).
    pub started_ms: u64,
    /// Pages committed by earlier runs, skipped.
    pub resumed_pages: u64,
}

/// Sets up one round of `config`, as `options` says.
pub(super) fn prepare(
    config: &Config,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
    options: &RunOptions,
) -> Result<Prepared> {
    if let Some(why) = config.extract.stream_unavailable() {
        warn!(
            "`extract.engine` is \"stream\", but every page will be parsed into a full document \
             tree (the slower DOM engine): the streaming matcher does not support the selector {why}"
        );
    }
    // A shared frontier: reachable and seeded now, or a clear error before anything starts.
    let mut shared = match &config.frontier {
        FrontierConfig::Local => None,
        FrontierConfig::Redis(redis) => Some(SharedCrawl::join(redis, config)?),
    };
    let output = &config.output;
    let seen_path = output.dedup.as_ref().map(|_| output.seen.as_path());
    create_parent(&output.state)?;
    if let Some(path) = seen_path {
        create_parent(path)?;
    }
    // Recovery first: it may cut the output back before we append to it.
    let files = Files {
        output: &output.path,
        state: &output.state,
        seen: seen_path,
    };
    let mode = if options.scheduled {
        Mode::Rounds
    } else {
        Mode::Resume
    };
    let Opened { journal, recovery } = Journal::open_round(&files, &Fingerprint::of(config), mode)?;
    // Pages a crash left committed here but unacknowledged: done, for every daemon.
    if let Some(shared) = &mut shared {
        shared.reconcile(&recovery.committed)?;
    }
    let dedup = match (&output.dedup, seen_path, &shared) {
        (None, ..) => Dedup::Off,
        (Some(dedup), Some(path), None) => Dedup::Local {
            set: SeenSet::open(path)?,
            index: dedup.index,
        },
        (Some(dedup), _, Some(shared)) => Dedup::Shared {
            set: Box::new(shared.seen(shutdown)?),
            index: dedup.index,
            ours: Default::default(),
            pending: Vec::new(),
        },
        (Some(_), None, None) => unreachable!("a dedup field always has a seen-set path"),
    };
    if let Some(download) = &config.download {
        prepare_download_dir(&download.dir)?;
    }
    let file = open_output(&output.path)?;
    let out_len = file
        .metadata()
        .with_context(|| format!("reading {}", output.path.display()))?
        .len();

    let site = &config.site;
    let in_range = |p: &u64| *p >= site.first_page && site.last_page.is_none_or(|l| *p <= l);
    let committed: BTreeSet<u64> = recovery
        .committed
        .iter()
        .copied()
        .filter(in_range)
        .collect();
    if !committed.is_empty() || !recovery.failed.is_empty() {
        info!(
            "resuming from {}: {} pages already committed; {} failed earlier and are tried again",
            output.state.display(),
            committed.len(),
            recovery.failed.len()
        );
    }
    let planned = match shared {
        // The range is shared: how much of it is this daemon's is not known.
        Some(_) => None,
        None => site
            .page_count()
            .map(|n| n.saturating_sub(committed.len() as u64)),
    };
    let observer: &dyn Observer = options.observer.as_deref().unwrap_or(&Silent);
    let stats = Stats::new(planned, observer.fetch_latency());
    observer.round_started(recovery.round, config, &stats);

    let until_empty = site.last_page.is_none();
    let end = Arc::new(ListingEnd::default());
    // An end recorded with a known range (by an older pagecrawl) is not one: every page of a
    // known range is crawled.
    let recorded_end = recovery.end.filter(|_| until_empty);
    if let Some(page) = recorded_end {
        end.observe_empty(page);
    }
    let context = Context {
        shutdown: shutdown.clone(),
        stats: stats.clone(),
        end: end.clone(),
    };
    let (crawlers, parsers) = (config.threads.crawlers.get(), config.threads.parsers.get());

    // "Until empty": the writer puts pages in order, and the feeder stays a window of credits
    // ahead of it: enough to keep every stage busy, few enough to hold little past the end.
    let limits = Limits {
        first_page: site.first_page,
        max_page: site.max_page(),
        max_failed_in_a_row: site.max_failed_in_a_row,
    };
    let (listing, credits) = match (until_empty, &shared) {
        (false, _) => (Listing::Range, None),
        (true, Some(_)) => (
            Listing::Unordered(Unordered::new(limits, end.clone(), stats.clone())),
            None,
        ),
        (true, None) => {
            let q = &config.queues;
            // The detail crawlers and downloaders hold pages too, each with a queue in front.
            let follow_ups = [config.follow.is_some(), config.download.is_some()];
            let held = follow_ups.iter().filter(|&&on| on).count() * q.html.get()
                + config.follow.as_ref().map_or(0, |f| f.crawlers.get())
                + config.download.as_ref().map_or(0, |d| d.threads.get());
            let window = 2 * (q.pages.get() + crawlers + q.html.get() + held) + 2 * parsers;
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

    // Where pages come from: the shared frontier's feeder (and its acker, to hear of commits),
    // or this process's own range.
    let (source, listener): (Box<dyn Source>, Option<Box<dyn Listener>>) = match shared {
        Some(shared) => {
            let (feeder, acker) = shared.threads(config, context.stage("feeder"))?;
            (Box::new(feeder), Some(Box::new(acker)))
        }
        None => {
            let mut skip = committed.clone();
            // The page that ended the listing is not committed; it is not fetched again either.
            skip.extend(recorded_end);
            let feeder = Feeder {
                skip,
                first_page: site.first_page,
                last_page: site.last_page,
                max_page: site.max_page(),
                credits,
                stage: context.stage("feeder"),
            };
            (Box::new(feeder), None)
        }
    };

    // Items written before need no follow-ups: the writer drops them.
    let written = match (&config.follow, &config.download) {
        (None, None) => None,
        _ => dedup.already_written(),
    };
    let writer = Writer {
        file,
        path: output.path.clone(),
        len: out_len,
        journal,
        sync: output.sync,
        encoder: match &config.download {
            None => LineEncoder::new(config.item_fields()),
            // The download stage adds `files` after every other field.
            Some(_) => LineEncoder::new(config.item_fields().into_iter().chain([FILES_KEY])),
        },
        lock: output_lock.clone(),
        listing,
        dedup,
        stage: context.stage("writer"),
    };
    let extractor: Arc<Extractor> = Arc::new(config.extract.clone());
    let bodies = Arc::new(BodyPool::new(crawlers + config.queues.html.get() + parsers));
    let warnings = Arc::new(SelectorWarnings::new(&config.extract, site));
    let parsers = (0..parsers)
        .map(|i| Parser {
            warnings: warnings.clone(),
            extractor: extractor.clone(),
            bodies: bodies.clone(),
            until_empty,
            stage: context.stage(format!("parser-{i}")),
        })
        .collect();
    let follow_threads = config.follow.as_ref().map_or(0, |f| f.crawlers.get());
    let download_threads = config.download.as_ref().map_or(0, |d| d.threads.get());
    let requesters = crawlers + follow_threads + download_threads;
    let client = Client::new(&config.http, site, requesters, bodies.clone());
    let crawler_threads = (0..crawlers)
        .map(|i| Crawler {
            client: client.clone(),
            site: site.clone(),
            stage: context.stage(format!("crawler-{i}")),
        })
        .collect();
    // Raised at the end of the grace period: the follow-ups of pages already fetched stop then.
    let give_up = Shutdown::new();
    let followers = match &config.follow {
        None => Vec::new(),
        Some(follow) => {
            let extractor = Arc::new(follow.extract.clone());
            (0..follow_threads)
                .map(|i| Follower {
                    client: client.clone(),
                    extractor: extractor.clone(),
                    index: follow.index,
                    hosts: follow.hosts.clone(),
                    bodies: bodies.clone(),
                    give_up: give_up.clone(),
                    written: written.clone(),
                    stage: context.stage(format!("follower-{i}")),
                })
                .collect()
        }
    };
    let downloaders = match &config.download {
        None => Vec::new(),
        Some(download) => {
            let fields: Vec<String> = config.item_fields().iter().map(|f| f.to_string()).collect();
            let (download, fields) = (Arc::new(download.clone()), Arc::new(fields));
            (0..download_threads)
                .map(|i| Downloader {
                    client: client.clone(),
                    config: download.clone(),
                    fields: fields.clone(),
                    sync: config.output.sync != SyncMode::Never,
                    give_up: give_up.clone(),
                    written: written.clone(),
                    stage: context.stage(format!("downloader-{i}")),
                })
                .collect()
        }
    };

    info!(
        "crawling {} (pages {}..{}) with {crawlers} crawlers and {} parsers into {}",
        site.url.as_str(),
        site.first_page,
        site.last_page
            .map_or("the end of the listing".to_string(), |l| l.to_string()),
        config.threads.parsers,
        output.path.display()
    );
    Ok(Prepared {
        parts: Parts {
            source,
            listener,
            crawlers: crawler_threads,
            parsers,
            followers,
            downloaders,
            writer,
            queues: config.queues,
            grace: (
                config.http.shutdown_grace,
                Box::new(move || {
                    give_up.request();
                    client.abandon();
                }),
            ),
        },
        stats,
        end,
        round: recovery.round,
        started_ms: recovery.started_ms,
        resumed_pages: committed.len() as u64,
    })
}

/// Creates `download.dir` if missing, and removes the temporaries that downloads killed
/// mid-way (`kill -9`, a power cut) left there: older than this round's start, so none of a
/// live process.
fn prepare_download_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating download.dir {}", dir.display()))?;
    let removed = sweep_stale_parts(dir, std::time::SystemTime::now())
        .with_context(|| format!("sweeping temporary files in download.dir {}", dir.display()))?;
    if !removed.is_empty() {
        info!(
            "removed {} unfinished downloads from {} (a crawl stopped mid-way): they are \
             downloaded again",
            removed.len(),
            dir.display()
        );
    }
    Ok(())
}
