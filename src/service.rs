//! `pagecrawl run`: one crawl, or a long-lived service that crawls in rounds on a schedule.
//!
//! Without `[schedule]` this runs a single round and returns its exit code, as a one-off crawl
//! always has. With it, rounds repeat every `schedule.every_secs`, start to start, never
//! overlapping; the config file is read again before each round (a broken edit is logged and the
//! previous config kept), and a stop requested while idle ends the process at once with 0. A
//! service restarted after a finished round waits for that round's next turn rather than
//! crawling again straight away. `[service] listen` serves `/metrics` and `/healthz` throughout.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use log::{error, info, warn};

use crate::ExitCode;
use crate::config::Config;
use crate::metrics::{Endpoint, Status};
use crate::pipeline::{self, Outcome, RunOptions};
use crate::progress::Progress;
use crate::shutdown::{OutputLock, Shutdown};
use crate::state;

/// Command-line settings that win over the config file, at every reload too.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// `--crawlers`.
    pub crawlers: Option<NonZeroUsize>,
    /// `--parsers`.
    pub parsers: Option<NonZeroUsize>,
}

impl Overrides {
    /// Applies the overrides to `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(n) = self.crawlers {
            config.threads.crawlers = n;
        }
        if let Some(n) = self.parsers {
            config.threads.parsers = n;
        }
    }
}

/// A time in milliseconds since the Unix epoch, as the state file records them.
fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Waits until `at`, or until a stop is requested: then returns true.
fn wait_until(shutdown: &Shutdown, at: SystemTime) -> bool {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    shutdown.wait_until(Instant::now() + left)
}

/// Runs `config` (loaded from `path`) until it is done or, with `[schedule]`, until a stop.
pub fn run(
    path: &Path,
    overrides: Overrides,
    mut config: Config,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
    progress: Option<Progress>,
) -> Result<ExitCode> {
    let status = Status::new(shutdown.clone());
    let endpoint = match config.service.listen {
        Some(addr) => {
            let endpoint = Endpoint::start(addr, Arc::clone(&status))?;
            info!(
                "serving http://{0}/metrics and http://{0}/healthz",
                endpoint.addr()
            );
            Some(endpoint)
        }
        None => None,
    };
    let options = RunOptions {
        scheduled: config.schedule.is_some(),
        status: Some(Arc::clone(&status)),
        progress,
    };
    let mut next_round = match config.schedule {
        Some(schedule) => first_round_at(&config, schedule.every)?,
        None => None,
    };
    let mut rounds_run = 0u64;
    let code = loop {
        if let Some(at) = next_round {
            status.idle_until(at);
            if wait_until(shutdown, at) {
                info!("stop requested while idle between rounds: exiting");
                break ExitCode::Success;
            }
            if let Some(new) = reload(path, overrides, &config, &status) {
                config = new;
            }
        }
        let outcome = match pipeline::run_with(&config, shutdown, output_lock, &options) {
            Ok(outcome) => outcome,
            // The first round's setup errors (output folder, state file) are startup errors.
            Err(err) if rounds_run == 0 => return Err(err),
            Err(err) => {
                error!("this round could not start: {err:#}");
                status.set_error(format!("{err:#}"));
                next_round = Some(SystemTime::now() + retry_delay(&config));
                continue;
            }
        };
        rounds_run += 1;
        if outcome.interrupted || !outcome.failures.is_empty() {
            break outcome.exit_code();
        }
        let Some(schedule) = config.schedule else {
            break outcome.exit_code();
        };
        if let Some(reason) = &outcome.stopped {
            status.set_error(format!("round {}: {reason}", outcome.round));
        } else if !outcome.failed_pages.is_empty() {
            status.set_error(format!(
                "round {}: {} pages failed",
                outcome.round,
                outcome.failed_pages.len()
            ));
        }
        let next = from_ms(outcome.round_started_ms) + schedule.every;
        let now = SystemTime::now();
        log_round(&config, &outcome, next.max(now));
        if next < now && !schedule.every.is_zero() {
            warn!(
                "round {} took longer than schedule.every_secs ({}s): the next round starts \
                 right away",
                outcome.round,
                schedule.every.as_secs()
            );
        }
        next_round = Some(next.max(now));
    };
    drop(endpoint);
    Ok(code)
}

/// When the first round may start: now, unless the state says the last round finished less
/// than `every` after it started.
fn first_round_at(config: &Config, every: Duration) -> Result<Option<SystemTime>> {
    let Some(mark) = state::last_round(&config.output.state)? else {
        return Ok(None);
    };
    let Some(ended_ms) = mark.ended_ms else {
        return Ok(None); // unfinished: resume it now
    };
    let next = from_ms(mark.started_ms) + every;
    if next <= SystemTime::now() {
        return Ok(None);
    }
    info!(
        "round {} finished at {}; round {} starts at {}",
        mark.round,
        rfc3339(from_ms(ended_ms)),
        mark.round + 1,
        rfc3339(next)
    );
    Ok(Some(next))
}

/// How long to wait before trying again a round that could not start.
fn retry_delay(config: &Config) -> Duration {
    config
        .schedule
        .map_or(Duration::from_secs(60), |s| s.every)
        .clamp(Duration::from_secs(1), Duration::from_secs(300))
}

/// Reads the config file again. A valid one (with the command line's overrides) is returned,
/// and its changes are logged; an invalid one is logged and `None` keeps the current config.
fn reload(path: &Path, overrides: Overrides, current: &Config, status: &Status) -> Option<Config> {
    let mut new = match Config::load(path) {
        Ok(new) => new,
        Err(err) => {
            let message = format!("{err:#}");
            error!("config reload failed, the previous config stays in force: {message}");
            status.set_error(format!("config reload: {message}"));
            return None;
        }
    };
    overrides.apply(&mut new);
    let changes = current.changes(&new);
    if changes.is_empty() {
        return Some(new);
    }
    info!(
        "config reloaded from {}: {}",
        path.display(),
        changes.join("; ")
    );
    if new.service.listen != current.service.listen {
        warn!("service.listen changed: the endpoint keeps its address until pagecrawl restarts");
        new.service.listen = current.service.listen;
    }
    if (&new.output.path, &new.output.state) != (&current.output.path, &current.output.state) {
        // The process holds the lock of the output it started with (see `owner`).
        warn!("output.path or output.state changed: they apply when pagecrawl restarts");
        new.output.path = current.output.path.clone();
        new.output.state = current.output.state.clone();
        new.output.seen = current.output.seen.clone();
    }
    if new.schedule.is_none() {
        warn!("[schedule] was removed: this round is the last one");
    }
    Some(new)
}

/// The line that closes a round of a scheduled service.
fn log_round(config: &Config, outcome: &Outcome, next: SystemTime) {
    let s = &outcome.summary;
    let items = match &config.output.dedup {
        Some(dedup) => format!(
            "{} new items ({} already seen, by {:?})",
            s.items, s.already_seen, dedup.field
        ),
        None => format!("{} items", s.items),
    };
    info!(
        "round {} done in {:.1}s: {} pages fetched, {} failed, {items}; next round at {}",
        outcome.round,
        s.elapsed.as_secs_f64(),
        s.fetched,
        s.failed,
        rfc3339(next)
    );
}
