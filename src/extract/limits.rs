//! Per-page limits: how many items, and how many bytes of field values, one page may yield.
//!
//! Both engines count with the same [`Budget`], in document order, so a page over a limit
//! fails alike whichever engine read it, with the same one-line reason.

/// Bounds on what one page may yield (`extract.max_items_per_page`, `extract.max_bytes_per_page`).
/// A page over either fails, with a one-line reason, and the crawl goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Items per page.
    pub max_items: usize,
    /// Bytes of field values per page (UTF-8, summed over every field of every item).
    pub max_bytes: usize,
}

impl Default for PageLimits {
    /// 10,000 items and 8 MiB: a hundred times a big listing page, and small enough that a
    /// page of nested items (each taking a copy of the same text) cannot exhaust memory.
    fn default() -> PageLimits {
        PageLimits {
            max_items: 10_000,
            max_bytes: 8 << 20,
        }
    }
}

/// What a page has yielded so far, against its [`PageLimits`]; both engines count alike, so they
/// fail the same pages with the same words.
pub(super) struct Budget {
    limits: PageLimits,
    items: usize,
    bytes: usize,
}

impl Budget {
    pub(super) fn new(limits: PageLimits) -> Budget {
        Budget {
            limits,
            items: 0,
            bytes: 0,
        }
    }

    /// One more item.
    pub(super) fn add_item(&mut self) -> Result<(), OverLimit> {
        if self.items == self.limits.max_items {
            return Err(OverLimit::Items(self.limits.max_items));
        }
        self.items += 1;
        Ok(())
    }

    /// `bytes` more bytes of field values.
    pub(super) fn add_bytes(&mut self, bytes: usize) -> Result<(), OverLimit> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.limits.max_bytes {
            return Err(OverLimit::Bytes(self.limits.max_bytes));
        }
        Ok(())
    }
}

/// Why a page gives no items: a per-page limit it is over, or a JSON page that cannot be read.
/// It fails, with this reason, and the crawl goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverLimit {
    /// More items than `extract.max_items_per_page` (the limit given).
    Items(usize),
    /// More bytes of field values than `extract.max_bytes_per_page` (the limit given).
    Bytes(usize),
    /// A JSON page (`format = "json"`) that is not JSON, or nests deeper than serde_json
    /// reads: the reason, with its line and column.
    NotJson(String),
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverLimit::Items(max) => {
                write!(
                    f,
                    "more than {max} items on the page (extract.max_items_per_page)"
                )
            }
            OverLimit::Bytes(max) => write!(
                f,
                "more than {max} bytes of field values on the page (extract.max_bytes_per_page)"
            ),
            OverLimit::NotJson(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for OverLimit {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Used;
    use crate::extract::tests::{engines, extract_with};

    #[test]
    fn limits_fail_the_page_alike_in_both_engines() {
        let limits = PageLimits {
            max_items: 3,
            max_bytes: 100,
        };
        let ex = engines("div.pl2", &[("title", "a")]).with_limits(limits);
        let nested = format!("{}<a>{}</a>", "<div class=pl2>".repeat(4), "x".repeat(10));
        let (result, used) = ex.extract_reporting(&nested);
        let reason = OverLimit::Items(3);
        assert_eq!(
            reason.to_string(),
            "more than 3 items on the page (extract.max_items_per_page)"
        );
        assert_eq!((result, used), (Err(reason.clone()), Used::Dom));
        assert_eq!(ex.extract_dom(&nested), Err(reason));
        // Three nested items take 3 copies of 40 bytes: over 100 bytes already while streaming,
        // so the DOM engine decides.
        let text = format!("{}<a>{}</a>", "<div class=pl2>".repeat(3), "y".repeat(40));
        let reason = OverLimit::Bytes(100);
        assert_eq!(
            reason.to_string(),
            "more than 100 bytes of field values on the page (extract.max_bytes_per_page)"
        );
        assert_eq!(
            ex.extract_reporting(&text),
            (Err(reason.clone()), Used::Dom)
        );
        assert_eq!(ex.extract_dom(&text), Err(reason.clone()));
        // 20 one-letter text nodes: 60 bytes read, 3 x 39 written; the stream decides.
        let split = format!(
            "{}<a>{}</a>",
            "<div class=pl2>".repeat(3),
            "x<!---->".repeat(20)
        );
        assert_eq!(
            ex.extract_reporting(&split),
            (Err(reason.clone()), Used::Stream)
        );
        assert_eq!(ex.extract_dom(&split), Err(reason));
        // At the limits exactly, the page passes.
        let fits = format!("{}<a>{}</a>", "<div class=pl2>".repeat(3), "z".repeat(33));
        assert_eq!(extract_with(&ex, &fits, Used::Stream).len(), 3);
    }
}
