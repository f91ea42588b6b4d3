//! Response-body buffers, reused: taken by crawlers, given back by parsers.

use std::sync::Mutex;

/// Response-body buffers, handed back by parsers once a page is parsed and taken again by
/// crawlers: in the steady state a page's body costs no allocation (nor the page faults of fresh
/// memory), and the memory bodies take is reached early in a crawl and stays flat however long it
/// runs. It keeps at most `capacity` buffers (the pipeline never holds more bodies than its
/// crawlers, `html` queue and parsers together), and none larger than [`BodyPool::KEEP_MAX`]: a
/// huge page's buffer is freed, not kept.
#[derive(Debug)]
pub struct BodyPool {
    /// Empty buffers that kept their capacity.
    free: Mutex<Vec<Vec<u8>>>,
    /// The most buffers kept.
    capacity: usize,
}

impl BodyPool {
    /// The largest buffer kept for reuse, in bytes.
    pub const KEEP_MAX: usize = 512 * 1024;

    /// An empty pool that will keep up to `capacity` buffers.
    pub fn new(capacity: usize) -> BodyPool {
        BodyPool {
            free: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    /// An empty buffer, with the room of an earlier body when one is free.
    pub fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    /// Gives `buffer` back for another body; dropped when too large or the pool is full.
    pub fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() > Self::KEEP_MAX {
            return;
        }
        buffer.clear();
        let mut free = self.lock();
        if free.len() < self.capacity {
            free.push(buffer);
        }
    }

    #[cfg(test)]
    /// How many buffers wait to be taken.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    /// Whether no buffer waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic elsewhere while holding it leaves a usable list.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_buffers_are_reused_up_to_the_pool_capacity() {
        let pool = BodyPool::new(2);
        assert_eq!(
            pool.take().capacity(),
            0,
            "an empty pool hands out new buffers"
        );
        let mut body = Vec::with_capacity(80_000);
        body.extend_from_slice(b"<html>");
        let room = body.as_ptr();
        pool.give(body);
        let again = pool.take();
        assert_eq!(
            (again.as_ptr(), again.len()),
            (room, 0),
            "the same room, emptied"
        );
        for _ in 0..3 {
            pool.give(Vec::with_capacity(1000));
        }
        assert_eq!(pool.len(), 2, "never more than the capacity");
        let _ = (pool.take(), pool.take());
        pool.give(Vec::with_capacity(BodyPool::KEEP_MAX + 1));
        assert!(pool.is_empty(), "a huge page's buffer is not kept");
    }
}
