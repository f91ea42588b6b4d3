//! The service's status: what the scheduler tells the outside world. Which round, crawling or
//! idle, the last error, the next round's time, the counters of the rounds before and the
//! running round's [`Stats`]. With the "metrics" feature, `metrics.rs` shows it as `/healthz`
//! and `/metrics`, and `endpoint.rs` serves both.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use pagecrawl::Shutdown;
use pagecrawl::stats::{self, Stats, Summary};
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

/// What the service is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Starting up, before the first round.
    Starting,
    /// A round is running.
    Crawling,
    /// Waiting for the next round.
    Idle,
    /// A stop was requested; finishing what is in flight.
    // Shown by /healthz and /metrics only.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    Stopping,
}

/// The mutable part of [`Status`].
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) phase: Phase,
    pub(super) round: u64,
    /// The running round's counters, or the last round's while idle.
    pub(super) current: Option<Arc<Stats>>,
    /// Counters summed over the rounds before the current (or last) one.
    pub(super) totals: Summary,
    pub(super) last_round_secs: Option<f64>,
    pub(super) last_round_end: Option<SystemTime>,
    pub(super) next_round: Option<SystemTime>,
    pub(super) last_error: Option<String>,
}

/// The service's status, shared by the scheduler, the pipeline and the endpoint.
#[derive(Debug)]
pub struct Status {
    pub(super) inner: Mutex<Inner>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(super) shutdown: Shutdown,
    pub(super) fetch_latency: Histogram,
}

pub(super) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

impl Status {
    /// A status for a service that has not started a round yet.
    pub fn new(shutdown: Shutdown) -> Arc<Status> {
        Arc::new(Status {
            inner: Mutex::new(Inner {
                phase: Phase::Starting,
                round: 0,
                current: None,
                totals: Summary::default(),
                last_round_secs: None,
                last_round_end: None,
                next_round: None,
                last_error: None,
            }),
            shutdown,
            fetch_latency: stats::fetch_latency_histogram(),
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The histogram every round's crawlers record request times in.
    pub fn fetch_latency(&self) -> Histogram {
        self.fetch_latency.clone()
    }

    /// Round `round` started, counting into `stats`.
    pub fn round_started(&self, round: u64, stats: Arc<Stats>) {
        let mut inner = self.lock();
        if let Some(last) = inner.current.replace(stats) {
            let summary = last.snapshot();
            inner.totals.add(&summary);
        }
        inner.phase = Phase::Crawling;
        inner.round = round;
        inner.next_round = None;
    }

    /// The running round ended after `took`. Its counters stay on show until the next round.
    pub fn round_finished(&self, took: Duration) {
        let mut inner = self.lock();
        inner.last_round_secs = Some(took.as_secs_f64());
        inner.last_round_end = Some(SystemTime::now());
    }

    /// Waiting until `next` for the next round.
    pub fn idle_until(&self, next: SystemTime) {
        let mut inner = self.lock();
        inner.phase = Phase::Idle;
        inner.next_round = Some(next);
    }

    /// Something went wrong that the service survives; shown until the next error.
    pub fn set_error(&self, error: String) {
        self.lock().last_error = Some(format!("{}: {error}", rfc3339(SystemTime::now())));
    }

    /// The phase, with a requested stop taking precedence.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(super) fn phase(&self, inner: &Inner) -> Phase {
        if self.shutdown.is_requested() {
            Phase::Stopping
        } else {
            inner.phase
        }
    }
}
