//! The detail pages of one round, each fetched once however many items link to it (a hundred
//! quotes that share fifty author pages cost fifty requests, not a hundred), shared by every
//! detail crawler.
//!
//! The first detail crawler to ask for a URL fetches it; one that asks while it does waits for
//! that fetch instead of sending its own, and is woken when it is done (no polling: a fetch
//! always ends, bounded by the timeouts and the grace period). A detail page that failed fails
//! every page that links to it this round, as its own fetch would have after its retries.
//! Bounded: past [`CAPACITY`] pages the oldest are forgotten, and fetched again if asked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::stage::Incomplete;
use crate::extract::Item;
use crate::http::Validators;

/// The detail pages a round remembers at once.
pub(crate) const CAPACITY: usize = 4096;

/// One detail page, as a detail crawler made it.
#[derive(Debug, Clone)]
pub(crate) struct Detail {
    /// Its fields.
    pub fields: Item,
    /// Fetched with a body this round: its validators, for the store. `None` when it answered
    /// 304 (its fields are the store's).
    pub fresh: Option<Validators>,
    /// In several parts, with `download.referer` on one of its fields: the part each of that
    /// field's file links was found on, in order (see [`super::detail_parts::Walked`]).
    pub found_on: Vec<Arc<str>>,
}

/// What the cache holds for one URL.
enum Slot {
    /// A detail crawler is fetching it.
    Fetching,
    /// Fetched.
    Done(Arc<Detail>),
    /// Failed after its retries.
    Failed(Incomplete),
}

/// The entries, and the order they were made in.
#[derive(Default)]
struct Entries {
    by_url: HashMap<String, Slot>,
    order: VecDeque<String>,
}

/// The detail pages of a round, shared by its detail crawlers.
#[derive(Default)]
pub(crate) struct DetailCache {
    entries: Mutex<Entries>,
    /// Notified whenever a fetch ends.
    ended: Condvar,
    /// Calls waiting for another's fetch now (for the tests).
    waiting: std::sync::atomic::AtomicUsize,
}

impl DetailCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The detail page at `url`: from the cache, after the fetch another crawler has in flight,
    /// or from `fetch` (then the second value is `true`: this call fetched it).
    pub fn get_or(
        &self,
        url: &str,
        fetch: impl FnOnce() -> Result<Detail, Incomplete>,
    ) -> Result<(Arc<Detail>, bool), Incomplete> {
        let mut entries = self.lock();
        loop {
            match entries.by_url.get(url) {
                Some(Slot::Done(detail)) => return Ok((detail.clone(), false)),
                Some(Slot::Failed(failure)) => return Err(failure.clone()),
                Some(Slot::Fetching) => {
                    self.waiting
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    entries = self.ended.wait(entries).unwrap_or_else(|e| e.into_inner());
                    self.waiting
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                None => break,
            }
        }
        entries.by_url.insert(url.to_string(), Slot::Fetching);
        drop(entries);
        // The slot is freed whatever happens, a panic in `fetch` included: waiters must not
        // wait for a fetch that will never end.
        let guard = Unfetched {
            cache: self,
            url,
            armed: true,
        };
        let result = fetch();
        let mut guard = guard;
        guard.armed = false;
        let mut entries = self.lock();
        let out = match result {
            Ok(detail) => {
                let detail = Arc::new(detail);
                entries
                    .by_url
                    .insert(url.to_string(), Slot::Done(detail.clone()));
                Ok((detail, true))
            }
            // Cut off by a stop: not a fact about the page; whoever asks next tries again.
            Err(Incomplete::Abandoned) => {
                entries.by_url.remove(url);
                Err(Incomplete::Abandoned)
            }
            Err(failure) => {
                entries
                    .by_url
                    .insert(url.to_string(), Slot::Failed(failure.clone()));
                Err(failure)
            }
        };
        if entries.by_url.contains_key(url) {
            entries.order.push_back(url.to_string());
            forget_oldest(&mut entries);
        }
        drop(entries);
        self.ended.notify_all();
        out
    }
}

/// Frees a URL's slot if its fetch ends by a panic.
struct Unfetched<'a> {
    cache: &'a DetailCache,
    url: &'a str,
    armed: bool,
}

impl Drop for Unfetched<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.lock().by_url.remove(self.url);
            self.cache.ended.notify_all();
        }
    }
}

/// Forgets the oldest finished entries past [`CAPACITY`] (one being fetched is never forgotten).
fn forget_oldest(entries: &mut Entries) {
    while entries.order.len() > CAPACITY {
        let Some(url) = entries.order.pop_front() else {
            break;
        };
        if !matches!(entries.by_url.get(&url), Some(Slot::Fetching)) {
            entries.by_url.remove(&url);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::extract::Value;

    fn detail(text: &str) -> Detail {
        Detail {
            fields: vec![Value::String(text.to_string())],
            fresh: None,
            found_on: Vec::new(),
        }
    }

    #[test]
    fn each_url_is_fetched_once_while_others_wait_for_it() {
        let cache = Arc::new(DetailCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(0);
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let first = {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            std::thread::spawn(move || {
                cache.get_or("http://x/a", || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(detail("a"))
                })
            })
        };
        started_rx.recv().unwrap();
        let second = {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            std::thread::spawn(move || {
                cache.get_or("http://x/a", || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Ok(detail("again"))
                })
            })
        };
        // The second asks while the first fetches, and waits for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cache.waiting.load(Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the second never waited"
            );
            std::thread::yield_now();
        }
        release_tx.send(()).unwrap();
        let (a, fetched_a) = first.join().unwrap().unwrap();
        let (b, fetched_b) = second.join().unwrap().unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(fetched_a && !fetched_b);
        assert_eq!(a.fields, b.fields);
    }

    #[test]
    fn a_failure_is_shared_and_a_stop_is_not_remembered() {
        let cache = DetailCache::default();
        let failed = Incomplete::Abandoned;
        assert!(cache.get_or("http://x/a", || Err(failed)).is_err());
        // Abandoned is forgotten: the next ask fetches.
        let (got, fetched) = cache.get_or("http://x/a", || Ok(detail("a"))).unwrap();
        assert!(fetched && got.fields == detail("a").fields);
    }

    #[test]
    fn a_panic_frees_the_url_for_the_next_ask() {
        let cache = DetailCache::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = cache.get_or("http://x/p", || panic!("parser bug"));
        }));
        assert!(panicked.is_err());
        let (_, fetched) = cache.get_or("http://x/p", || Ok(detail("p"))).unwrap();
        assert!(fetched);
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_capacity() {
        let cache = DetailCache::default();
        for i in 0..CAPACITY + 10 {
            cache
                .get_or(&format!("http://x/{i}"), || Ok(detail("d")))
                .unwrap();
        }
        let (_, fetched) = cache.get_or("http://x/0", || Ok(detail("d"))).unwrap();
        assert!(fetched, "the first was forgotten");
        let (_, fetched) = cache
            .get_or(&format!("http://x/{}", CAPACITY + 9), || Ok(detail("d")))
            .unwrap();
        assert!(!fetched, "the last is remembered");
    }
}
