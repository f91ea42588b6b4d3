//! What the binary watches of each round: the service's [`Status`] (behind `/metrics` and
//! `/healthz`), and the progress bar or the periodic `progress:` lines, drawn by a reporter
//! thread that lives as long as the round.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use log::{error, warn};
use prometheus_client::metrics::histogram::Histogram;

use super::progress::{Progress, Report, spawn_reporter};
use super::status::Status;
use pagecrawl::stats::{self, Stats, Summary};
use pagecrawl::{Config, Observer};

/// The binary's observer of rounds.
pub struct Watch {
    /// The service's status, when there is a service.
    status: Option<Arc<Status>>,
    /// The terminal's progress area, when stderr is a terminal.
    progress: Option<Progress>,
    /// The running round's reporter: dropping the sender ends it.
    reporter: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Watch {
    /// Watches rounds for `status` (if any) and shows their progress on `progress` (if stderr
    /// is a terminal), or as log lines every `log.stats_interval_secs`.
    pub fn new(status: Option<Arc<Status>>, progress: Option<Progress>) -> Watch {
        Watch {
            status,
            progress,
            reporter: Mutex::new(None),
        }
    }

    fn reporter(&self) -> std::sync::MutexGuard<'_, Option<(Sender<()>, JoinHandle<()>)>> {
        self.reporter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Observer for Watch {
    fn fetch_latency(&self) -> Histogram {
        // One histogram across rounds, so that /metrics shows every round's requests.
        match &self.status {
            Some(status) => status.fetch_latency(),
            None => stats::fetch_latency_histogram(),
        }
    }

    fn round_started(&self, round: u64, config: &Config, stats: &Arc<Stats>) {
        if let Some(status) = &self.status {
            status.round_started(round, stats.clone());
        }
        let bar = self
            .progress
            .as_ref()
            .map(|progress| progress.bar(stats.snapshot().planned, round));
        let report = match (bar, config.log.stats_interval) {
            (Some(bar), _) => Report::Bar(bar),
            (None, Some(interval)) => Report::Lines(interval),
            (None, None) => return,
        };
        let (done, done_rx) = crossbeam_channel::bounded(0);
        match spawn_reporter(stats.clone(), report, done_rx) {
            Ok(handle) => *self.reporter() = Some((done, handle)),
            // A missing progress line is not worth failing the crawl for.
            Err(err) => warn!("no progress report: spawning its thread failed: {err}"),
        }
    }

    fn round_finished(&self, summary: &Summary) {
        if let Some((done, handle)) = self.reporter().take() {
            drop(done);
            if handle.join().is_err() {
                error!("the stats reporter panicked");
            }
        }
        if let Some(status) = &self.status {
            status.round_finished(summary.elapsed);
        }
    }
}
