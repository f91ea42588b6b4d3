//! Extraction: a page's HTML in, its items out, as the config's selectors say.
//!
//! Selectors are compiled once, when the config is validated, into an [`Extractor`] that all
//! parser threads share. Nothing here knows of threads, channels or pages in flight: the parse
//! stage (`pipeline/parse.rs`) calls [`Extractor::extract_reporting`].
//!
//! Two engines turn a page into items: the DOM engine (`dom`, html5ever's full tree through
//! scraper) and the stream engine (`stream`, a fast tokenizer that hands over to html5ever's
//! where it must, and a copy of html5ever's tree builder that keeps no tree, falling back to
//! the DOM engine on any page it cannot follow exactly). Both apply the same per-page [`PageLimits`]; a page over them fails with a one-line
//! reason, like a page that could not be fetched.

use anyhow::{Result, anyhow};
use log::debug;
use scraper::Selector;
use url::Url;

mod dom;
mod engine;
pub(crate) mod field_spec;
pub(crate) mod json;
mod limits;
mod next_link;
mod scraped;
pub(crate) mod selector_check;
pub(crate) mod srcset;
mod stream;
pub(crate) mod values;

pub use engine::{Engine, Format, Used};
pub use field_spec::{FieldSpec, Kind};
pub use limits::{OverLimit, PageLimits};
pub use next_link::NextLink;
pub use scraped::{Extracted, RawItem, RawValue, Scraped};
pub use stream::Irregular;
pub use stream::Outcome as StreamOutcome;
pub use stream::Reading;
pub use values::Value;

use limits::Budget;
use selector_check::{check_selector, xpath_hint};

/// One extracted item: the field values in config order.
pub type Item = Vec<Value>;

/// Compiled selectors: one for the item, one per field.
#[derive(Debug, Clone)]
pub struct Extractor {
    /// The item selector as written in the config.
    item_source: String,
    /// The compiled item selector.
    item: Selector,
    /// The fields in config order, as the DOM engine takes them.
    fields: Vec<dom::DomField>,
    /// The name of each field, in config order.
    names: Vec<String>,
    /// Each field's form, in config order: what the engines take and how it is converted.
    specs: Vec<FieldSpec>,
    /// The engine asked for.
    engine: Engine,
    /// The streaming plan; `None` with `engine = "dom"` or a selector the stream cannot match.
    stream: Option<stream::Plan>,
    /// Why the stream is not used although `engine = "stream"`.
    no_stream: Option<String>,
    /// The per-page limits.
    limits: PageLimits,
    /// On JSON pages (`format = "json"`): the JSONPaths that read them, instead of the
    /// selectors.
    json: Option<json::JsonPlan>,
}

/// Keys the writer adds to every item, which a field must not shadow.
const RESERVED_FIELDS: [&str; 2] = ["page", "url"];

impl Extractor {
    /// Compiles the item selector and the `(name, spec)` field list, each spec in the short
    /// form.
    ///
    /// A spec is `selector` (the text of the first match, whitespace collapsed), `selector@attr`
    /// (an attribute of the first match) or `@attr` (an attribute of the item element itself).
    /// An attribute is named as the DOM's `getAttribute` takes it: case-insensitively on HTML
    /// elements, exactly on SVG and MathML ones (`viewBox`, `xlink:href`). Attributes that hold
    /// URLs (`href`, `src` …) are resolved against the page's URL.
    pub fn new(item: &str, fields: &[(impl AsRef<str>, impl AsRef<str>)]) -> Result<Extractor> {
        Extractor::with_engine(item, fields, Engine::default())
    }

    /// [`Extractor::new`] with the engine chosen.
    pub fn with_engine(
        item: &str,
        fields: &[(impl AsRef<str>, impl AsRef<str>)],
        engine: Engine,
    ) -> Result<Extractor> {
        let fields = fields
            .iter()
            .map(|(name, spec)| {
                let value = toml::Value::String(spec.as_ref().to_string());
                let spec = FieldSpec::from_toml(name.as_ref(), &value).map_err(|e| anyhow!(e))?;
                Ok((name.as_ref().to_string(), spec))
            })
            .collect::<Result<Vec<_>>>()?;
        Extractor::from_specs(item, fields, engine)
    }

    /// Compiles the item selector and fields read from the config ([`FieldSpec::from_toml`]),
    /// in output order.
    pub fn from_specs(
        item: &str,
        fields: Vec<(String, FieldSpec)>,
        engine: Engine,
    ) -> Result<Extractor> {
        if let Some(instead) = xpath_hint(item) {
            return Err(anyhow!("`extract.item`: {instead}"));
        }
        let item_selector = check_selector(item).map_err(|err| anyhow!("`extract.item`: {err}"))?;
        if fields.is_empty() {
            return Err(anyhow!("`[extract.fields]` must name at least one field"));
        }
        let mut compiled = Vec::with_capacity(fields.len());
        for (name, spec) in &fields {
            if RESERVED_FIELDS.contains(&name.as_str()) {
                return Err(anyhow!(
                    "`extract.fields.{name}`: the name {name:?} is reserved (every item already has \"page\" and \"url\")"
                ));
            }
            let selector = match &spec.css {
                Some(css) => Some(
                    check_selector(css).map_err(|err| anyhow!("`extract.fields.{name}`: {err}"))?,
                ),
                None => None,
            };
            compiled.push(dom::DomField {
                selector,
                attr: spec.attr.clone(),
                all: spec.all,
                raw_text: spec.raw_text,
            });
        }
        let plan_fields: Vec<stream::PlanField<'_>> = fields
            .iter()
            .map(|(_, spec)| stream::PlanField {
                selector: spec.css.as_deref(),
                attr: spec.attr.as_deref(),
                all: spec.all,
            })
            .collect();
        let raw = fields.iter().find(|(_, spec)| spec.raw_text);
        let (stream, no_stream) = match (engine, raw) {
            (Engine::Dom, _) => (None, None),
            // The stream engine keeps each captured text collapsed as it reads it, shared by
            // every field that takes it; text as written is the tree's.
            (Engine::Stream, Some((name, _))) => (
                None,
                Some(format!("`extract.fields.{name}` keeps its text raw")),
            ),
            (Engine::Stream, None) => match stream::Plan::new(item, &plan_fields) {
                Ok(plan) => (Some(plan), None),
                Err(why) => (None, Some(why)),
            },
        };
        let (names, specs) = fields.into_iter().unzip();
        Ok(Extractor {
            item_source: item.to_string(),
            item: item_selector,
            fields: compiled,
            names,
            specs,
            engine,
            stream,
            no_stream,
            limits: PageLimits::default(),
            json: None,
        })
    }

    /// The same selectors with other per-page limits.
    pub fn with_limits(mut self, limits: PageLimits) -> Extractor {
        self.limits = limits;
        self
    }

    /// The per-page limits.
    pub fn limits(&self) -> PageLimits {
        self.limits
    }

    /// Whether it reads JSON pages (`format = "json"`).
    pub fn is_json(&self) -> bool {
        self.json.is_some()
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
        self.names.iter().map(String::as_str)
    }

    /// `(name, spec)` pairs: each field as written in the config (the short form's string, or
    /// its table in a canonical order).
    pub fn field_specs(&self) -> impl Iterator<Item = (&str, &FieldSpec)> {
        self.names.iter().map(String::as_str).zip(&self.specs)
    }

    /// Takes every item of `html`, in document order, as raw strings, or says which per-page
    /// limit the page is over.
    pub fn extract(&self, html: &str) -> Result<Scraped, OverLimit> {
        self.extract_reporting(html).0
    }

    /// The items of `html` as output values, their URLs resolved against `final_url` (the
    /// page's URL after redirects) and the page's `<base href>`; also says which engine did the
    /// work.
    pub fn extract_values(
        &self,
        html: &str,
        final_url: &Url,
    ) -> (Result<Extracted, OverLimit>, Used) {
        if let Some(json) = &self.json {
            return (
                json.extract(html, &self.specs, final_url, self.limits),
                Used::Json,
            );
        }
        let (scraped, used) = self.extract_reporting(html);
        (
            scraped.map(|scraped| self.convert(scraped, final_url)),
            used,
        )
    }

    /// Raw items as output values (see [`Extractor::extract_values`]).
    pub fn convert(&self, scraped: Scraped, final_url: &Url) -> Extracted {
        scraped.convert(&self.specs, final_url)
    }

    /// [`Extractor::extract`], also saying which engine did the work.
    pub fn extract_reporting(&self, html: &str) -> (Result<Scraped, OverLimit>, Used) {
        if let Some(plan) = &self.stream {
            match plan.extract(html, self.limits) {
                stream::Outcome::Items(items) => return (Ok(items), Used::Stream),
                stream::Outcome::TooBig(reason) => return (Err(reason), Used::Stream),
                stream::Outcome::Irregular(why) => {
                    debug!("streaming extraction handed the page to the DOM engine: {why}");
                }
            }
        }
        (self.extract_dom(html), Used::Dom)
    }

    /// The stream engine alone, without the fallback: `None` when the stream is not in use.
    /// For differential tests and fuzzing.
    pub fn extract_stream(&self, html: &str) -> Option<StreamOutcome> {
        Some(self.stream.as_ref()?.extract(html, self.limits))
    }

    /// The stream engine through html5ever's tokenizer only, without the fast tokenizer and
    /// without the fallback: `None` when the stream is not in use. For differential tests and
    /// benchmarks.
    pub fn extract_stream_exact(&self, html: &str) -> Option<StreamOutcome> {
        let plan = self.stream.as_ref()?;
        Some(plan.extract_reading(html, self.limits, false).0)
    }

    /// The stream engine alone, without the fallback, also saying which tokenizer read the
    /// page: `None` when the stream is not in use. For differential tests and benchmarks.
    pub fn extract_stream_reading(&self, html: &str) -> Option<(StreamOutcome, Reading)> {
        let plan = self.stream.as_ref()?;
        Some(plan.extract_reading(html, self.limits, true))
    }

    /// Takes every item of `html` from its full HTML5 document tree (the `dom` engine).
    pub fn extract_dom(&self, html: &str) -> Result<Scraped, OverLimit> {
        dom::extract(html, &self.item, &self.fields, self.limits)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `item` and `fields` for the stream engine, which must be in use.
    pub(super) fn engines(item: &str, fields: &[(&str, &str)]) -> Extractor {
        let ex = Extractor::with_engine(item, fields, Engine::Stream).unwrap();
        assert!(ex.stream.is_some(), "{item:?} {fields:?} should stream");
        ex
    }

    fn extractor(fields: &[(&str, &str)]) -> Extractor {
        engines("div.pl2", fields)
    }

    /// The items of `html`, from the engine that `used` says; both engines must agree.
    pub(super) fn extract_with(ex: &Extractor, html: &str, used: Used) -> Vec<RawItem> {
        let (items, by) = ex.extract_reporting(html);
        assert_eq!(by, used, "{html:.200}");
        assert_eq!(items, ex.extract_dom(html), "{html:.200}");
        items.unwrap().items
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
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
        assert_eq!(
            extract_with(&ex, html, Used::Stream),
            vec![
                vec![s("红楼梦 第 1 卷"), s("/1"), None],
                vec![s("Tom & Jerry"), s("/2"), s("second")],
                vec![None, None, None],
            ]
        );
    }

    #[test]
    fn raw_text_keeps_the_text_as_written_on_the_tree() {
        let field = |text: &str| {
            let value: toml::Value = toml::from_str::<toml::Table>(&format!("f = {text}"))
                .unwrap()
                .remove("f")
                .unwrap();
            FieldSpec::from_toml("quote", &value).unwrap()
        };
        let fields = vec![
            ("raw".to_string(), field("{ css = \"p\", text = \"raw\" }")),
            ("words".to_string(), field("\"p\"")),
            ("own".to_string(), field("{ text = \"raw\" }")),
        ];
        let ex = Extractor::from_specs("div.q", fields, Engine::Stream).unwrap();
        assert_eq!(
            ex.stream_unavailable(),
            Some("`extract.fields.raw` keeps its text raw")
        );
        let html = "<div class=q><p>  “To be,\n   or not” <b>to</b>  be </p></div>";
        let items = ex.extract(html).unwrap().items;
        assert_eq!(
            items,
            vec![vec![
                s("  “To be,\n   or not” to  be "),
                s("“To be, or not” to be"),
                s("  “To be,\n   or not” to  be "),
            ]]
        );
    }

    #[test]
    fn comments_and_scripts_are_not_items() {
        let html = r#"<html><head><script>
            var tpl = '<div class="pl2"><a href="/decoy">decoy</a></div>';
            </script></head><body>
            <!-- <div class="pl2"><a href="/decoy2">decoy</a></div> -->
            <noscript><div class="pl2"><a href="/decoy3">decoy</a></div></noscript>
            <div class="pl2"><a href="/real">real</a></div>
            </body></html>"#;
        let items = extract_with(&extractor(&[("link", "a@href")]), html, Used::Stream);
        assert_eq!(items, vec![vec![s("/real")]]);
    }

    #[test]
    fn text_nodes_join_as_in_the_tree() {
        let ex = extractor(&[("title", "a"), ("link", "a@href"), ("img", "img")]);
        let pages = [
            // A comment or an element ends a text node; a stray end tag or a NUL does not.
            (
                "<div class=pl2><a>one<!-- c -->two<b>three</b>four</span>five\0six</a></div>",
                "one two three fourfivesix",
            ),
            // References are decoded by html5ever's tokenizer, in text and in attributes.
            (
                "<div class=pl2><a href='/s?x=1&amp;y=2&copy=3&notit;'>Tom &amp; Jerry &eacute;&#x4e2d; &notin;&nbsp;x</a></div>",
                "Tom & Jerry é中 ∉ x",
            ),
            // Script text inside a field is text; a newline after <pre> is dropped.
            (
                "<div class=pl2><a>x<script>if (a < b) {}</script><pre>\ny</pre></a></div>",
                "x if (a < b) {} y",
            ),
        ];
        for (html, title) in pages {
            let items = extract_with(&ex, html, Used::Stream);
            assert_eq!(items[0][0].as_deref(), Some(title), "{html}");
        }
        let items = extract_with(&ex, pages[1].0, Used::Stream);
        // `&copy` before `=` stays as written in an attribute (the standard's legacy rule).
        assert_eq!(items[0][1].as_deref(), Some("/s?x=1&y=2&copy=3&notit;"));
        // A void element's text is empty, not missing.
        let items = extract_with(&ex, "<div class=pl2><img src=x></div>", Used::Stream);
        assert_eq!(items, vec![vec![None, None, s("")]]);
    }

    #[test]
    fn nested_items_each_take_their_first_match() {
        let ex = extractor(&[("link", "a@href"), ("title", "a"), ("id", "@id")]);
        let html = "<div class=pl2 id=o><div class=pl2 id=i><a href=/i>inner</a></div>\
                    <a href=/o>outer</a></div><div class=pl2 id=last><b>no link</b></div>";
        assert_eq!(
            extract_with(&ex, html, Used::Stream),
            vec![
                vec![s("/i"), s("inner"), s("o")],
                vec![s("/i"), s("inner"), s("i")],
                vec![None, None, s("last")],
            ]
        );
    }

    #[test]
    fn repaired_markup_streams_where_no_node_moves() {
        let ex = engines(
            "li.pl2, p.pl2, div.pl2, td.pl2",
            &[("title", "a"), ("link", "a@href")],
        );
        for html in [
            // Implied end tags: <li>, <p>, cells and rows, an <a> inside an <a>.
            "<ul><li class=pl2><a href=/1>1</a><li class=pl2><a href=/2>2</a></ul>",
            "<p class=pl2><a href=/1>1</a><p class=pl2><a href=/2>2</a><div class=pl2>3</div>",
            "<table><tr><td class=pl2><a href=/1>1<td class=pl2><a href=/2>2</table>",
            "<div class=pl2><a href=/1>one<a href=/2>two</a></a></div>",
            // A table with no <tbody>, and a truncated page.
            "<table><tr><td><div class=pl2><a href=/t>cell</a></div></td></tr></table>",
            "<div class=pl2><a href=/1>cut off",
            // Unclosed inline elements closed by a block's end tag; formatting reopened.
            "<div class=pl2><span><a href=/1>x</div><p class=pl2><b>bold<p class=pl2><a>more</a>",
        ] {
            extract_with(&ex, html, Used::Stream);
        }
    }

    #[test]
    fn markup_that_moves_nodes_goes_to_the_dom_engine() {
        let ex = engines(
            "div.pl2",
            &[("title", "a"), ("link", "a@href"), ("cell", "td")],
        );
        for html in [
            // Foster parenting: content and text directly in a table.
            "<div class=pl2><table><a href=/f>fostered</a><tr><td>x</td></tr></table></div>",
            "<div class=pl2><a href=/t><table><tr><td>cell</td></tr>moved</table></a></div>",
            // The adoption agency moving a block out of a formatting element.
            "<div class=pl2><a href=/1>x<div>block</a>after</div></div>",
            // Templates, framesets, a second <body> with new attributes.
            "<template><div class=pl2><a>t</a></div></template><div class=pl2><a>real</a></div>",
            "<frameset><div class=pl2><a>f</a></div></frameset>",
            "<body><div class=pl2><a>x</a></div><body class=late>",
        ] {
            extract_with(&ex, html, Used::Dom);
        }
    }

    #[test]
    fn hostile_html_is_parsed_without_trouble() {
        let ex = extractor(&[("title", "a")]);
        assert_eq!(extract_with(&ex, "", Used::Stream), Vec::<RawItem>::new());
        // Thousands of nested elements around one item.
        let deep = format!(
            "{}<div class=\"pl2\"><a>deep</a></div>{}",
            "<div><span>".repeat(20_000),
            "</span></div>".repeat(20_000)
        );
        assert_eq!(
            extract_with(&ex, &deep, Used::Stream),
            vec![vec![s("deep")]]
        );
        // A 5 MB page with no matching items.
        let big = format!(
            "<html><body>{}</body></html>",
            "<p>filler text</p>".repeat(300_000)
        );
        assert!(big.len() > 5_000_000);
        assert!(extract_with(&ex, &big, Used::Stream).is_empty());
        // Unclosed and misnested tags, stray bytes.
        let broken = "<div class=pl2><a href=x>one<div class='pl2'><a>two</b></i></div>\u{0}<<>>";
        assert_eq!(ex.extract(broken).unwrap().items.len(), 2);
    }

    #[test]
    fn bad_specs_are_rejected_with_the_field_name() {
        let try_new = |spec: &str| {
            Extractor::new("div", &[("f".to_string(), spec.to_string())])
                .unwrap_err()
                .to_string()
        };
        assert!(try_new("a@").contains("`extract.fields.f`: no attribute"));
        assert!(try_new("").contains("`extract.fields.f` is empty"));
        assert!(try_new("a[").contains("`extract.fields.f`: invalid CSS selector"));
        // CSS errors are in our own words, for the item selector too.
        assert_eq!(
            try_new("div..x"),
            "`extract.fields.f`: invalid CSS selector \"div..x\" at character 5 (\".x\"): `.` \
             must be followed by a class name (one that starts with a digit needs escaping: \
             `.\\31 0` for class \"10\")"
        );
        let err = Extractor::new("li:eq(2)", &[("t", "a")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`extract.item`: invalid CSS selector \"li:eq(2)\" at character 4"),
            "{err}"
        );
        assert!(!err.contains("report this"), "{err}");
        let err = Extractor::new("div", &[("url".to_string(), "a".to_string())]).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let err = Extractor::new("div", &[] as &[(&str, &str)]).unwrap_err();
        assert!(err.to_string().contains("at least one field"), "{err}");
    }

    #[test]
    fn selectors_the_stream_cannot_match_use_the_dom_engine() {
        let fields = [("t".to_string(), "a:last-child".to_string())];
        let ex = Extractor::with_engine("div", &fields, Engine::Stream).unwrap();
        let why = ex
            .stream_unavailable()
            .expect("`:last-child` needs the elements after it");
        assert!(why.contains("a:last-child"), "{why}");
        let html = "<div><a>x</a><a>last</a></div>";
        let (items, used) = ex.extract_reporting(html);
        assert_eq!(used, Used::Dom);
        assert_eq!(items.unwrap().items, vec![vec![s("last")]]);
        let dom = Extractor::with_engine("div", &fields, Engine::Dom).unwrap();
        assert_eq!(dom.stream_unavailable(), None);
        assert_eq!(dom.extract_reporting(html).1, Used::Dom);
        // Child and sibling combinators stream.
        let ex = engines("div > a + b", &[("t", "i")]);
        assert_eq!(
            extract_with(&ex, "<div><a></a><b><i>y</i></b></div>", Used::Stream),
            vec![vec![s("y")]]
        );
    }
}
