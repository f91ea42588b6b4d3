//! The Redis keys of one shared crawl, the consumer group, this daemon's consumer name, and how a
//! dedup key is stored in the shared seen-set.

use crate::store::seen::Key;

/// The consumer group every daemon joins.
pub(super) const GROUP: &str = "crawlers";

/// The keys of one crawl.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The stream of page numbers.
    pub pages: String,
    /// The crawl's hash: `fp`, `first`, `last`, `next`, `end`; with `output.key`, `round`
    /// (absent: 1), `swept` (the last round whose gone keys are all written) and
    /// `gone_batches` (the last batch of gone keys numbered).
    pub meta: String,
    /// Committed pages.
    pub done: String,
    /// Failed pages and why.
    pub failed: String,
    /// Dedup keys of written items.
    pub seen: String,
    /// With `output.key`: each key's last values (a hash: key → JSON).
    pub items: String,
    /// With `output.key`: each list page's validators and keys (a hash: URL → JSON), for the
    /// conditional requests of the next round.
    pub list_pages: String,
    /// With `output.key`: the lines of each page (`p:<page>`) or batch of gone keys
    /// (`g:<number>`) committed this round and not yet written by its daemon (a hash: entry →
    /// the daemon's name, a newline, the lines).
    pub events: String,
}

impl Keys {
    /// The keys of the crawl named `name`.
    pub fn new(name: &str) -> Keys {
        let key = |suffix: &str| format!("pagecrawl:{name}:{suffix}");
        Keys {
            pages: key("pages"),
            meta: key("meta"),
            done: key("done"),
            failed: key("failed"),
            seen: key("seen"),
            items: key("items"),
            list_pages: key("list_pages"),
            events: key("events"),
        }
    }

    /// The pattern of every key of this crawl, for a message telling how to start over.
    pub fn pattern(&self) -> String {
        format!(
            "pagecrawl:{}:*",
            self.meta
                .trim_start_matches("pagecrawl:")
                .trim_end_matches(":meta")
        )
    }
}

/// The pages of a round, from the crawl's `first` page: a known range up to its `last`; "until
/// empty" up to (not including) the `end` some daemon found, or `None` while it is unknown.
pub(super) fn round_pages(
    first: u64,
    last: Option<u64>,
    end: Option<u64>,
) -> Option<std::ops::Range<u64>> {
    match (last, end) {
        (Some(last), _) => Some(first..last + 1),
        (None, Some(end)) => Some(first..end),
        (None, None) => None,
    }
}

/// The members of the shared seen-set for `keys`: each 128-bit key, little-endian.
pub(super) fn members(keys: &[Key]) -> Vec<Vec<u8>> {
    keys.iter().map(|k| k.to_le_bytes().to_vec()).collect()
}

/// A consumer name unique to this process: host and pid.
pub(super) fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_under_the_crawls_name() {
        let keys = Keys::new("books");
        assert_eq!(
            [
                &keys.pages,
                &keys.meta,
                &keys.done,
                &keys.failed,
                &keys.seen
            ],
            [
                "pagecrawl:books:pages",
                "pagecrawl:books:meta",
                "pagecrawl:books:done",
                "pagecrawl:books:failed",
                "pagecrawl:books:seen"
            ]
        );
        assert_eq!(keys.pattern(), "pagecrawl:books:*");
    }

    #[test]
    fn a_rounds_pages_end_at_the_last_page_or_before_the_end_found() {
        assert_eq!(round_pages(3, Some(5), Some(4)), Some(3..6));
        assert_eq!(round_pages(3, None, Some(7)), Some(3..7));
        assert_eq!(round_pages(3, None, None), None);
    }

    #[test]
    fn seen_members_are_the_keys_little_endian() {
        let seen = members(&[1, u128::MAX]);
        assert_eq!(seen[0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(seen[1], [255; 16]);
    }

    #[test]
    fn the_consumer_name_ends_with_the_pid() {
        assert!(consumer_name().ends_with(&format!("-{}", std::process::id())));
    }
}
