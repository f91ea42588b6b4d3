//! Logging, the progress bar shown instead of progress lines when stderr is a terminal, and the
//! reporter thread that moves the bar (or logs the lines) during a round.
//!
//! Both write to stderr, so they must take turns: the logger installed here hides the bar while
//! it prints a line, then redraws it (indicatif's `suspend`). On anything but a terminal there is
//! no bar at all, and the periodic `progress:` log line is kept, as scripts and journald expect.

use std::io::IsTerminal;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use log::{Log, Metadata, Record, info};

use pagecrawl::stats::{Stats, Summary, TARGET};

/// The terminal's progress area, shared by the logger and the rounds' bars.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// A bar for a round of `len` pages, redrawn a few times a second; without a length ("until
    /// empty" mode), a spinner with the pages done and the rate.
    pub fn bar(&self, len: Option<u64>, round: u64) -> ProgressBar {
        let (bar, template) = match len {
            Some(len) => (
                ProgressBar::new(len),
                "{prefix} [{elapsed_precise}] [{wide_bar}] {pos}/{len} pages, {per_sec}, ETA {eta} {msg}",
            ),
            None => (
                ProgressBar::no_length(),
                "{prefix} [{elapsed_precise}] {spinner} {pos} pages (until the end of the listing), {per_sec} {msg}",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> ");
        let bar = self.multi.add(bar.with_style(style));
        bar.set_prefix(format!("round {round}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// Writes log records through env_logger, with the progress bar out of the way.
struct Logger {
    inner: env_logger::Logger,
    progress: Option<Progress>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        match &self.progress {
            Some(progress) => progress.multi.suspend(|| self.inner.log(record)),
            None => self.inner.log(record),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the logger (`RUST_LOG`, default `info`, on stderr). Returns the progress area when
/// stderr is a terminal, so that crawls show a bar there instead of progress lines.
pub fn init_logging() -> Option<Progress> {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let progress = std::io::stderr().is_terminal().then(|| Progress {
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
    });
    let max_level = inner.filter();
    let logger = Logger {
        inner,
        progress: progress.clone(),
    };
    // Only fails if a logger is installed already, which then keeps working.
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max_level);
    }
    progress
}

/// How the reporter shows progress.
#[derive(Debug)]
pub enum Report {
    /// A `progress:` log line this often.
    Lines(Duration),
    /// A terminal progress bar, moved a few times a second, instead of log lines.
    Bar(ProgressBar),
}

/// Starts the thread that reports progress as `report` says until `done` is disconnected.
pub fn spawn_reporter(
    stats: Arc<Stats>,
    report: Report,
    done: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    let tick = match &report {
        Report::Lines(interval) => *interval,
        Report::Bar(_) => Duration::from_millis(200),
    };
    std::thread::Builder::new()
        .name("stats".to_string())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = done.recv_timeout(tick) {
                let s = stats.snapshot();
                match &report {
                    Report::Bar(bar) => {
                        bar.set_position(s.fetched + s.failed);
                        bar.set_message(format!("{} items{}", s.items, follow_ups(&s)));
                    }
                    Report::Lines(_) => {
                        let of = s.planned.map_or(String::new(), |p| format!("/{p}"));
                        info!(
                            target: TARGET,
                            "progress: {}{of} pages fetched, {} failed, {} items written, \
                             {:.1} pages/s{}",
                            s.fetched,
                            s.failed,
                            s.items,
                            s.pages_per_sec(),
                            follow_ups(&s)
                        );
                    }
                }
            }
            if let Report::Bar(bar) = report {
                bar.finish_and_clear();
            }
        })
}

/// What the progress shows of detail pages and files, when the crawl has any:
/// `, 120 detail pages, 300 files (2.1 MB)`.
fn follow_ups(s: &Summary) -> String {
    let mut out = String::new();
    if s.detail_fetched + s.detail_failed > 0 {
        out.push_str(&format!(", {} detail pages", s.detail_fetched));
        if s.detail_failed > 0 {
            out.push_str(&format!(" ({} failed)", s.detail_failed));
        }
    }
    let files = s.files_downloaded + s.files_uptodate;
    if files + s.files_failed > 0 {
        out.push_str(&format!(
            ", {files} files ({:.1} MB)",
            s.file_bytes as f64 / 1e6
        ));
        if s.files_failed > 0 {
            out.push_str(&format!(" ({} failed)", s.files_failed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagecrawl::stats::fetch_latency_histogram;

    #[test]
    fn reporter_ends_when_done_is_dropped() {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let handle = spawn_reporter(
            Stats::new(None, fetch_latency_histogram()),
            Report::Lines(Duration::from_millis(5)),
            rx,
        )
        .unwrap();
        drop(tx);
        handle.join().unwrap();
    }
}
