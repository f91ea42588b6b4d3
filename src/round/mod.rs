//! One crawl of the page range: a *round*. Set up (`setup.rs`: the frontier, the state, the
//! output, every stage), run the pipeline, then record the round's end and log its summary.
//!
//! A scheduled service (the binary's service loop) runs one round after another; the journal
//! says whether a call resumes an unfinished round or starts the next one. Nothing here installs
//! signal handlers: the caller owns the [`Shutdown`] flag, and hears of each round through the
//! [`Observer`] it hands in.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::Result;
use log::{error, info, warn};

use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::pipeline::{self, Observer, PageError, Silent, StageFailure};
use crate::shutdown::{OutputLock, Shutdown};
use crate::stats::{self, Summary};
use crate::store::journal::{Journal, Record, now_ms};

mod preview;
mod setup;

pub use preview::{Preview, Whole, preview};

/// How a crawl ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The final counters.
    pub summary: Summary,
    /// Whether shutdown was requested before the crawl finished.
    pub interrupted: bool,
    /// Stage failures: panics, and the writer's error. Empty when every stage ended cleanly.
    pub failures: Vec<StageFailure>,
    /// Where the listing ends, in "until empty" mode: the first page that is empty, answered
    /// 404 or 410, or repeated the page before it.
    pub end_of_listing: Option<u64>,
    /// Why an "until empty" crawl stopped before the end of its listing (failed pages in a row,
    /// `site.max_pages`, an empty first page), if it did.
    pub stopped: Option<String>,
    /// Pages that failed in this run after their retries, with the reason. The state keeps them,
    /// and the next run tries them again.
    pub failed_pages: BTreeMap<u64, PageError>,
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
    /// The URL of a page robots.txt disallowed this run, if any (`summary.disallowed` counts
    /// them).
    pub disallowed_example: Option<String>,
}

impl Outcome {
    /// The process exit code this outcome calls for.
    pub fn exit_code(&self) -> ExitCode {
        if !self.failures.is_empty() {
            ExitCode::Error
        } else if self.interrupted {
            ExitCode::Interrupted
        } else if !self.failed_pages.is_empty() || self.stopped.is_some() || self.all_disallowed() {
            ExitCode::PagesFailed
        } else {
            ExitCode::Success
        }
    }
}

impl Outcome {
    /// Whether robots.txt disallowed every page this run tried: nothing was fetched, so the
    /// crawl did nothing, which exits 3 rather than 0.
    pub fn all_disallowed(&self) -> bool {
        self.summary.disallowed > 0 && self.summary.fetched == 0 && self.failed_pages.is_empty()
    }
}

/// How a crawl fits into the process around it.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Part of a scheduled service: a finished round in the state starts the next one, a
    /// changed config starts a new round instead of being refused, and a round with failed pages
    /// still ends (the next round fetches them again).
    pub scheduled: bool,
    /// Hears of the round's start and end: the service's status and metrics, a progress bar.
    pub observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("scheduled", &self.scheduled)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Runs one crawl as `config` says, until it is done or `shutdown` is requested.
///
/// Setup errors (the output file cannot be opened, Redis cannot be reached) are returned as
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
    let prepared = setup::prepare(config, shutdown, output_lock, options)?;
    let stats = prepared.round.stats.clone();
    let (number, started_ms) = (prepared.number, prepared.started_ms);
    let joined = pipeline::run(prepared.round, shutdown)?;
    let mut failures = joined.failures;
    let mut report = joined.report.unwrap_or_default();

    // The round is over only if every page got its chance. In a single crawl, failed pages
    // (or a stop before the end of the listing) keep it open for the next run to retry; a
    // service fetches them again next round anyway. Pages robots.txt disallowed are not done
    // either: they are not committed, and a resume asks robots.txt again.
    let interrupted = shutdown.is_requested();
    let stopped = joined.stopped;
    let complete =
        report.failed.is_empty() && stopped.is_none() && stats.snapshot().disallowed == 0;
    let mut round_ended = false;
    if failures.is_empty()
        && !interrupted
        && (options.scheduled || complete)
        && let Some(journal) = report.journal.take()
    {
        match end_round(journal, number, output_lock) {
            Ok(()) => round_ended = true,
            Err(failure) => failures.push(failure),
        }
    }

    let summary = stats.snapshot();
    let observer: &dyn Observer = options.observer.as_deref().unwrap_or(&Silent);
    observer.round_finished(&summary);
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
        resumed_pages: prepared.resumed_pages,
        round: number,
        round_started_ms: started_ms,
        round_ended,
        disallowed_example: report.disallowed_example,
    };
    log_summary(config, options, &outcome);
    Ok(outcome)
}

/// Records that round `round` ended, as one whole record.
fn end_round(
    mut journal: Journal,
    round: u64,
    output_lock: &OutputLock,
) -> Result<(), StageFailure> {
    let _whole = output_lock.lock();
    let record = Record::RoundEnd {
        round,
        at_ms: now_ms(),
    };
    journal
        .append(&record, true)
        .map_err(|err| StageFailure::RoundEnd {
            path: journal.path().display().to_string(),
            error: Arc::new(err),
        })
}

/// The summary line, and what a next run or round will do about what is left.
fn log_summary(config: &Config, options: &RunOptions, outcome: &Outcome) {
    let (summary, resumed, round) = (outcome.summary, outcome.resumed_pages, outcome.round);
    info!(
        target: stats::TARGET,
        "summary: {summary} pages_resumed={resumed} round={round}"
    );
    if let Some(reason) = &outcome.stopped {
        warn!(
            target: stats::TARGET,
            "the crawl stopped before the end of the listing: {reason}"
        );
    }
    if summary.disallowed > 0 {
        let example = outcome.disallowed_example.as_deref().unwrap_or("?");
        let when = if options.scheduled {
            "next round"
        } else {
            "by the next run"
        };
        if outcome.all_disallowed() {
            warn!(
                target: stats::TARGET,
                "robots.txt disallowed every page this run tried ({}, e.g. {example}): nothing \
                 was crawled (exit 3). They are not recorded; robots.txt is asked again {when}. \
                 Check the site's robots.txt, or set `http.robots = false` where its owner agrees",
                summary.disallowed
            );
        } else {
            let n = summary.disallowed;
            let pages = if n == 1 { "page" } else { "pages" };
            warn!(
                target: stats::TARGET,
                "robots.txt disallowed {n} {pages} (e.g. {example}): skipped, not failed; not \
                 recorded, and robots.txt is asked again {when}"
            );
        }
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use demo_site::{DemoSite, SiteOptions};

    use super::*;

    /// A crawl of the demo site whose URLs tell `stage` to panic (see `stage::inject_panic`).
    fn crawl_with_panic_in(stage: &str) -> Outcome {
        let site = DemoSite::start(SiteOptions {
            pages: 30,
            self_links: true,
            ..SiteOptions::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut text = crate::config::demo_toml(
            &format!("{}&pagecrawl-test-panic={stage}", site.url_template()),
            29,
            &dir.path().join("out.jsonl"),
        )
        .replace("stats_interval_secs = 5", "stats_interval_secs = 0");
        // Every stage there is: the detail crawlers and the downloaders too.
        text.push_str(&format!(
            "[follow]\nfield = \"link\"\ncrawlers = 2\n[follow.fields]\nimage = \"img@src\"\n\
             [download]\nfield = \"image\"\ndir = {:?}\nthreads = 2\nhosts = [\"localhost\"]\n",
            dir.path().join("files").display().to_string()
        ));
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
            matches!(
                &outcome.failed_pages[&0],
                PageError::Parse(crate::pipeline::ParseError::Panicked(message))
                    if message == "injected parser panic"
            ),
            "{:?}",
            outcome.failed_pages
        );
    }

    #[test]
    fn a_panic_in_any_stage_stops_the_crawl_and_is_reported() {
        for stage in ["crawler", "follower", "downloader", "writer"] {
            let outcome = crawl_with_panic_in(stage);
            assert_eq!(outcome.exit_code(), ExitCode::Error, "{stage}");
            assert!(
                outcome.failures.iter().any(|f| matches!(
                    f,
                    StageFailure::Panicked { thread, message }
                        if thread.starts_with(stage) && message.contains("injected")
                )),
                "{stage}: {:?}",
                outcome.failures
            );
            // Every thread of the stage panics on its first page, before doing its work.
            match stage {
                "crawler" => assert_eq!(outcome.summary.fetched, 0),
                "downloader" => assert_eq!(outcome.summary.files_downloaded, 0),
                _ => assert_eq!(outcome.summary.written_pages, 0),
            }
        }
    }
}
