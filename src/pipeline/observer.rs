//! What the caller of a crawl hears of each round: the round's counters as it starts, its
//! summary as it ends. The service's status, its metrics and the progress bar are observers;
//! the crawl itself imports none of them.

use std::sync::Arc;

use prometheus_client::metrics::histogram::Histogram;

use crate::config::Config;
use crate::stats::{self, Stats, Summary};

/// Hears of each round of a crawl. Every method has a default that does nothing, so an observer
/// implements only what it needs. Methods are called on the thread that runs the round, never
/// from a stage thread.
pub trait Observer: Send + Sync {
    /// The histogram the round's crawlers record each request's time in. A fresh one per round
    /// by default; one kept across rounds lets `/metrics` show all of them.
    fn fetch_latency(&self) -> Histogram {
        stats::fetch_latency_histogram()
    }

    /// Round `round` of a crawl with `config` starts, counting into `stats` (whose
    /// [`Stats::snapshot`] says how many pages are planned, when that is known). Called before any
    /// stage thread starts.
    fn round_started(&self, round: u64, config: &Config, stats: &Arc<Stats>) {
        let _ = (round, config, stats);
    }

    /// Every thread of the round has ended (and its end is recorded, if it ended); `summary` is
    /// its final count. Called before the summary is logged.
    fn round_finished(&self, summary: &Summary) {
        let _ = summary;
    }
}

/// An observer that hears nothing: what a crawl without one uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
