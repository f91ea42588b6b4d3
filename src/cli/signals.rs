//! The signal handlers: SIGINT and SIGTERM raise the [`Shutdown`] flag (a second one exits at
//! once, whole lines only), SIGHUP asks the service to read its config again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use log::{info, warn};
use pagecrawl::{ExitCode, OutputLock, Shutdown};

/// SIGHUP requests to read the config again, as [`install`] receives them: at
/// most one is kept waiting, since two reloads in a row read the same file. A scheduled service
/// listens; dropping this makes SIGHUP a logged no-op (a one-off crawl has nothing to reload).
#[derive(Debug)]
pub struct ReloadRequests(Receiver<()>, Arc<AtomicBool>);

impl ReloadRequests {
    /// Tells the signal thread whether the service is idle between rounds, so that a stop
    /// says what it does: nothing is in flight while idle, and the service exits at once.
    pub fn set_idle(&self, idle: bool) {
        self.1.store(idle, Ordering::SeqCst);
    }

    /// Ready when a reload was requested, for `select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.0
    }

    /// Forgets a waiting request, when a reload is about to happen anyway.
    pub fn clear(&self) {
        while self.0.try_recv().is_ok() {}
    }
}

/// Installs the signal handlers, on a thread of their own (signal-hook's iterator, so that
/// nothing runs in signal context):
///
/// - SIGINT and SIGTERM: the first raises `shutdown`; the second exits at once with code 130,
///   after waiting for any write in progress on `output`.
/// - SIGHUP: a config reload request, sent to the returned [`ReloadRequests`]. It never stops
///   anything: `logrotate`'s `kill -HUP` and systemd's `ExecReload` must not end a service.
///
/// Can be called once per process.
pub fn install(shutdown: Shutdown, output: OutputLock) -> anyhow::Result<ReloadRequests> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the SIGINT/SIGTERM/SIGHUP handlers")?;
    let (reload_tx, reload_rx) = crossbeam_channel::bounded(1);
    let idle = Arc::new(AtomicBool::new(false));
    let idle_seen = Arc::clone(&idle);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stops = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    request_reload(&reload_tx);
                    continue;
                }
                stops += 1;
                if stops == 1 && idle_seen.load(Ordering::SeqCst) {
                    // The service's loop logs that it exits; there is nothing to finish.
                    shutdown.request();
                } else if stops == 1 {
                    warn!(
                        "interrupted: finishing pages in flight and writing every fetched page \
                         (interrupt again to exit at once)"
                    );
                    shutdown.request();
                } else {
                    let _no_half_lines = output.lock();
                    eprintln!("pagecrawl: interrupted twice, exiting now");
                    std::process::exit(ExitCode::Interrupted as i32);
                }
            }
        })
        .context("spawning the signal thread")?;
    Ok(ReloadRequests(reload_rx, idle))
}

/// Passes a SIGHUP on to whoever reloads the config, saying what will happen.
fn request_reload(requests: &Sender<()>) {
    match requests.try_send(()) {
        Ok(()) => info!(
            "SIGHUP: the config will be read again (now if idle between rounds, else as soon as \
             this round ends)"
        ),
        Err(TrySendError::Full(())) => info!("SIGHUP: a config reload is already pending"),
        Err(TrySendError::Disconnected(())) => warn!(
            "SIGHUP ignored: only a scheduled service (with [schedule]) reloads its config; \
             this crawl goes on with the config it started with"
        ),
    }
}
