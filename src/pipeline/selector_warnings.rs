//! Warnings about the config's selectors, from what they find on real pages: an item selector
//! that matches nothing on a page of content, a field that is null on every item of a page.
//! A typo in a selector otherwise gives an empty output or a column of nulls, and exit 0.
//!
//! Each warning is given once per round (the parsers share one [`SelectorWarnings`], made for
//! the round), so a typo costs one line, not one per page. The hot path is one relaxed load
//! per field once a field has a value, and no lock.

use std::sync::atomic::{AtomicBool, Ordering};

use log::warn;

use crate::config::SiteConfig;
use crate::extract::{Extractor, Item};

/// A page with no item is only suspicious when it is larger than this: a server's empty
/// answer, an error stub or a "no more results" snippet is smaller; a listing page with its
/// navigation, styles and footer is larger.
pub(crate) const MIN_CONTENT_BYTES: usize = 4 * 1024;

/// Whether each warning was given yet, in one round.
#[derive(Debug)]
pub(crate) struct SelectorWarnings {
    /// `extract.item` as written.
    item: String,
    /// The item warning was given.
    item_warned: AtomicBool,
    /// Per field in config order: its name, its spec as written, and whether it was warned of.
    fields: Vec<(String, String, AtomicBool)>,
    /// "Until empty" mode: an empty page is the end of the listing, not a wrong selector,
    /// except when it is the first page (then nothing at all would be crawled).
    until_empty: bool,
    /// `site.first_page`.
    first_page: u64,
}

impl SelectorWarnings {
    /// Nothing warned of yet, for a round of `site` with `extractor`.
    pub fn new(extractor: &Extractor, site: &SiteConfig) -> SelectorWarnings {
        SelectorWarnings {
            item: extractor.item_selector().to_string(),
            item_warned: AtomicBool::new(false),
            fields: extractor
                .field_specs()
                .map(|(name, spec)| (name.to_string(), spec.as_toml(), AtomicBool::new(false)))
                .collect(),
            until_empty: site.last_page.is_none(),
            first_page: site.first_page,
        }
    }

    /// Looks at the `items` extracted from page `number` (`url`), whose body of `body_bytes`
    /// came with a success status, and warns of what was not warned of yet.
    pub fn check(&self, number: u64, url: &str, body_bytes: usize, items: &[Item]) {
        if items.is_empty() {
            let listing_end = self.until_empty && number != self.first_page;
            if body_bytes > MIN_CONTENT_BYTES && !listing_end && first_time(&self.item_warned) {
                warn!(
                    "`extract.item` = {:?} matched nothing on page {number} ({url}), a page of \
                     {body_bytes} bytes that answered with success: check the selector against \
                     the page's HTML (`pagecrawl try` shows what a page gives), or whether the \
                     page is past the end of the listing. Warned once per round.",
                    self.item
                );
            }
            return;
        }
        for (i, (name, spec, warned)) in self.fields.iter().enumerate() {
            if !warned.load(Ordering::Relaxed)
                && items.iter().all(|item| item[i].is_missing())
                && first_time(warned)
            {
                warn!(
                    "`extract.fields.{name}` = {spec} is null on all {} items of page \
                     {number} ({url}): check the selector against an item's HTML (`pagecrawl \
                     try` shows what a page gives). Warned once per round.",
                    items.len()
                );
            }
        }
    }
}

/// Raises `flag`; true if this call raised it. The relaxed load first keeps the cache line
/// shared between the parsers once the warning is given.
fn first_time(flag: &AtomicBool) -> bool {
    !flag.load(Ordering::Relaxed) && !flag.swap(true, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    use crate::extract::Value;

    fn warnings(until_empty: bool) -> SelectorWarnings {
        let range = if until_empty { "" } else { "last_page = 9\n" };
        let config = Config::from_toml(&format!(
            "[site]\nurl = \"http://x.example/?p={{page}}\"\nfirst_page = 1\n{range}\
             [extract]\nitem = \"div.pl2\"\n[extract.fields]\ntitle = \"a\"\nisbn = \"i\"\n\
             [output]\npath = \"o.jsonl\"\n"
        ))
        .unwrap();
        SelectorWarnings::new(&config.extract, &config.site)
    }

    #[test]
    fn each_warning_is_raised_once() {
        let w = warnings(false);
        let big = MIN_CONTENT_BYTES + 1;
        // Small pages and pages with items do not raise the item warning.
        w.check(2, "u", MIN_CONTENT_BYTES, &[]);
        assert!(!w.item_warned.load(Ordering::Relaxed));
        let item = vec![Value::String("t".to_string()), Value::Null];
        // An empty list is no value either.
        let other = vec![Value::String("u".to_string()), Value::List(Vec::new())];
        w.check(2, "u", big, &[item, other]);
        assert!(!w.item_warned.load(Ordering::Relaxed));
        assert!(!w.fields[0].2.load(Ordering::Relaxed));
        assert!(
            w.fields[1].2.load(Ordering::Relaxed),
            "isbn is null on every item"
        );
        w.check(3, "u", big, &[]);
        assert!(w.item_warned.load(Ordering::Relaxed));
        assert!(!first_time(&w.item_warned));
    }

    #[test]
    fn until_empty_warns_of_an_empty_first_page_only() {
        let w = warnings(true);
        let big = MIN_CONTENT_BYTES + 1;
        w.check(5, "u", big, &[]);
        assert!(
            !w.item_warned.load(Ordering::Relaxed),
            "the end of the listing"
        );
        w.check(1, "u", big, &[]);
        assert!(w.item_warned.load(Ordering::Relaxed), "the first page");
    }
}
