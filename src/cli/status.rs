//! The service's status, its Prometheus metrics, and the HTTP endpoint that serves both.
//!
//! [`Status`] is what the scheduler tells the outside world: which round, crawling or idle, the
//! last error, the next round's time, and the running round's [`Stats`]. The counters on
//! `/metrics` are read from the same [`Stats`] the summary line prints (finished rounds summed,
//! plus the running one), so the two always agree; prometheus-client does the encoding.
//! `/healthz` answers a small JSON status: 200, or 503 once a stop was requested. The HTTP
//! server that answers both lives in [`crate::cli::endpoint`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::shutdown::Shutdown;
use crate::stats::{self, Queue, Stats, Summary};

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
    Stopping,
}

/// Counters summed over the rounds before the current (or last) one.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    fetched: u64,
    failed: u64,
    retries: u64,
    written_pages: u64,
    items: u64,
    already_seen: u64,
    parsed_dom: u64,
    reclaims: u64,
    bytes: u64,
}

impl Totals {
    fn add(&mut self, s: &Summary) {
        self.fetched += s.fetched;
        self.failed += s.failed;
        self.retries += s.retries;
        self.written_pages += s.written_pages;
        self.items += s.items;
        self.already_seen += s.already_seen;
        self.parsed_dom += s.parsed_dom;
        self.reclaims += s.reclaims;
        self.bytes += s.bytes;
    }
}

/// The mutable part of [`Status`].
#[derive(Debug)]
struct Inner {
    phase: Phase,
    round: u64,
    /// The running round's counters, or the last round's while idle.
    current: Option<Arc<Stats>>,
    totals: Totals,
    last_round_secs: Option<f64>,
    last_round_end: Option<SystemTime>,
    next_round: Option<SystemTime>,
    last_error: Option<String>,
}

/// The service's status, shared by the scheduler, the pipeline and the endpoint.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Inner>,
    shutdown: Shutdown,
    fetch_latency: Histogram,
}

/// The `/healthz` body.
#[derive(Debug, Serialize)]
struct Health {
    state: Phase,
    round: u64,
    pages_done: u64,
    pages_failed: u64,
    items_written: u64,
    last_error: Option<String>,
    next_round_at: Option<String>,
    last_round_end: Option<String>,
}

fn rfc3339(time: SystemTime) -> String {
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
                totals: Totals::default(),
                last_round_secs: None,
                last_round_end: None,
                next_round: None,
                last_error: None,
            }),
            shutdown,
            fetch_latency: stats::fetch_latency_histogram(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
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
    fn phase(&self, inner: &Inner) -> Phase {
        if self.shutdown.is_requested() {
            Phase::Stopping
        } else {
            inner.phase
        }
    }

    /// The `/healthz` answer: status code and JSON body.
    pub fn health(&self) -> (u16, String) {
        let inner = self.lock();
        let phase = self.phase(&inner);
        let now = inner.current.as_ref().map(|s| s.snapshot());
        let health = Health {
            state: phase,
            round: inner.round,
            pages_done: now.map_or(0, |s| s.written_pages),
            pages_failed: now.map_or(0, |s| s.failed),
            items_written: inner.totals.items + now.map_or(0, |s| s.items),
            last_error: inner.last_error.clone(),
            next_round_at: inner.next_round.map(rfc3339),
            last_round_end: inner.last_round_end.map(rfc3339),
        };
        let code = if phase == Phase::Stopping { 503 } else { 200 };
        let body = serde_json::to_string(&health).expect("health serializes");
        (code, body)
    }

    /// The OpenMetrics text of every metric.
    pub fn encode_metrics(self: &Arc<Status>) -> String {
        let mut registry = Registry::with_prefix("pagecrawl");
        registry.register(
            "fetch_duration_seconds",
            "Time of each request attempt, connect to last body byte",
            self.fetch_latency.clone(),
        );
        registry.register_collector(Box::new(Arc::clone(self)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Encodes one metric without labels.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> std::fmt::Result {
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

impl Collector for Status {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let inner = self.lock();
        let mut t = inner.totals;
        let current = inner.current.as_ref().map(|s| s.snapshot());
        if let Some(now) = &current {
            t.add(now);
        }
        let counters = [
            (
                "pages_fetched",
                "Pages fetched whole with a 2xx status",
                t.fetched,
            ),
            (
                "pages_failed",
                "Pages that failed after their retries",
                t.failed,
            ),
            (
                "retries",
                "Request attempts made after a retryable error",
                t.retries,
            ),
            (
                "pages_written",
                "Pages whose items were committed to the output",
                t.written_pages,
            ),
            ("items_written", "Items written to the output", t.items),
            (
                "items_already_seen",
                "Items not written because output.dedup had seen their key",
                t.already_seen,
            ),
            (
                "pages_parsed_dom",
                "Pages parsed into a full document tree rather than streamed (extract.engine)",
                t.parsed_dom,
            ),
            (
                "lease_reclaims",
                "Pages of the shared frontier taken over from a daemon whose lease ran out",
                t.reclaims,
            ),
            (
                "response_bytes",
                "Response body bytes of fetched pages",
                t.bytes,
            ),
        ];
        for (name, help, value) in counters {
            encode_one(&mut encoder, name, help, &ConstCounter::new(value))?;
        }

        let mut depth = encoder.encode_descriptor(
            "queue_depth",
            "Messages waiting in each bounded queue between the stages",
            None,
            MetricType::Gauge,
        )?;
        for queue in Queue::ALL {
            let value = inner.current.as_ref().map_or(0, |s| s.depth_of(queue));
            let labels = [("queue", queue.name())];
            ConstGauge::new(value as i64).encode(depth.encode_family(&labels)?)?;
        }

        let lag = inner.current.as_ref().map_or(0, |s| s.lag());
        let gauges: [(&str, &str, f64); 6] = [
            ("up", "1 while the service runs", 1.0),
            (
                "frontier_lag",
                "Pages of the shared frontier no daemon has acknowledged yet: leased, waiting \
                 in the stream, or not yet added to it (0 with a local frontier)",
                lag as f64,
            ),
            (
                "round",
                "The current (or last) round number",
                inner.round as f64,
            ),
            (
                "crawling",
                "1 while a round runs, 0 while idle or stopping",
                f64::from(u8::from(self.phase(&inner) == Phase::Crawling)),
            ),
            (
                "last_round_duration_seconds",
                "How long the last finished round took",
                inner.last_round_secs.unwrap_or(0.0),
            ),
            (
                "last_round_end_timestamp_seconds",
                "When the last round finished, in seconds since the Unix epoch (0: none yet)",
                inner.last_round_end.map_or(0.0, unix_secs),
            ),
        ];
        for (name, help, value) in gauges {
            encode_one(&mut encoder, name, help, &ConstGauge::new(value))?;
        }
        Ok(())
    }
}

fn unix_secs(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_phase_and_is_503_while_stopping() {
        let shutdown = Shutdown::new();
        let status = Status::new(shutdown.clone());
        let stats = Stats::new(Some(3), status.fetch_latency());
        stats.page_fetched(10);
        stats.page_written(25);
        status.round_started(4, stats.clone());
        let (code, body) = status.health();
        assert_eq!(code, 200);
        assert!(
            body.contains("\"state\":\"crawling\",\"round\":4,\"pages_done\":1"),
            "{body}"
        );
        status.round_finished(Duration::from_secs(2));
        status.idle_until(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
        let (_, body) = status.health();
        assert!(body.contains("\"state\":\"idle\""), "{body}");
        assert!(
            body.contains("\"next_round_at\":\"1970-01-02T00:00:00Z\""),
            "{body}"
        );
        // The next round's counters add to the last one's.
        status.round_started(5, Stats::new(Some(3), status.fetch_latency()));
        assert!(
            status
                .encode_metrics()
                .contains("pagecrawl_items_written_total 25\n")
        );
        shutdown.request();
        let (code, body) = status.health();
        assert_eq!(code, 503);
        assert!(body.contains("\"state\":\"stopping\""), "{body}");
    }
}
