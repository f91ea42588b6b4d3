//! The gap between request starts, across all crawler threads: `http.delay_ms` (or the site's
//! robots.txt `Crawl-delay`, when larger), widened while the server answers 429 and relaxed
//! slowly after. Every request of a round goes to the site's origin (issue 16 brings other
//! hosts, and `hosts.rs` with a pacer per origin), so one pacer is the origin's pacer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::warn;

use crate::shutdown::Shutdown;

/// The smallest gap between requests once a server has answered 429.
const MIN_429_GAP: Duration = Duration::from_millis(100);
/// The widest gap 429s can push the pacer to.
const MAX_GAP: Duration = Duration::from_secs(60);

/// Spaces request starts at least `gap` apart across all threads. The gap starts at `delay_ms`,
/// doubles on every 429 and relaxes back by 1/16 per successful request, so a server that asks
/// for less never gets more.
#[derive(Debug)]
pub struct Pacer {
    /// The gap now, its floor and the next start time not yet handed out.
    state: Mutex<PacerState>,
}

/// The pacer's mutable part.
#[derive(Debug)]
struct PacerState {
    /// The smallest gap: `http.delay_ms`, or the `Crawl-delay` when larger.
    base: Duration,
    /// The current gap: `base`, or wider after 429s.
    gap: Duration,
    /// The earliest start time not yet handed out.
    next: Instant,
}

impl Pacer {
    /// A pacer with the given minimum gap; a zero gap never waits until a 429 widens it.
    pub fn new(gap: Duration) -> Pacer {
        Pacer {
            state: Mutex::new(PacerState {
                base: gap,
                gap,
                next: Instant::now(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this thread's turn. Returns `false` if shutdown came first.
    pub fn wait_turn(&self, shutdown: &Shutdown) -> bool {
        let start = {
            let mut state = self.state();
            if state.gap.is_zero() && state.next <= Instant::now() {
                return !shutdown.is_requested();
            }
            let start = state.next.max(Instant::now());
            state.next = start + state.gap;
            start
        };
        !shutdown.wait_until(start)
    }

    /// The server said 429: double the gap, and start nothing before its `Retry-After`.
    pub fn slow_down(&self, retry_after: Option<Duration>) {
        let mut state = self.state();
        let wider = (state.gap * 2).max(MIN_429_GAP).min(MAX_GAP);
        if wider > state.gap {
            warn!(
                "the server answers 429 Too Many Requests: {} ms between requests now",
                wider.as_millis()
            );
        }
        state.gap = wider;
        if let Some(wait) = retry_after {
            state.next = state.next.max(Instant::now() + wait);
        }
    }

    /// A request succeeded: narrow a widened gap by 1/16, never below `delay_ms`.
    pub fn relax(&self) {
        let mut state = self.state();
        if state.gap > state.base {
            state.gap = (state.gap - state.gap / 16).max(state.base);
        }
    }

    /// Never space requests less than `floor` apart from now on (robots.txt's `Crawl-delay`);
    /// a smaller floor than the one set changes nothing.
    pub fn raise_floor(&self, floor: Duration) {
        let mut state = self.state();
        if floor > state.base {
            state.base = floor;
            state.gap = state.gap.max(floor);
        }
    }

    /// The gap now.
    pub fn gap(&self) -> Duration {
        self.state().gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_widens_the_gap_and_success_relaxes_it_slowly() {
        let pacer = Pacer::new(Duration::ZERO);
        pacer.slow_down(None);
        assert_eq!(pacer.gap(), MIN_429_GAP);
        pacer.slow_down(Some(Duration::from_secs(1)));
        assert_eq!(pacer.gap(), MIN_429_GAP * 2);
        for _ in 0..16 {
            pacer.relax();
        }
        let relaxed = pacer.gap();
        assert!(
            relaxed < MIN_429_GAP * 2 && relaxed > MIN_429_GAP / 2,
            "{relaxed:?}"
        );
        let floor = Pacer::new(Duration::from_millis(300));
        floor.slow_down(None);
        assert_eq!(floor.gap(), Duration::from_millis(600));
        for _ in 0..1000 {
            floor.relax();
        }
        assert_eq!(
            floor.gap(),
            Duration::from_millis(300),
            "never below delay_ms"
        );
    }

    #[test]
    fn a_crawl_delay_raises_the_floor_for_good() {
        let pacer = Pacer::new(Duration::from_millis(100));
        pacer.raise_floor(Duration::from_millis(50));
        assert_eq!(
            pacer.gap(),
            Duration::from_millis(100),
            "a lower floor changes nothing"
        );
        pacer.raise_floor(Duration::from_secs(2));
        assert_eq!(pacer.gap(), Duration::from_secs(2));
        pacer.slow_down(None);
        for _ in 0..1000 {
            pacer.relax();
        }
        assert_eq!(
            pacer.gap(),
            Duration::from_secs(2),
            "never below the Crawl-delay"
        );
    }

    #[test]
    fn pacer_spaces_starts_and_wakes_on_shutdown() {
        let shutdown = Shutdown::new();
        let pacer = Pacer::new(Duration::from_millis(20));
        let start = Instant::now();
        for _ in 0..4 {
            assert!(pacer.wait_turn(&shutdown));
        }
        assert!(start.elapsed() >= Duration::from_millis(60));
        let slow = Pacer::new(Duration::from_secs(3600));
        assert!(slow.wait_turn(&shutdown), "first turn is immediate");
        shutdown.request();
        let start = Instant::now();
        assert!(!slow.wait_turn(&shutdown));
        assert!(start.elapsed() < Duration::from_secs(60));
    }
}
