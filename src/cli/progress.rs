//! Logging, and the progress bar shown instead of progress lines when stderr is a terminal.
//!
//! Both write to stderr, so they must take turns: the logger installed here hides the bar while
//! it prints a line, then redraws it (indicatif's `suspend`). On anything but a terminal there is
//! no bar at all, and the periodic `progress:` log line is kept, as scripts and journald expect.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use log::{Log, Metadata, Record};

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
