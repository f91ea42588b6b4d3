//! Politeness per host: at most `http.per_host` requests in flight to one origin,
//! and a pacer per origin that generalises the crawl-wide one (`delay_ms` between request
//! starts, doubled on 429 and `Retry-After`, relaxed on success, never below the origin's
//! robots.txt `Crawl-delay`). One slow or rate-limited host no longer slows the others.
//!
//! Waiting threads block on channels, not in polling loops, and wake at once when the
//! shutdown waker (a `crossbeam_channel::Receiver` that is disconnected on a stop, as
//! `Shutdown::waker()`) fires. Memory stays bounded: past [`MAX_HOSTS`] origins, the least
//! recently used idle one is forgotten. It sends no request itself.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use url::{Origin, Url};

use super::robots::MAX_CRAWL_DELAY;
use crate::shutdown::Never;

/// Origins remembered before the least recently used idle one is forgotten.
pub const MAX_HOSTS: usize = 4_096;
/// The smallest gap between requests to an origin once it has answered 429.
pub const MIN_429_GAP: Duration = Duration::from_millis(100);
/// The widest gap 429s can push an origin's pacer to.
pub const MAX_429_GAP: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A request's interest in its slot, for a request that may stop being wanted while it waits
/// (a list page past an end found meanwhile).
pub struct Wanted<'a> {
    /// Fires (is disconnected) when the answer of `still` may have changed.
    pub news: &'a Receiver<Never>,
    /// Whether the request is still wanted.
    pub still: &'a (dyn Fn() -> bool + Sync),
}

/// The pacing of one origin.
#[derive(Debug)]
struct Pace {
    /// The smallest gap: `delay_ms`, or the origin's `Crawl-delay` when larger.
    floor: Duration,
    /// The gap now: the floor, or wider after 429s.
    gap: Duration,
    /// The earliest start not yet handed out.
    next: Instant,
}

/// One origin's slots and pacing.
#[derive(Debug)]
struct Host {
    /// Free slots: `per_host` tokens at first; a request takes one and its permit gives it back.
    free: Receiver<()>,
    /// Gives tokens back.
    give_back: Sender<()>,
    /// The pacing.
    pace: Mutex<Pace>,
}

impl Host {
    fn new(per_host: NonZeroUsize, floor: Duration) -> Host {
        let (give_back, free) = crossbeam_channel::bounded(per_host.get());
        for _ in 0..per_host.get() {
            give_back.try_send(()).expect("room for every slot");
        }
        Host {
            free,
            give_back,
            pace: Mutex::new(Pace {
                floor,
                gap: floor,
                next: Instant::now(),
            }),
        }
    }

    fn pace(&self) -> MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request's place at its origin: one of its `per_host` slots, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    /// The origin whose slot this is.
    host: Arc<Host>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        // The slot was taken from this channel, so there is room for it.
        let _ = self.host.give_back.try_send(());
    }
}

/// Every origin's slots and pacing, by origin (scheme, host and port). Shared by all the
/// threads that send requests (crawlers, detail crawlers, downloaders).
#[derive(Debug)]
pub struct Hosts {
    /// Requests in flight per origin (`http.per_host`).
    per_host: NonZeroUsize,
    /// The gap between request starts to one origin (`http.delay_ms`).
    delay: Duration,
    /// Origins remembered before idle ones are forgotten.
    max_hosts: usize,
    /// Each origin's state.
    map: Mutex<Map>,
}

/// Each origin's state, and when it was last used.
#[derive(Debug, Default)]
struct Map {
    /// The state of each origin, and the use count when it was last used.
    by_origin: HashMap<Origin, (Arc<Host>, u64)>,
    /// Uses so far, a clock for "least recently used".
    uses: u64,
}

impl Hosts {
    /// `per_host` requests in flight per origin, `delay` between request starts to one origin.
    pub fn new(per_host: NonZeroUsize, delay: Duration) -> Hosts {
        Hosts::with_capacity(per_host, delay, MAX_HOSTS)
    }

    /// [`Hosts::new`] remembering at most `max_hosts` idle origins.
    pub fn with_capacity(per_host: NonZeroUsize, delay: Duration, max_hosts: usize) -> Hosts {
        Hosts {
            per_host,
            delay,
            max_hosts: max_hosts.max(1),
            map: Mutex::new(Map::default()),
        }
    }

    /// How many origins are remembered.
    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.lock().by_origin.len()
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state of `url`'s origin, added if new (forgetting an idle origin past the cap).
    fn host(&self, url: &Url) -> Arc<Host> {
        let origin = url.origin();
        let mut map = self.lock();
        map.uses += 1;
        let tick = map.uses;
        if let Some((host, used)) = map.by_origin.get_mut(&origin) {
            *used = tick;
            return Arc::clone(host);
        }
        if map.by_origin.len() >= self.max_hosts {
            forget_idle(&mut map.by_origin);
        }
        let host = Arc::new(Host::new(self.per_host, self.delay));
        map.by_origin.insert(origin, (Arc::clone(&host), tick));
        host
    }

    /// Waits for a free slot at `url`'s origin, then for its turn by the origin's pacing;
    /// `None` as soon as `waker` fires (a message, or its disconnection: a stop), in which case
    /// nothing was taken. Hold the permit until the response is read.
    pub fn acquire<T>(&self, url: &Url, waker: &Receiver<T>) -> Option<Permit> {
        self.acquire_while(url, waker, None)
    }

    /// [`Hosts::acquire`] for a request that may stop being wanted while it waits: when
    /// `wanted`'s news fires and it is no longer wanted, the wait ends at once with `None`
    /// (the slot is given back). A turn already reserved is not given back: the origin's
    /// pacing only ever errs on the slow side.
    pub fn acquire_while<T>(
        &self,
        url: &Url,
        waker: &Receiver<T>,
        wanted: Option<&Wanted<'_>>,
    ) -> Option<Permit> {
        let host = self.host(url);
        // The news fires once (its sender is dropped); after that it is not listened to, and
        // `wanted` is asked again only by the caller.
        let mut news = wanted.map_or_else(crossbeam_channel::never, |w| w.news.clone());
        let still_wanted = || wanted.is_none_or(|w| (w.still)());
        loop {
            select! {
                recv(host.free) -> token => {
                    token.expect("the origin holds its own sender");
                    break;
                }
                recv(waker) -> _ => return None,
                recv(news) -> _ => {
                    news = crossbeam_channel::never();
                    if !still_wanted() {
                        return None;
                    }
                }
            }
        }
        // From here the slot is given back whatever happens.
        let permit = Permit { host };
        let start = {
            let mut pace = permit.host.pace();
            let now = Instant::now();
            if pace.gap.is_zero() && pace.next <= now {
                None
            } else {
                let start = pace.next.max(now);
                pace.next = start + pace.gap;
                Some(start)
            }
        };
        let Some(start) = start else {
            return Some(permit);
        };
        loop {
            select! {
                recv(waker) -> _ => return None,
                recv(news) -> _ => {
                    news = crossbeam_channel::never();
                    if !still_wanted() {
                        return None;
                    }
                }
                default(start.saturating_duration_since(Instant::now())) => return Some(permit),
            }
        }
    }

    /// `url`'s origin answered 429: double its gap (at least [`MIN_429_GAP`], at most
    /// [`MAX_429_GAP`] or its floor if higher), and start nothing there before `retry_after`
    /// (at most [`MAX_RETRY_AFTER`]). Returns the new gap, for the log.
    pub fn slow_down(&self, url: &Url, retry_after: Option<Duration>) -> Duration {
        let host = self.host(url);
        let mut pace = host.pace();
        pace.gap = (pace.gap * 2)
            .max(MIN_429_GAP)
            .min(MAX_429_GAP)
            .max(pace.floor);
        if let Some(wait) = retry_after {
            pace.next = pace.next.max(Instant::now() + wait.min(MAX_RETRY_AFTER));
        }
        pace.gap
    }

    /// A request to `url`'s origin succeeded: narrow a widened gap by 1/16, never below its
    /// floor.
    pub fn relax(&self, url: &Url) {
        let host = self.host(url);
        let mut pace = host.pace();
        if pace.gap > pace.floor {
            pace.gap = (pace.gap - pace.gap / 16).max(pace.floor);
        }
    }

    /// The origin's robots.txt asks for `delay` between requests: its floor becomes the larger
    /// of that (at most [`MAX_CRAWL_DELAY`]) and `delay_ms`, for as long as it is remembered.
    pub fn set_crawl_delay(&self, url: &Url, delay: Duration) {
        let host = self.host(url);
        let mut pace = host.pace();
        pace.floor = delay.min(MAX_CRAWL_DELAY).max(self.delay);
        pace.gap = pace.gap.max(pace.floor);
    }

    /// The gap between request starts to `url`'s origin now.
    pub fn gap(&self, url: &Url) -> Duration {
        self.host(url).pace().gap
    }
}

/// Forgets the least recently used origin that is idle: no permit out, no thread waiting for
/// it, no start reserved in the future. If none is idle (more origins busy than the cap, which
/// takes more threads than any config has), nothing is forgotten.
fn forget_idle(hosts: &mut HashMap<Origin, (Arc<Host>, u64)>) {
    let now = Instant::now();
    let idle = hosts
        .iter()
        // Only the map holds it: no permit and no waiting thread has a clone.
        .filter(|(_, (host, _))| Arc::strong_count(host) == 1 && host.pace().next <= now)
        .min_by_key(|(_, (_, used))| *used)
        .map(|(origin, _)| origin.clone());
    if let Some(origin) = idle {
        hosts.remove(&origin);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn n(value: usize) -> NonZeroUsize {
        NonZeroUsize::new(value).unwrap()
    }

    /// A waker that never fires while its sender lives.
    fn quiet() -> (Sender<()>, Receiver<()>) {
        crossbeam_channel::bounded(0)
    }

    #[test]
    fn per_host_slots_are_separate_per_origin() {
        let hosts = Hosts::new(n(2), Duration::ZERO);
        let (_keep, waker) = quiet();
        let a = url("http://a.example/1");
        let first = hosts.acquire(&a, &waker).unwrap();
        let _second = hosts.acquire(&a, &waker).unwrap();
        // a.example is full; b.example and https://a.example are other origins.
        assert!(hosts.host(&a).free.is_empty());
        let _b = hosts.acquire(&url("http://b.example/"), &waker).unwrap();
        let _tls = hosts.acquire(&url("https://a.example/"), &waker).unwrap();
        // A dropped permit frees its slot.
        drop(first);
        let _third = hosts.acquire(&a, &waker).unwrap();
        assert_eq!(hosts.len(), 3);
    }

    #[test]
    fn a_waiting_thread_gets_the_next_free_slot_and_never_more() {
        let hosts = Hosts::new(n(2), Duration::ZERO);
        let (_keep, waker) = quiet();
        let a = url("http://a.example/");
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        let permit = hosts.acquire(&a, &waker).unwrap();
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                });
            }
        });
        // Never more than per_host at once (that two fit is shown above).
        assert!(most.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn a_stop_wakes_threads_waiting_for_a_slot_or_a_turn() {
        let hosts = Hosts::new(n(1), Duration::from_secs(3600));
        let (stop, waker) = quiet();
        let a = url("http://a.example/");
        let held = hosts.acquire(&a, &waker).unwrap();
        let (hosts_ref, waker_ref) = (&hosts, &waker);
        std::thread::scope(|scope| {
            let for_slot = scope.spawn(|| hosts_ref.acquire(&a, waker_ref).is_none());
            let b = url("http://b.example/");
            drop(hosts.acquire(&b, &waker).unwrap());
            // b's next turn is an hour away.
            let for_turn = scope.spawn(move || hosts_ref.acquire(&b, waker_ref).is_none());
            drop(stop);
            assert!(for_slot.join().unwrap());
            assert!(for_turn.join().unwrap());
        });
        // The slot the stopped waiter had taken for b.example was given back.
        assert_eq!(hosts.host(&url("http://b.example/")).free.len(), 1);
        drop(held);
    }

    #[test]
    fn news_ends_the_wait_of_a_request_no_longer_wanted_and_only_that() {
        // Ten seconds to the next turn: a waiter that missed the news would get its permit
        // then, and fail the assertion, rather than hang the suite.
        let hosts = Hosts::new(n(1), Duration::from_secs(10));
        let (_stop, waker) = quiet();
        let news = crate::shutdown::Shutdown::new();
        let a = url("http://a.example/");
        // a's next turn is ten seconds away.
        drop(hosts.acquire(&a, &waker).unwrap());
        let past_end = std::sync::atomic::AtomicBool::new(false);
        let unwanted = || !past_end.load(std::sync::atomic::Ordering::SeqCst);
        let still_wanted = || true;
        std::thread::scope(|scope| {
            let (hosts, waker, news) = (&hosts, &waker, &news);
            let (a, unwanted) = (&a, &unwanted);
            let waiter = scope.spawn(move || {
                let wanted = Wanted {
                    news: news.waker(),
                    still: unwanted,
                };
                hosts.acquire_while(a, waker, Some(&wanted)).is_none()
            });
            past_end.store(true, std::sync::atomic::Ordering::SeqCst);
            news.request();
            assert!(waiter.join().unwrap(), "woken and given up");
        });
        // A request still wanted keeps waiting for its turn when the news fires: it gets it.
        let paced = Hosts::new(n(1), Duration::from_millis(50));
        let b = url("http://b.example/");
        let wanted = Wanted {
            news: news.waker(),
            still: &still_wanted,
        };
        drop(paced.acquire(&b, &waker).unwrap());
        assert!(paced.acquire_while(&b, &waker, Some(&wanted)).is_some());
        // Both slots were given back.
        assert_eq!(hosts.host(&a).free.len(), 1);
        assert_eq!(paced.host(&b).free.len(), 1);
    }

    #[test]
    fn pacing_widens_on_429_and_relaxes_per_origin() {
        let hosts = Hosts::new(n(4), Duration::from_millis(10));
        let a = url("http://a.example/");
        let b = url("http://b.example/");
        assert_eq!(hosts.gap(&a), Duration::from_millis(10));
        assert_eq!(hosts.slow_down(&a, None), MIN_429_GAP);
        assert_eq!(hosts.slow_down(&a, None), MIN_429_GAP * 2);
        for _ in 0..20 {
            hosts.slow_down(&a, None);
        }
        assert_eq!(hosts.gap(&a), MAX_429_GAP);
        assert_eq!(hosts.gap(&b), Duration::from_millis(10));
        for _ in 0..200 {
            hosts.relax(&a);
        }
        assert_eq!(hosts.gap(&a), Duration::from_millis(10));
        // Crawl-delay raises the floor; 429 then widens from there; relaxing stops at it.
        hosts.set_crawl_delay(&b, Duration::from_secs(2));
        assert_eq!(hosts.gap(&b), Duration::from_secs(2));
        assert_eq!(hosts.slow_down(&b, None), Duration::from_secs(4));
        for _ in 0..200 {
            hosts.relax(&b);
        }
        assert_eq!(hosts.gap(&b), Duration::from_secs(2));
        hosts.set_crawl_delay(&b, Duration::from_secs(86_400));
        assert_eq!(hosts.gap(&b), MAX_CRAWL_DELAY);
        // A crawl delay below delay_ms changes nothing.
        let c = url("http://c.example/");
        hosts.set_crawl_delay(&c, Duration::from_millis(1));
        assert_eq!(hosts.gap(&c), Duration::from_millis(10));
    }

    #[test]
    fn retry_after_holds_the_next_start() {
        let hosts = Hosts::new(n(1), Duration::ZERO);
        let (stop, waker) = quiet();
        let a = url("http://a.example/");
        hosts.slow_down(&a, Some(Duration::from_secs(10_000)));
        let next = hosts.host(&a).pace().next;
        let wait = next.saturating_duration_since(Instant::now());
        assert!(
            wait > MAX_RETRY_AFTER - Duration::from_secs(5) && wait <= MAX_RETRY_AFTER,
            "{wait:?}"
        );
        // A request now would wait for it: a stop ends the wait.
        drop(stop);
        assert!(hosts.acquire(&a, &waker).is_none());
    }

    #[test]
    fn idle_origins_are_forgotten_past_the_cap_busy_ones_kept() {
        let hosts = Hosts::with_capacity(n(1), Duration::ZERO, 2);
        let (_keep, waker) = quiet();
        let busy = hosts.acquire(&url("http://a.example/"), &waker).unwrap();
        drop(hosts.acquire(&url("http://b.example/"), &waker).unwrap());
        // c replaces b (idle), not a (a permit is out).
        drop(hosts.acquire(&url("http://c.example/"), &waker).unwrap());
        let known = |host: &str| hosts.lock().by_origin.contains_key(&url(host).origin());
        assert!(
            known("http://a.example/") && !known("http://b.example/") && known("http://c.example/")
        );
        assert_eq!(hosts.len(), 2);
        drop(busy);
        // Many hosts one after another: the map stays at its cap.
        for i in 0..100 {
            drop(
                hosts
                    .acquire(&url(&format!("http://h{i}.example/")), &waker)
                    .unwrap(),
            );
        }
        assert_eq!(hosts.len(), 2);
    }
}
