//! The parser stage: fetched HTML in, one [`PageItems`] message per page out.
//!
//! Selectors are compiled once, when the config is validated, into an [`Extractor`] that all
//! parser threads share. A parser thread ends when the `html` channel is disconnected and drained;
//! it never looks at the shutdown flag, because every page that was fetched must be parsed.
//! It does not write anything: the writer owns the output file.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use crossbeam_channel::Receiver;
use log::{debug, warn};
use scraper::{ElementRef, Html, Selector};

mod html5;
mod stream;

use crate::budget::BudgetSender;
use crate::fetch::{BodyPool, Crawled};
use crate::listing::ListingEnd;
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
    /// In "until empty" mode, a page that answered 404 or 410: the end of the listing, unless a
    /// page before it ends it first.
    Gone {
        /// The page number.
        page: u64,
        /// The URL it was fetched from.
        url: String,
        /// The status it answered.
        status: u16,
    },
}

impl Parsed {
    /// The page this message is about.
    pub fn page(&self) -> u64 {
        match self {
            Parsed::Page(page) => page.page,
            Parsed::Failed { page, .. } | Parsed::Gone { page, .. } => *page,
        }
    }

    /// The page's URL, when the message carries it.
    pub fn url(&self) -> Option<&str> {
        match self {
            Parsed::Page(page) => Some(&page.url),
            Parsed::Gone { url, .. } => Some(url),
            Parsed::Failed { .. } => None,
        }
    }
}

impl Parsed {
    /// About the memory this message holds, in bytes: what the items queue's byte budget
    /// (`queues.items_bytes`) counts. Every item and field costs its heap block besides its text,
    /// so a page of many tiny items weighs what it really takes.
    pub fn weight(&self) -> usize {
        use std::mem::size_of;
        let text = |s: &String| s.capacity();
        size_of::<Parsed>()
            + match self {
                Parsed::Page(page) => {
                    text(&page.url)
                        + page.items.capacity() * size_of::<Item>()
                        + page
                            .items
                            .iter()
                            .map(|item| {
                                item.capacity() * size_of::<Option<String>>()
                                    + item.iter().flatten().map(text).sum::<usize>()
                            })
                            .sum::<usize>()
                }
                Parsed::Failed { reason, .. } => text(reason),
                Parsed::Gone { url, .. } => text(url),
            }
    }
}

/// How pages are turned into items (`extract.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Match the selectors on the token stream, without building a document tree, and hand a
    /// page whose markup the stream cannot read like an HTML5 tree to the DOM engine. The same
    /// items as `Dom`, several times faster.
    #[default]
    Stream,
    /// Build the full HTML5 document tree (html5ever) for every page and select in it.
    Dom,
}

impl Engine {
    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Stream => "stream",
            Engine::Dom => "dom",
        }
    }
}

/// Which engine produced a page's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// The streaming pass.
    Stream,
    /// The document tree: `engine = "dom"`, a selector the stream cannot match, or a page the
    /// stream handed back.
    Dom,
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
    /// The engine asked for.
    engine: Engine,
    /// The streaming plan; `None` with `engine = "dom"` or a selector the stream cannot match.
    stream: Option<stream::Plan>,
    /// Why the stream is not used although `engine = "stream"`.
    no_stream: Option<String>,
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
        Extractor::with_engine(item, fields, Engine::default())
    }

    /// [`Extractor::new`] with the engine chosen.
    pub fn with_engine(
        item: &str,
        fields: &[(String, String)],
        engine: Engine,
    ) -> Result<Extractor> {
        let item_selector = Selector::parse(item)
            .map_err(|err| anyhow!("`extract.item`: invalid CSS selector {item:?}: {err}"))?;
        if fields.is_empty() {
            return Err(anyhow!("`[extract.fields]` must name at least one field"));
        }
        let mut compiled = Vec::with_capacity(fields.len());
        let mut plan_fields = Vec::with_capacity(fields.len());
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
            plan_fields.push(((!selector.is_empty()).then_some(selector), attr));
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
        let (stream, no_stream) = match engine {
            Engine::Dom => (None, None),
            Engine::Stream => match stream::Plan::new(item, &plan_fields) {
                Ok(plan) => (Some(plan), None),
                Err(why) => (None, Some(why)),
            },
        };
        Ok(Extractor {
            item_source: item.to_string(),
            item: item_selector,
            fields: compiled,
            engine,
            stream,
            no_stream,
        })
    }

    /// The engine asked for in the config.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// With `engine = "stream"`, why every page goes to the DOM engine anyway: the selector the
    /// stream cannot match. `None` when the stream is in use, or not asked for.
    pub fn stream_unavailable(&self) -> Option<&str> {
        self.no_stream.as_deref()
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
        self.extract_reporting(html).0
    }

    /// [`Extractor::extract`], also saying which engine did the work.
    pub fn extract_reporting(&self, html: &str) -> (Vec<Item>, Used) {
        if let Some(plan) = &self.stream {
            match plan.extract(html) {
                stream::Outcome::Items(items) => return (items, Used::Stream),
                stream::Outcome::Irregular(why) => {
                    debug!("streaming extraction handed the page to the DOM engine: {why}");
                }
            }
        }
        (self.extract_dom(html), Used::Dom)
    }

    /// Extracts every item of `html` from its full HTML5 document tree (the `dom` engine).
    pub fn extract_dom(&self, html: &str) -> Vec<Item> {
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
    for piece in pieces {
        push_words(&mut out, piece);
    }
    out
}

/// Appends the words of `piece` to `out`, one space between words (and before the first, when
/// `out` already holds some).
fn push_words(out: &mut String, piece: &str) {
    for word in piece.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// One parser thread's share of the work.
pub struct Parser {
    /// Shared compiled selectors.
    pub extractor: Arc<Extractor>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// In "until empty" mode: no page after an empty one is needed, whatever the pages before
    /// it hold, so crawlers may skip them at once. (The writer decides, in page order, where
    /// the listing ends.) `None` with a known range, where an empty page is just a page.
    pub end: Option<Arc<ListingEnd>>,
    /// Where parsed bodies go back for the crawlers to reuse.
    pub bodies: Arc<BodyPool>,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl Parser {
    /// Parses pages until the `html` channel is disconnected and drained, or the writer is gone.
    pub fn run(self, html: Receiver<Crawled>, items: BudgetSender<Parsed>) {
        for crawled in html.iter() {
            self.stats.queue_depth(Queue::Html, html.len());
            let mut fetched = match crawled {
                Crawled::Fetched(fetched) => fetched,
                Crawled::Failed { page, reason } => {
                    if items.send(Parsed::Failed { page, reason }).is_err() {
                        break;
                    }
                    continue;
                }
                Crawled::Gone { page, url, status } => {
                    if items.send(Parsed::Gone { page, url, status }).is_err() {
                        break;
                    }
                    continue;
                }
            };
            // A parser bug on one hostile page must cost that page, not the crawl.
            let extracted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                #[cfg(test)]
                inject_panic(&fetched.url, "parser");
                self.extractor.extract_reporting(&fetched.body)
            }));
            self.bodies
                .give(std::mem::take(&mut fetched.body).into_bytes());
            let page_items = match extracted {
                Ok((page_items, used)) => {
                    if used == Used::Dom {
                        self.stats.page_parsed_dom();
                    }
                    page_items
                }
                Err(panic) => {
                    let reason = format!("the HTML parser panicked: {}", panic_text(&*panic));
                    warn!("page {} ({}): {reason}", fetched.page, fetched.url);
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
                if let Some(end) = &self.end {
                    end.observe_empty(fetched.page);
                }
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

    /// Compiles `item` and `fields` for both engines.
    fn engines(item: &str, fields: &[(&str, &str)]) -> Extractor {
        let fields: Vec<_> = fields
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let ex = Extractor::with_engine(item, &fields, Engine::Stream).unwrap();
        assert!(ex.stream.is_some(), "{item:?} {fields:?} should stream");
        ex
    }

    /// The stream must read `html` itself and agree with the DOM engine.
    fn assert_streams_like_dom(ex: &Extractor, html: &str) -> Vec<Item> {
        let dom = ex.extract_dom(html);
        let streamed = ex.stream.as_ref().unwrap().extract(html);
        assert_eq!(
            streamed,
            stream::Outcome::Items(dom.clone()),
            "on {html:.300}"
        );
        dom
    }

    #[test]
    fn stream_and_dom_agree_on_demo_pages() {
        use crate::demo_site::{SiteOptions, expected_items, render_page};
        let opts = SiteOptions::default();
        let titles = engines("div.pl2", &[("title", "a"), ("link", "a@href")]);
        let rows = engines(
            "tr.item",
            &[
                ("title", "div.pl2 a"),
                ("link", "div.pl2 a@href"),
                ("cover", "img@src"),
                ("rating", "span.rating_nums"),
                ("quote", ".inq"),
                ("votes", "div.star span.pl"),
                ("class", "@class"),
                ("missing", "span.nothing"),
                ("short", "div.short-reviews"),
            ],
        );
        for page in [0, 1, 7] {
            let html = render_page(&opts, page);
            let items = assert_streams_like_dom(&titles, &html);
            let expected: Vec<Item> = expected_items(&opts, page)
                .into_iter()
                .map(|i| vec![Some(i.title), Some(i.link)])
                .collect();
            assert_eq!(items, expected, "page {page}");
            let rows = assert_streams_like_dom(&rows, &html);
            assert_eq!(rows.len(), opts.page_size);
            assert!(rows.iter().all(|r| r[7].is_none() && r[8].is_some()));
        }
        let past_the_end = render_page(&opts, opts.pages);
        assert!(assert_streams_like_dom(&titles, &past_the_end).is_empty());
    }

    #[test]
    fn stream_and_dom_agree_on_well_formed_oddities() {
        let ex = engines(
            "div.pl2",
            &[
                ("title", "a"),
                ("link", "a@href"),
                ("id", "@id"),
                ("img", "img"),
            ],
        );
        let pages = [
            // Character references, named, numeric and legacy, in text and in attributes.
            r#"<div class="pl2" id="a&amp;b"><a href="/s?x=1&amp;y=2&copy=3&notit;">Tom &amp; Jerry &eacute;&#x4e2d;&#20013; &notin;&nbsp;x &amp</a></div>"#,
            // Text split by comments and child elements; whitespace of every kind; NUL, CR.
            "<div class=pl2><a>one<!-- c -->two<b>three</b>\r\n\t four\u{3000}five\0six</a></div>",
            "<div class=pl2 id=\"a\r\nb\rc\0d\"><a>x<script>a\0b</script></a></div>",
            // A stray end tag splits no text node; an element does.
            "<div class=pl2><a>one</span>two<br>three<i></i>four<!---->five</a></div>",
            // Script text inside a field is text, taken raw; RCDATA is decoded.
            "<div class=pl2><a>x<script>var a = \"&amp;\" < 1;</script><textarea>&lt;t&gt;</textarea></a></div>",
            // The first match decides, even when it lacks the attribute.
            "<div class=pl2><a>no href</a><a href=/2>two</a></div>",
            // Nested items: the outer item's first match is inside the inner one.
            "<div class=pl2 id=outer><div class=pl2 id=inner><a href=/i>inner</a></div><a href=/o>outer</a></div>",
            // A field match that is itself an item is not its own field.
            "<div class=pl2 id=o><a href=/1>1</a></div><div class=pl2><div class=pl2><a href=/2>2</a></div></div>",
            // Void elements: an empty text field, and items without content.
            "<div class=pl2><img src=x><a href=/v>v</a></div><div class=pl2></div>",
            // Upper-case markup, unquoted and single-quoted attributes.
            "<DIV CLASS=pl2 ID='up'><A HREF=/UP>Up Case</A></DIV>",
            // Decoys in comments, scripts, styles and noscript.
            "<script>'<div class=pl2><a>s</a></div>'</script><style>.pl2{}</style><!-- <div class=pl2> -->\
             <noscript><div class=pl2><a>ns</a></div></noscript><div class=pl2><a href=/r>real</a></div>",
            // Items inside table cells, as on Douban.
            "<table><tr><td><div class=pl2><a href=/t>cell</a></div></td></tr></table>",
            // Whitespace between table parts stays in the table.
            "<div class=pl2><a href=/w><table>\n <tr>\r\n\t<td>cell</td>\x0C</tr> </table></a></div>",
            "",
            "<html><body>no items</body></html>",
        ];
        for html in pages {
            assert_streams_like_dom(&ex, html);
        }
        let first = assert_streams_like_dom(&ex, pages[0]);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            first,
            vec![vec![
                s("Tom & Jerry é中中 ∉ x &"),
                s("/s?x=1&y=2&copy=3&notit;"),
                s("a&b"),
                None
            ]]
        );
    }

    #[test]
    fn irregular_markup_goes_to_the_dom_engine() {
        let ex = engines(
            "li.pl2, p.pl2, div.pl2",
            &[("title", "a"), ("link", "a@href")],
        );
        let deep = engines(
            "div.pl2",
            &[
                ("title", "td a"),
                ("cell", "td"),
                ("opt", "select div"),
                ("p", "p"),
                ("br", "* br"),
            ],
        );
        let pages = [
            // Stray content in a table is moved before it; a cell directly in a table gets an
            // implied row.
            "<div class=pl2><table><a href=/f>fostered</a><tr><td><a>in cell</a></td></tr></table></div>",
            "<div class=pl2><table><td><a href=/c>implied row</a></td></table></div>",
            // Unclosed cells.
            "<div class=pl2><table><tr><td>one<td><a>two</a></tr></table></div>",
            // An element that <select> drops, and HTML inside SVG.
            "<div class=pl2><select><div><a>x</a></div></select></div>",
            "<div class=pl2><svg><p><a href=/s>out</a></p></svg></div>",
            // A formatting element closed by a block's end tag, misnested formatting.
            "<div class=pl2><b><a href=/1>x</b></a></div>",
            "<div class=pl2><a href=/m><b>bold</a></b></div>",
            "<div class=pl2><p>para<div><a href=/1>block</a></div></p></div>",
            "<h1 class=pl2><a href=/1>x</a><h2 class=pl2><a href=/2>y</a></h2></h1>",
            "<frameset><div class=pl2><a>f</a></div></frameset>",
            // A block left open in a formatting element: the adoption agency moves it out.
            "<div class=pl2><a>in <button> button</a></div>",
            // An end tag that a table's scope hides from the HTML5 parser.
            "<div class=pl2><table><tr><td>x</div><a>two</a></td></tr></table>",
            "<div class=pl2><math><td></div><a>two</a></math>",
            // Start tags that HTML5 parsers ignore: a table part outside a table, a second body.
            "<div class=pl2><a>=pl2<tr>T</a></div>",
            "<body><div class=pl2><a>x<body>y</a></div>",
            // Items closed implicitly by the next one, or by their parent.
            "<ul><li class=pl2><a href=/1>1</a><li class=pl2><a href=/2>2</a></ul>",
            "<p class=pl2><a href=/1>1</a><p class=pl2><a href=/2>2</a>",
            // A field element closed by its item's end tag.
            "<div class=pl2><a href=/1>one</div><div class=pl2><a href=/2>two</a></div>",
            // An anchor inside an anchor: the HTML5 parser closes the first.
            "<div class=pl2><a href=/1>one<a href=/2>two</a></a></div>",
            // A truncated page.
            "<div class=pl2><a href=/1>cut off",
            // Template contents are not part of the document tree.
            "<template><div class=pl2><a>t</a></div></template><div class=pl2><a>real</a></div>",
        ];
        for html in pages {
            let outcome = ex.stream.as_ref().unwrap().extract(html);
            assert!(
                matches!(outcome, stream::Outcome::Irregular(_)),
                "{html}: {outcome:?}"
            );
            for ex in [&ex, &deep] {
                assert_eq!(
                    ex.extract_reporting(html),
                    (ex.extract_dom(html), Used::Dom),
                    "{html}"
                );
            }
        }
        // Text directly in a table is moved in front of it: a page goes to the DOM engine when
        // such text is inside a captured field, and streams when no field captures it.
        for (html, title) in [
            (
                "<div class=pl2><a href=/t><table><tr><td>cell</td></tr>fostered</table></a></div>",
                "fostered cell",
            ),
            (
                "<div class=pl2><a href=/t><table> <tbody>\u{3000}<tr><td>cell</td></tr></tbody></table></a></div>",
                "cell",
            ),
        ] {
            let (items, used) = ex.extract_reporting(html);
            assert_eq!((&items, used), (&ex.extract_dom(html), Used::Dom), "{html}");
            assert_eq!(items[0][0].as_deref(), Some(title), "{html}");
            assert_eq!(
                deep.extract_reporting(html),
                (deep.extract_dom(html), Used::Stream)
            );
        }
        // A stray </p> or </br> inserts an empty element, which only a bare `p`, `br` or `*`
        // selector can match: the page goes to the DOM engine only for such selectors.
        for html in [
            "<div class=pl2><x>para</p><a>x</a></div>",
            "<div class=pl2></br><a>x</a></div>",
        ] {
            assert_eq!(ex.extract_reporting(html).1, Used::Stream, "{html}");
            assert_eq!(ex.extract(html), ex.extract_dom(html), "{html}");
            assert_eq!(
                deep.extract_reporting(html),
                (deep.extract_dom(html), Used::Dom)
            );
        }
        assert_eq!(
            deep.extract_reporting("<div class=pl2><p>para</p></div>"),
            (
                vec![vec![None, None, None, Some("para".into()), None]],
                Used::Stream
            )
        );
    }

    #[test]
    fn selectors_the_stream_cannot_match_use_the_dom_engine() {
        let fields = [("t".to_string(), "a + span".to_string())];
        let ex = Extractor::with_engine("div", &fields, Engine::Stream).unwrap();
        let why = ex
            .stream_unavailable()
            .expect("a sibling combinator does not stream");
        assert!(why.contains("a + span"), "{why}");
        let html = "<div><a>x</a><span>next</span></div>";
        assert_eq!(
            ex.extract_reporting(html),
            (vec![vec![Some("next".to_string())]], Used::Dom)
        );
        let dom = Extractor::with_engine(
            "div",
            &fields[..0]
                .iter()
                .cloned()
                .chain([("t".into(), "a".into())])
                .collect::<Vec<_>>(),
            Engine::Dom,
        )
        .unwrap();
        assert_eq!(dom.stream_unavailable(), None);
        assert_eq!(dom.extract_reporting(html).1, Used::Dom);
    }
}
