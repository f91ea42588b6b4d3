//! Everything a round opens before its stages are built: the shared frontier joined, the state
//! opened (recovering the output and the seen-set), the seen-set and the output opened, the
//! download folder swept, and the round's counters handed to its observer. A failure here is
//! returned before anything runs. The stages themselves are built by the pipeline.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use log::{info, warn};

use super::RunOptions;
use crate::config::{Config, FILES_KEY, FrontierConfig, SyncMode};
use crate::frontier::SharedCrawl;
use crate::http::PageValidators;
use crate::pipeline::chain::NamedNexts;
use crate::pipeline::listing::ChainStart;
use crate::pipeline::message::ToFetch;
use crate::pipeline::stage::Frontier;
use crate::pipeline::{Observer, Output, Resumed, Round, Silent};
use crate::shutdown::{OutputLock, Shutdown};
use crate::stats::Stats;
use crate::store::changes::Watch;
use crate::store::dedup::{Dedup, SharedSet};
use crate::store::files::sweep_stale_parts;
use crate::store::items::ItemStore;
use crate::store::journal::{Fingerprint, Journal};
use crate::store::output::{create_parent, open_output};
use crate::store::recovery::Recovery;
use crate::store::resume::{Files, Mode, Opened};
use crate::store::seen::SeenSet;
use crate::store::shared_watch::SharedWatch;

/// A round, ready for its stages to be built.
pub(super) struct Prepared<'a> {
    /// What its stages are built from.
    pub round: Round<'a>,
    /// Its number.
    pub number: u64,
    /// When it started (an earlier run's time, if this one resumes it).
    pub started_ms: u64,
    /// Pages committed by earlier runs, skipped.
    pub resumed_pages: u64,
}

/// Opens what one round of `config` needs, as `options` says.
pub(super) fn prepare<'a>(
    config: &'a Config,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
    options: &RunOptions,
) -> Result<Prepared<'a>> {
    if let Some(why) = config.extract.stream_unavailable() {
        warn!(
            "`extract.engine` is \"stream\", but every page will be parsed into a full document \
             tree (the slower DOM engine): the streaming matcher does not support the selector {why}"
        );
    }
    // A shared frontier: reachable and seeded now, or a clear error before anything starts.
    let mut shared = match &config.frontier {
        FrontierConfig::Local => None,
        FrontierConfig::Redis(redis) => Some(SharedCrawl::join(redis, config, options.scheduled)?),
    };
    // Recovery first: it may cut the output back before we append to it (and the store is
    // first, as the state is completed from it).
    let store = match shared {
        // The daemons' last values are in Redis, not in a store of this daemon's.
        Some(_) => None,
        None => open_store(config)?,
    };
    let mode = match (&shared, options.scheduled) {
        (Some(shared), _) if config.output.key.is_some() => Mode::Shared(shared.round()),
        (_, true) => Mode::Rounds,
        (_, false) => Mode::Resume,
    };
    let Opened { journal, recovery } = open_state(config, mode, store.as_ref())?;
    // Pages a crash left committed here but unacknowledged: done, for every daemon.
    if let Some(shared) = &mut shared {
        shared.reconcile(&recovery.committed)?;
    }
    let dedup = open_dedup(config, shutdown, shared.as_ref())?;
    if let Some(download) = &config.download {
        prepare_download_dir(&download.dir)?;
    }
    let path = &config.output.path;
    let file = open_output(path)?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let resumed = resumed(config, &recovery);
    let planned = match shared {
        // The range is shared: how much of it is this daemon's is not known.
        Some(_) => None,
        None => config
            .site
            .page_count()
            .map(|n| n.saturating_sub(resumed.committed.len() as u64)),
    };
    let observer: &dyn Observer = options.observer.as_deref().unwrap_or(&Silent);
    let stats = Stats::new(planned, observer.fetch_latency());
    let (watch, mut validators, named_next) = watch(config, store, recovery.round, &stats)?;
    let shared_watch = match &shared {
        Some(shared) => shared_watch(config, shared, &recovery, &stats, shutdown)?,
        None => None,
    };
    let shared_watch = shared_watch.map(|(watch, shared_validators)| {
        validators = validators.take().or(shared_validators);
        watch
    });
    observer.round_started(recovery.round, config, &stats);
    log_start(config);
    let resumed_pages = resumed.committed.len() as u64;
    let output = Output {
        file,
        path: path.clone(),
        len,
        journal,
        dedup,
        watch,
        shared: shared_watch,
        lock: output_lock.clone(),
    };
    Ok(Prepared {
        round: Round {
            config,
            stats,
            output,
            resumed,
            shared: shared.map(|shared| Box::new(shared) as Box<dyn Frontier>),
            validators,
            named_next,
        },
        number: recovery.round,
        started_ms: recovery.started_ms,
        resumed_pages,
    })
}

/// Opens the round's state (the journal), recovering the output and the seen-set to match it.
fn open_state(config: &Config, mode: Mode, store: Option<&ItemStore>) -> Result<Opened> {
    let output = &config.output;
    let seen = output.dedup.as_ref().map(|_| output.seen.as_path());
    create_parent(&output.state)?;
    if let Some(path) = seen {
        create_parent(path)?;
    }
    let files = Files {
        output: &output.path,
        state: &output.state,
        seen,
    };
    Journal::open_keyed_round(&files, &Fingerprint::of(config), mode, store)
}

/// The store of `output.key`, opened (or created) before the state, which it completes.
fn open_store(config: &Config) -> Result<Option<ItemStore>> {
    let Some(key) = &config.output.key else {
        return Ok(None);
    };
    let path = &config.output.store;
    create_parent(path)?;
    let fields = store_fields(config);
    let sync = config.output.sync != SyncMode::Never;
    Ok(Some(ItemStore::open(path, &key.field, &fields, sync)?))
}

/// The fields of an item as the output writes them: the list's, the detail page's, and the
/// `files` of `[download]`.
fn store_fields(config: &Config) -> Vec<&str> {
    let mut fields = config.item_fields();
    if config.download.is_some() {
        fields.push(FILES_KEY);
    }
    fields
}

/// What follows the items of a keyed crawl across rounds, for the writer, and, with
/// `http.conditional`, the list pages' validators for the crawlers and, on a next-link listing,
/// what each page named next, for a page that answers 304.
fn watch(
    config: &Config,
    store: Option<ItemStore>,
    round: u64,
    stats: &Arc<Stats>,
) -> Result<(Option<Watch>, Option<PageValidators>, NamedNexts)> {
    let (Some(store), Some(key)) = (store, &config.output.key) else {
        return Ok((None, None, NamedNexts::new()));
    };
    store.forget_commits_before(round)?;
    let (validators, named_next) = match config.http.conditional {
        true => list_pages(config, &store)?,
        false => (None, NamedNexts::new()),
    };
    let names = store_fields(config).iter().map(|f| f.to_string()).collect();
    let watch = Watch::new(store, key.index, names, round, stats.clone());
    Ok((Some(watch), validators, named_next))
}

/// With `output.key` on a shared frontier: what follows the items across rounds and daemons,
/// with the lines an earlier run of this daemon committed in Redis and did not write; and,
/// with `http.conditional`, the list pages' validators the daemons committed, for the crawlers.
fn shared_watch(
    config: &Config,
    shared: &SharedCrawl,
    recovery: &Recovery,
    stats: &Arc<Stats>,
    shutdown: &Shutdown,
) -> Result<Option<(SharedWatch, Option<PageValidators>)>> {
    let Some(key) = &config.output.key else {
        return Ok(None);
    };
    let (mut keys, unwritten) =
        shared.keys(config, &recovery.committed, &recovery.gone, shutdown)?;
    let validators = match config.http.conditional {
        true => Some(keys.validators()?),
        false => None,
    };
    let names: Vec<String> = store_fields(config).iter().map(|f| f.to_string()).collect();
    let watch = SharedWatch::new(
        Box::new(keys),
        key.index,
        &names,
        recovery.round,
        stats.clone(),
        unwritten,
    );
    Ok(Some((watch, validators)))
}

/// The list pages' validators and, on a next-link listing, what each named next. A 304 has
/// no body to read a next link in: a next-link listing's page is asked conditionally only if
/// the store knows what it named (a store of schema version 2 does not), and is otherwise
/// asked for in full.
fn list_pages(config: &Config, store: &ItemStore) -> Result<(Option<PageValidators>, NamedNexts)> {
    let mut validators = store.page_validators()?;
    if config.next.is_none() {
        return Ok((Some(Arc::new(validators)), NamedNexts::new()));
    }
    let named = store.named_next()?;
    validators.retain(|url, _| named.contains_key(url));
    Ok((Some(Arc::new(validators)), named))
}

/// How the writer tells new items from those written before, with `output.dedup`: the seen-set
/// file beside the output, or the set the daemons of a shared crawl share.
fn open_dedup(config: &Config, shutdown: &Shutdown, shared: Option<&SharedCrawl>) -> Result<Dedup> {
    let Some(dedup) = &config.output.dedup else {
        return Ok(Dedup::Off);
    };
    Ok(match shared {
        None => Dedup::Local {
            set: SeenSet::open(&config.output.seen)?,
            index: dedup.index,
        },
        Some(shared) => Dedup::Shared {
            set: Box::new(shared.seen(shutdown)?),
            // The detail crawlers and downloaders ask it too, on their own connection, so
            // that an item some daemon wrote costs no detail page nor file.
            follow_ups: match config.follow.is_some() || config.download.is_some() {
                true => {
                    let set: Box<dyn SharedSet> = Box::new(shared.seen(shutdown)?);
                    Some(Arc::new(Mutex::new(set)))
                }
                false => None,
            },
            index: dedup.index,
            ours: Default::default(),
            pending: Vec::new(),
        },
    })
}

/// What earlier runs of this round committed within the range, said in the log.
fn resumed(config: &Config, recovery: &Recovery) -> Resumed {
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
            config.output.state.display(),
            committed.len(),
            recovery.failed.len()
        );
    }
    Resumed {
        committed,
        tail: recovery.tail,
        // An end recorded with a known range (by an older pagecrawl) is not one: every page
        // of a known range is crawled.
        end: recovery.end.filter(|_| site.last_page.is_none()),
        chain: config.next.as_ref().map(|_| chain_start(config, recovery)),
    }
}

/// Where a round of a next-link listing starts: after the last page committed, at the URL it
/// named (nowhere, if it named none), or at `site.url` when nothing is committed.
fn chain_start(config: &Config, recovery: &Recovery) -> ChainStart {
    let (Some(mark), Some(&last)) = (&recovery.chain, recovery.committed.last()) else {
        return ChainStart::fresh(config);
    };
    // A recorded end right after it (`site.has_next` false on it) leaves nothing to fetch.
    let ended = recovery.end.is_some_and(|end| end <= last + 1);
    let next = mark.next.clone().filter(|_| !ended).map(|url| ToFetch {
        number: last + 1,
        url,
    });
    match &next {
        Some(page) => info!(
            "resuming the listing at page {} ({}), which page {last} names",
            page.number, page.url
        ),
        None => info!("the listing was crawled to its end, page {last}"),
    }
    ChainStart {
        next,
        visited: mark.urls.clone(),
    }
}

/// The line that says what the round crawls.
fn log_start(config: &Config) {
    let site = &config.site;
    let pages = match (&site.next, site.last_page) {
        (Some(next), _) => format!("page after page through `site.next` = {next:?}"),
        (None, Some(last)) => format!("pages {}..{last}", site.first_page),
        (None, None) => format!("pages {}..the end of the listing", site.first_page),
    };
    info!(
        "crawling {} ({pages}) with {} crawlers and {} parsers into {}",
        site.url.as_str(),
        config.threads.crawlers,
        config.threads.parsers,
        config.output.path.display()
    );
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
