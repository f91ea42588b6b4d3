//! The dedup seen-set of a shared crawl, in Redis: asked by the writer (through
//! [`SharedSet`]) before it writes a page; the acker adds the new keys after the commit.

use anyhow::Result;

use super::keys::members;
use super::link::{Link, pause_or_shutdown};
use crate::shutdown::Shutdown;
use crate::store::dedup::SharedSet;
use crate::store::seen::Key;

/// The seen-set in Redis.
pub(crate) struct SharedSeen {
    /// Its own connection.
    pub link: Link,
    /// The set's key.
    pub key: String,
    /// Stops retrying when raised.
    pub shutdown: Shutdown,
}

impl SharedSet for SharedSeen {
    /// Which of `keys` some daemon has written already.
    fn contains(&mut self, keys: &[Key]) -> Result<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let members = members(keys);
        let key = &self.key;
        let shutdown = &self.shutdown;
        self.link.retry(
            "checking the seen-set",
            |pause| pause_or_shutdown(shutdown, pause),
            |c| redis::cmd("SMISMEMBER").arg(key).arg(&members).query(c),
        )
    }
}
