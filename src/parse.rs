//! The parser stage: fetched HTML in, one [`PageItems`] message per page out.
//!
//! Selectors are compiled once, when the config is validated, into an [`Extractor`] that all
//! parser threads share. A parser thread ends when the `html` channel is disconnected and drained;
//! it never looks at the shutdown flag, because every page that was fetched must be parsed.
//! It does not write anything: the writer owns the output file.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};
use scraper::{ElementRef, Html, Selector};

use crate::feeder::ListingEnd;
use crate::fetch::Crawled;
use crate::shutdown::PanicGuard;
use crate::stats::{Queue, Stats};

/// One extracted item: the field values in config order; `None` when a field matched nothing.
pub type Item = Vec<Option<String>>;

/// Everything one page yielded, sent to the writer as a single message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageItems {
    /// The page number.
    pub page: u64,
    /// The URL the page was fetched from.
    pub url: String,
    /// The page's items, in document order.
    pub items: Vec<Item>,
}

/// What a parser hands to the writer for each page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A page and its items.
    Page(PageItems),
    /// A page that failed to fetch, passed through so the writer can record it.
    Failed {
        /// The page number.
        page: u64,
        /// Why, in one line.
        reason: String,
    },
}

/// Compiled selectors: one for the item, one per field.
#[derive(Debug, Clone)]
pub struct Extractor {
    /// The item selector as written in the config.
    item_source: String,
    /// The compiled item selector.
    item: Selector,
    /// The fields in config order.
    fields: Vec<Field>,
}

/// One `[extract.fields]` entry.
#[derive(Debug, Clone)]
struct Field {
    /// The field name, used as the JSON key.
    name: String,
    /// The spec as written, e.g. `a@href`.
    spec: String,
    /// The selector inside the item; `None` means the item element itself (`@attr` specs).
    selector: Option<Selector>,
    /// The attribute to take; `None` takes the text.
    attr: Option<String>,
}

/// Keys the writer adds to every item, which a field must not shadow.
const RESERVED_FIELDS: [&str; 2] = ["page", "url"];

impl Extractor {
    /// Compiles the item selector and the `(name, spec)` field list.
    ///
    /// A spec is `selector` (the text of the first match, whitespace collapsed), `selector@attr`
    /// (an attribute of the first match) or `@attr` (an attribute of the item element itself).
    pub fn new(item: &str, fields: &[(String, String)]) -> Result<Extractor> {
        let item_selector = Selector::parse(item)
            .map_err(|err| anyhow!("`extract.item`: invalid CSS selector {item:?}: {err}"))?;
        if fields.is_empty() {
            return Err(anyhow!("`[extract.fields]` must name at least one field"));
        }
        let mut compiled = Vec::with_capacity(fields.len());
        for (name, spec) in fields {
            let key = format!("extract.fields.{name}");
            if RESERVED_FIELDS.contains(&name.as_str()) {
                return Err(anyhow!(
                    "`{key}`: the name {name:?} is reserved (every item already has \"page\" and \"url\")"
                ));
            }
            let (selector, attr) = match spec.rsplit_once('@') {
                Some((sel, attr)) => (sel.trim(), Some(attr.trim())),
                None => (spec.trim(), None),
            };
            if attr.is_some_and(str::is_empty) {
                return Err(anyhow!("`{key}`: no attribute name after `@` in {spec:?}"));
            }
            let selector = match (selector, attr) {
                ("", None) => return Err(anyhow!("`{key}`: empty selector")),
                ("", Some(_)) => None,
                (sel, _) => Some(
                    Selector::parse(sel)
                        .map_err(|err| anyhow!("`{key}`: invalid CSS selector {sel:?}: {err}"))?,
                ),
            };
            compiled.push(Field {
                name: name.clone(),
                spec: spec.clone(),
                selector,
                attr: attr.map(str::to_string),
            });
        }
        Ok(Extractor {
            item_source: item.to_string(),
            item: item_selector,
            fields: compiled,
        })
    }

    /// The item selector as written in the config.
    pub fn item_selector(&self) -> &str {
        &self.item_source
    }

    /// The field names in output order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// `(name, spec)` pairs as written in the config.
    pub fn field_specs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.spec.as_str()))
    }

    /// Extracts every item of `html`, in document order.
    pub fn extract(&self, html: &str) -> Vec<Item> {
        let document = Html::parse_document(html);
        document
            .select(&self.item)
            .map(|element| self.fields.iter().map(|f| f.value(element)).collect())
            .collect()
    }
}

impl Field {
    fn value(&self, item: ElementRef<'_>) -> Option<String> {
        let target = match &self.selector {
            Some(selector) => item.select(selector).next()?,
            None => item,
        };
        match &self.attr {
            Some(attr) => target.value().attr(attr).map(str::to_string),
            None => Some(collapse_whitespace(target.text())),
        }
    }
}

/// Test-only fault injection: panics when the URL carries `pagecrawl-test-panic=<stage>`.
/// Keyed on the URL so that tests running in parallel cannot trip each other.
#[cfg(test)]
pub(crate) fn inject_panic(url: &str, stage: &str) {
    if url.contains(&format!("pagecrawl-test-panic={stage}")) {
        panic!("injected {stage} panic");
    }
}

/// The text of a panic payload (`panic!` with a message gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Joins text pieces, collapsing every run of whitespace into one space and trimming the ends.
fn collapse_whitespace<'a>(pieces: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for word in pieces.flat_map(str::split_whitespace) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// One parser thread's share of the work.
pub struct Parser {
    /// Shared compiled selectors.
    pub extractor: Arc<Extractor>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Where "until empty" mode records the first page with no items.
    pub end: Arc<ListingEnd>,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl Parser {
    /// Parses pages until the `html` channel is disconnected and drained, or the writer is gone.
    pub fn run(self, html: Receiver<Crawled>, items: Sender<Parsed>) {
        for crawled in html.iter() {
            self.stats.queue_depth(Queue::Html, html.len());
            let fetched = match crawled {
                Crawled::Fetched(fetched) => fetched,
                Crawled::Failed { page, reason } => {
                    if items.send(Parsed::Failed { page, reason }).is_err() {
                        break;
                    }
                    continue;
                }
            };
            // A parser bug on one hostile page must cost that page, not the crawl.
            let extracted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                #[cfg(test)]
                inject_panic(&fetched.url, "parser");
                self.extractor.extract(&fetched.body)
            }));
            let page_items = match extracted {
                Ok(page_items) => page_items,
                Err(panic) => {
                    let reason = format!("the HTML parser panicked: {}", panic_text(&*panic));
                    warn!("page {} ({}): {reason}", fetched.page, fetched.url);
                    self.stats.page_failed();
                    let failed = Parsed::Failed {
                        page: fetched.page,
                        reason,
                    };
                    if items.send(failed).is_err() {
                        break;
                    }
                    continue;
                }
            };
            if page_items.is_empty() {
                debug!("page {} ({}): no items", fetched.page, fetched.url);
                self.end.observe_empty(fetched.page);
            }
            self.stats.page_parsed();
            let message = PageItems {
                page: fetched.page,
                url: fetched.url,
                items: page_items,
            };
            if items.send(Parsed::Page(message)).is_err() {
                // The writer is gone (it failed or panicked); the pipeline reports why.
                break;
            }
            self.stats.queue_depth(Queue::Items, items.len());
        }
        drop(self.guard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor(fields: &[(&str, &str)]) -> Extractor {
        let fields: Vec<_> = fields
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        Extractor::new("div.pl2", &fields).unwrap()
    }

    #[test]
    fn text_and_attributes_in_document_order() {
        let html = r#"<html><body>
            <div class="pl2"><a href="/1" title="t1">
                红楼梦   第 1 卷
            </a></div>
            <div class="pl2" id="second"><a href="/2">Tom &amp; Jerry</a></div>
            <div class="pl2"><span>no link</span></div>
        </body></html>"#;
        let ex = extractor(&[("title", "a"), ("link", "a@href"), ("id", "@id")]);
        let items = ex.extract(html);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            items,
            vec![
                vec![s("红楼梦 第 1 卷"), s("/1"), None],
                vec![s("Tom & Jerry"), s("/2"), s("second")],
                vec![None, None, None],
            ]
        );
    }

    #[test]
    fn comments_and_scripts_are_not_items() {
        let html = r#"<html><head><script>
            var tpl = '<div class="pl2"><a href="/decoy">decoy</a></div>';
            </script></head><body>
            <!-- <div class="pl2"><a href="/decoy2">decoy</a></div> -->
            <div class="pl2"><a href="/real">real</a></div>
            </body></html>"#;
        let items = extractor(&[("link", "a@href")]).extract(html);
        assert_eq!(items, vec![vec![Some("/real".to_string())]]);
    }

    #[test]
    fn malformed_markup_does_not_panic() {
        let ex = extractor(&[("title", "a")]);
        assert!(ex.extract("").is_empty());
        assert!(ex.extract("<div class=pl2><a>x").len() == 1);
        assert!(ex.extract(&"<div>".repeat(5000)).is_empty());
    }

    #[test]
    fn hostile_html_is_parsed_without_trouble() {
        let ex = extractor(&[("title", "a")]);
        // Thousands of nested elements around one item.
        let deep = format!(
            "{}<div class=\"pl2\"><a>deep</a></div>{}",
            "<div><span>".repeat(20_000),
            "</span></div>".repeat(20_000)
        );
        assert_eq!(ex.extract(&deep), vec![vec![Some("deep".to_string())]]);
        // A 5 MB page with no matching items.
        let big = format!(
            "<html><body>{}</body></html>",
            "<p>filler text</p>".repeat(300_000)
        );
        assert!(big.len() > 5_000_000);
        assert!(ex.extract(&big).is_empty());
        // Unclosed and misnested tags, stray bytes.
        let broken = "<div class=pl2><a href=x>one<div class='pl2'><a>two</b></i></div>\u{0}<<>>";
        assert_eq!(ex.extract(broken).len(), 2);
    }

    #[test]
    fn bad_specs_are_rejected_with_the_field_name() {
        let try_new = |spec: &str| {
            Extractor::new("div", &[("f".to_string(), spec.to_string())])
                .unwrap_err()
                .to_string()
        };
        assert!(try_new("a@").contains("`extract.fields.f`: no attribute"));
        assert!(try_new("").contains("`extract.fields.f`: empty selector"));
        assert!(try_new("a[").contains("`extract.fields.f`: invalid CSS selector"));
        let err = Extractor::new("div", &[("url".to_string(), "a".to_string())]).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let err = Extractor::new("div", &[]).unwrap_err();
        assert!(err.to_string().contains("at least one field"), "{err}");
    }
}
