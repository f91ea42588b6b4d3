//! The pages this daemon took from the stream and has not acknowledged yet, with their entry
//! ids: added by the feeder, renewed while they are in the pipeline, released by the acker (or
//! by the feeder, for pages past the end of the listing).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Page → stream entry id, shared by the feeder and the acker.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    /// The held pages.
    held: Mutex<HashMap<u64, String>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, String>> {
        // A panic elsewhere while holding it leaves a usable map.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `page` (entry `id`) is now in this daemon's pipeline.
    pub fn take(&self, page: u64, id: String) {
        self.lock().insert(page, id);
    }

    /// Whether `page` is held.
    pub fn holds(&self, page: u64) -> bool {
        self.lock().contains_key(&page)
    }

    /// The entry ids of every held page, to renew them.
    pub fn ids(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    /// The entry ids of those of `pages` that are held (a page taken over by another daemon,
    /// or never taken, has none).
    pub fn ids_of(&self, pages: &[u64]) -> Vec<String> {
        let held = self.lock();
        pages.iter().filter_map(|p| held.get(p).cloned()).collect()
    }

    /// Lets go of `pages`: acknowledged, or never sent.
    pub fn release(&self, pages: &[u64]) {
        let mut held = self.lock();
        for page in pages {
            held.remove(page);
        }
    }

    /// Lets go of every page past `end`, returning their entry ids to acknowledge.
    pub fn release_past(&self, end: u64) -> Vec<String> {
        let mut held = self.lock();
        let past: Vec<u64> = held.keys().copied().filter(|&page| page > end).collect();
        past.iter().filter_map(|page| held.remove(page)).collect()
    }

    #[cfg(test)]
    /// How many pages are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_held_until_released_and_only_held_ones_have_ids() {
        let leases = Leases::default();
        assert!(leases.is_empty());
        for page in 1..=4 {
            leases.take(page, format!("0-{page}"));
        }
        assert_eq!(leases.len(), 4);
        assert!(leases.holds(2) && !leases.holds(9));
        assert_eq!(leases.ids_of(&[2, 9, 3]), ["0-2", "0-3"]);
        leases.release(&[2, 9]);
        assert!(!leases.holds(2));
        let mut ids = leases.ids();
        ids.sort();
        assert_eq!(ids, ["0-1", "0-3", "0-4"]);
    }

    #[test]
    fn pages_past_the_end_are_released_with_their_ids() {
        let leases = Leases::default();
        for page in [3, 7, 8, 12] {
            leases.take(page, format!("0-{page}"));
        }
        let mut past = leases.release_past(7);
        past.sort();
        assert_eq!(past, ["0-12", "0-8"]);
        assert_eq!(leases.len(), 2);
        assert!(leases.release_past(7).is_empty());
    }
}
