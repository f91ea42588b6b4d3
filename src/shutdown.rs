//! The shutdown flag, the panic guard that raises it, and the lock that keeps a forced exit from
//! cutting a line. (The binary's signal handlers raise the flag: `src/cli/signals.rs`.)
//!
//! Raising the flag only stops *new* pages from being taken: the feeder stops feeding and crawlers
//! skip queued pages, while every page already fetched still flows through parsers to the writer,
//! which end on their own when their input channel is disconnected and drained. This module never
//! ends a stage itself. Threads that wait (pacing delay, retry backoff, a full channel) wait on
//! [`Shutdown::waker`] instead of sleeping, so they wake the moment the flag is raised.
//!
//! The one exception is the second signal: it exits the process at once, after taking the
//! [`OutputLock`] so that no write to the output file is cut in half.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::warn;

/// A message type that can never be sent: the waker channel is only ever disconnected.
#[derive(Debug)]
pub enum Never {}

/// The crawl-wide shutdown flag. Clones share the flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Set once shutdown is requested; read by stages before taking new work.
    flag: Arc<AtomicBool>,
    /// Disconnected when shutdown is requested, which wakes every `select!` and `recv_timeout`.
    waker: Receiver<Never>,
    /// The only sender of `waker`; taken and dropped by the first [`Shutdown::request`].
    trigger: Arc<Mutex<Option<Sender<Never>>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A flag that is not raised yet.
    pub fn new() -> Shutdown {
        let (trigger, waker) = crossbeam_channel::bounded(0);
        Shutdown {
            flag: Arc::new(AtomicBool::new(false)),
            waker,
            trigger: Arc::new(Mutex::new(Some(trigger))),
        }
    }

    /// Raises the flag and wakes every waiting thread. Returns `true` for the first call.
    pub fn request(&self) -> bool {
        let first = !self.flag.swap(true, Ordering::SeqCst);
        // Dropping the only sender disconnects the channel: that is the broadcast.
        drop(lock_ignoring_poison(&self.trigger).take());
        first
    }

    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A receiver that becomes ready (disconnected) when shutdown is requested, for `select!`.
    pub fn waker(&self) -> &Receiver<Never> {
        &self.waker
    }

    /// Waits up to `timeout`; returns `true` at once if shutdown is (or becomes) requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match self.waker.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => self.is_requested(),
            // Disconnected: the trigger was dropped by `request`.
            Err(RecvTimeoutError::Disconnected) => true,
            Ok(never) => match never {},
        }
    }

    /// Blocks until shutdown is requested.
    pub fn wait(&self) {
        // The channel carries no messages: `recv` returns only when it is disconnected.
        let _ = self.waker.recv();
    }

    /// Waits until `deadline`; returns `true` at once if shutdown is (or becomes) requested.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.wait_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// A guard for a worker thread that raises this flag if the thread panics.
    pub fn panic_guard(&self, name: impl Into<String>) -> PanicGuard {
        PanicGuard {
            shutdown: self.clone(),
            name: name.into(),
        }
    }
}

/// Raises the shutdown flag when dropped during a panic, so a crashed stage stops the crawl
/// instead of leaving the others feeding a dead end.
#[derive(Debug)]
pub struct PanicGuard {
    /// The flag to raise.
    shutdown: Shutdown,
    /// The thread's name, for the log.
    name: String,
}

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            warn!("{} panicked: stopping the crawl", self.name);
            self.shutdown.request();
        }
    }
}

/// Held by the writer around each write to the output file, and by the second-signal exit, so
/// the process never exits in the middle of a line.
#[derive(Debug, Clone, Default)]
pub struct OutputLock(Arc<Mutex<()>>);

impl OutputLock {
    /// Takes the lock; a panic in a previous holder does not matter, the lock guards no data.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        lock_ignoring_poison(&self.0)
    }
}

/// The text of a panic payload (`panic!` with a message gives a `&str` or a `String`).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wakes_waiters_at_once() {
        let shutdown = Shutdown::new();
        let waiter = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let woke = shutdown.wait_timeout(Duration::from_secs(30));
                (woke, start.elapsed())
            })
        };
        assert!(!shutdown.is_requested());
        assert!(shutdown.request(), "first request");
        assert!(!shutdown.request(), "second request is not the first");
        let (woke, waited) = waiter.join().unwrap();
        assert!(woke);
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");
        assert!(shutdown.wait_timeout(Duration::from_secs(30)));
    }

    #[test]
    fn wait_times_out_when_not_requested() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn panic_guard_raises_flag_only_on_panic() {
        let shutdown = Shutdown::new();
        drop(shutdown.panic_guard("calm"));
        assert!(!shutdown.is_requested());
        let guard = shutdown.panic_guard("crashing");
        let result = std::thread::spawn(move || {
            let _guard = guard;
            panic!("boom");
        })
        .join();
        assert!(result.is_err());
        assert!(shutdown.is_requested());
    }
}
