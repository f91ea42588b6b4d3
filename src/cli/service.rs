//! `pagecrawl run`: one crawl, or a long-lived service that crawls in rounds on a schedule.
//!
//! Without `[schedule]` this runs a single round and returns its exit code, as a one-off crawl
//! always has. With it, rounds repeat every `schedule.every_secs`, start to start, never
//! overlapping; the config file is read again before each round (a broken edit is logged and the
//! previous config kept), and a stop requested while idle ends the process at once with 0. A
//! service restarted after a finished round waits for that round's next turn rather than
//! crawling again straight away. `[service] listen` serves `/metrics` and `/healthz` throughout.
//! `--once` runs one round of the schedule now (the next one, a new round once the last is
//! finished) and exits with its code, for rounds driven from cron or a script.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use log::{error, info, warn};

use pagecrawl::config::ScheduleConfig;
use pagecrawl::{Config, ExitCode, Outcome, OutputLock, RunOptions, Shutdown};

#[cfg(feature = "metrics")]
use super::endpoint::Endpoint;
use super::load_config;
use super::progress::Progress;
use super::signals::ReloadRequests;
use super::status::Status;
use super::watch::Watch;

/// Command-line settings that win over the config file, at every reload too.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// `--crawlers`.
    pub crawlers: Option<NonZeroUsize>,
    /// `--parsers`.
    pub parsers: Option<NonZeroUsize>,
    /// `--once`: one round of the schedule, started now, then exit.
    pub once: bool,
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

/// What ended a wait between rounds.
enum Woken {
    /// The next round's time came.
    Time,
    /// A stop was requested.
    Stop,
    /// SIGHUP asked for the config to be read again.
    Reload,
}

/// Waits until `at`, a stop, or a reload request, whichever comes first.
fn wait_until(shutdown: &Shutdown, reloads: &ReloadRequests, at: SystemTime) -> Woken {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    crossbeam_channel::select! {
        recv(shutdown.waker()) -> _ => Woken::Stop,
        recv(reloads.receiver()) -> request => match request {
            Ok(()) => Woken::Reload,
            // The signal thread never ends; should it, there is simply no more reload.
            Err(_) => Woken::Time,
        },
        default(left) => if shutdown.is_requested() { Woken::Stop } else { Woken::Time },
    }
}

/// Runs `config` (loaded from `path`) until it is done or, with `[schedule]`, until a stop.
/// With `[schedule]`, SIGHUP (`reloads`) reads the config again at once while idle between
/// rounds, or as soon as the running round ends; without it, SIGHUP is logged and ignored.
pub fn run(
    path: &Path,
    overrides: Overrides,
    mut config: Config,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
    progress: Option<Progress>,
    reloads: ReloadRequests,
) -> Result<ExitCode> {
    // A one-off crawl has nothing to reload: dropping the requests makes SIGHUP a logged no-op.
    let reloads = config.schedule.is_some().then_some(reloads);
    let status = Status::new(shutdown.clone());
    // Without the "metrics" feature, `load_config` refuses `service.listen`.
    #[cfg(feature = "metrics")]
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
        observer: Some(Arc::new(Watch::new(Some(Arc::clone(&status)), progress))),
    };
    let mut next_round = match config.schedule {
        Some(_) if overrides.once => None,
        Some(schedule) => first_round_at(&config, schedule.every)?,
        None => None,
    };
    let mut rounds_run = 0u64;
    let code = loop {
        if let (Some(at), Some(reloads)) = (next_round, &reloads) {
            reloads.set_idle(true);
            let go_on =
                wait_for_round(at, path, overrides, &mut config, &status, shutdown, reloads);
            reloads.set_idle(false);
            if !go_on {
                info!("stop requested while idle between rounds: exiting");
                break ExitCode::Success;
            }
        }
        let outcome = match pagecrawl::run_with(&config, shutdown, output_lock, &options) {
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
        let Some(schedule) = config.schedule.filter(|_| !overrides.once) else {
            break outcome.exit_code();
        };
        next_round = Some(after_round(&config, schedule, &outcome, &status));
    };
    #[cfg(feature = "metrics")]
    drop(endpoint);
    Ok(code)
}

/// Waits until `at` for the next round, reading the config again on SIGHUP (a new interval
/// moves the round) and once more before it starts; `false` when a stop came first.
fn wait_for_round(
    mut at: SystemTime,
    path: &Path,
    overrides: Overrides,
    config: &mut Config,
    status: &Status,
    shutdown: &Shutdown,
    reloads: &ReloadRequests,
) -> bool {
    loop {
        status.idle_until(at);
        match wait_until(shutdown, reloads, at) {
            Woken::Time => break,
            Woken::Stop => return false,
            Woken::Reload => {
                let Some(new) = reload(path, overrides, config, status, true) else {
                    continue;
                };
                // A new interval moves the next round: still `every` after the last one
                // started, and never in the past.
                if let (Some(old), Some(new)) = (config.schedule, new.schedule) {
                    at = (at - old.every + new.every).max(SystemTime::now());
                }
                *config = new;
            }
        }
    }
    // This reload covers any request that came meanwhile.
    reloads.clear();
    if let Some(new) = reload(path, overrides, config, status, false) {
        *config = new;
    }
    true
}

/// What a finished round of a service leaves: its errors in the status, its closing line, and
/// when the next round starts (`every` after this one started, or now if it took longer).
fn after_round(
    config: &Config,
    schedule: ScheduleConfig,
    outcome: &Outcome,
    status: &Status,
) -> SystemTime {
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
    log_round(config, outcome, next.max(now));
    if next < now && !schedule.every.is_zero() {
        warn!(
            "round {} took longer than schedule.every_secs ({}s): the next round starts right \
             away",
            outcome.round,
            schedule.every.as_secs()
        );
    }
    next.max(now)
}

/// When the first round may start: now, unless the state says the last round finished less
/// than `every` after it started.
fn first_round_at(config: &Config, every: Duration) -> Result<Option<SystemTime>> {
    let Some(mark) = pagecrawl::last_round(&config.output.state)? else {
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
/// and its changes are logged (an unchanged one too, when a SIGHUP `asked`); an invalid one is
/// logged and `None` keeps the current config.
fn reload(
    path: &Path,
    overrides: Overrides,
    current: &Config,
    status: &Status,
    asked: bool,
) -> Option<Config> {
    let mut new = match load_config(path) {
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
        if asked {
            info!("config reloaded from {}: no changes", path.display());
        }
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
    let items = match (&config.output.dedup, &config.output.key) {
        (Some(dedup), _) => format!(
            "{} new items ({} already seen, by {:?})",
            s.items, s.already_seen, dedup.field
        ),
        (None, Some(key)) => format!(
            "{} new, {} changed, {} gone, {} unchanged (by {:?}; {} pages not modified)",
            s.items_new,
            s.items_changed,
            s.items_gone,
            s.items_unchanged,
            key.field,
            s.not_modified
        ),
        (None, None) => format!("{} items", s.items),
    };
    info!(
        "round {} done in {:.1}s: {} pages fetched, {} failed, {} disallowed by robots.txt, \
         {items}; next round at {}",
        outcome.round,
        s.elapsed.as_secs_f64(),
        s.fetched,
        s.failed,
        s.disallowed,
        rfc3339(next)
    );
}
