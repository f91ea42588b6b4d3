//! The service's status as the outside world reads it (feature "metrics"): `/healthz`, a small
//! JSON status (200, or 503 once a stop was requested), and `/metrics`, OpenMetrics text encoded
//! by prometheus-client. The counters are read from the same [`Stats`] the summary line prints
//! (finished rounds summed, plus the running one), so the two always agree.
//!
//! [`Stats`]: pagecrawl::stats::Stats

use std::sync::Arc;
use std::time::SystemTime;

use pagecrawl::stats::Queue;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use super::status::{Phase, Status, rfc3339};

/// The `/healthz` body.
#[derive(Debug, Serialize)]
struct Health {
    state: Phase,
    round: u64,
    pages_done: u64,
    pages_failed: u64,
    pages_disallowed: u64,
    items_written: u64,
    /// What the current (or, idle, the last) round of a watched listing (`output.key`)
    /// found; all zero without a key.
    changes: Changes,
    last_error: Option<String>,
    next_round_at: Option<String>,
    last_round_end: Option<String>,
}

/// The `/healthz` counts of a watched listing's round.
#[derive(Debug, Serialize)]
struct Changes {
    new: u64,
    changed: u64,
    gone: u64,
    unchanged: u64,
    pages_not_modified: u64,
}

impl Status {
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
            pages_disallowed: now.map_or(0, |s| s.disallowed),
            items_written: inner.totals.items + now.map_or(0, |s| s.items),
            changes: Changes {
                new: now.map_or(0, |s| s.items_new),
                changed: now.map_or(0, |s| s.items_changed),
                gone: now.map_or(0, |s| s.items_gone),
                unchanged: now.map_or(0, |s| s.items_unchanged),
                pages_not_modified: now.map_or(0, |s| s.not_modified),
            },
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
        for counter in t.counters() {
            let value = ConstCounter::new(counter.value);
            encode_one(&mut encoder, counter.metric, counter.help, &value)?;
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
    use std::time::Duration;

    use pagecrawl::Shutdown;
    use pagecrawl::stats::Stats;

    use super::*;

    #[test]
    fn health_follows_the_phase_and_is_503_while_stopping() {
        let shutdown = Shutdown::new();
        let status = Status::new(shutdown.clone());
        let stats = Stats::new(Some(3), status.fetch_latency());
        stats.page_fetched(10);
        stats.page_written(25);
        stats.detail_fetched(700);
        stats.file_downloaded(2048);
        stats.file_uptodate();
        stats.watched(3, 2, 20, 1, 0, 4);
        status.round_started(4, stats.clone());
        let (code, body) = status.health();
        assert_eq!(code, 200);
        assert!(
            body.contains(
                "\"changes\":{\"new\":3,\"changed\":2,\"gone\":1,\"unchanged\":20,\
                 \"pages_not_modified\":4}"
            ),
            "{body}"
        );
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
        let metrics = status.encode_metrics();
        for line in [
            "pagecrawl_items_written_total 25\n",
            "pagecrawl_detail_pages_fetched_total 1\n",
            "pagecrawl_detail_bytes_total 700\n",
            "pagecrawl_files_downloaded_total 1\n",
            "pagecrawl_files_uptodate_total 1\n",
            "pagecrawl_file_bytes_total 2048\n",
        ] {
            assert!(metrics.contains(line), "{line} not in {metrics}");
        }
        shutdown.request();
        let (code, body) = status.health();
        assert_eq!(code, 503);
        assert!(body.contains("\"state\":\"stopping\""), "{body}");
    }
}
