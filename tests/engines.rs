//! The two extraction engines against each other: the stream engine must give exactly the DOM
//! engine's items, or hand the page to it.
//!
//! Inputs: every `#data` section of html5lib-tests' tree-construction files and the inputs of
//! its tokenizer tests (vendored under `tests/data/html5lib-tests`, MIT), the demo site's
//! pages, and random broken listing fragments (a proptest); the hand-written pages (minimal
//! pages of markup the parser repairs, the field forms) are in `engine_cases.rs`. Each is
//! extracted under a set of generic selectors, with both engines, and the stream's fast
//! tokenizer is held to html5ever's (the same outcome on every input).

use std::collections::BTreeMap;
use std::path::Path;

mod common;

use common::table_fields;
use pagecrawl::extract::{Engine, Extractor, Irregular, Reading, StreamOutcome};
use proptest::prelude::*;

/// Generic item and field selectors, each set one extractor.
const SETS: &[(&str, &[(&str, &str)])] = &[
    ("div", &[("p", "p"), ("href", "a@href"), ("id", "@id")]),
    ("p", &[("a", "a"), ("any", "*"), ("class", "@class")]),
    ("a", &[("b", "b"), ("href", "@href"), ("upper", "@HREF")]),
    ("td", &[("a", "a"), ("span", "span"), ("img", "img@src")]),
    ("li", &[("a", "a"), ("title", "@title"), ("ul", "ul li")]),
    ("*", &[("any", "*"), ("id", "@id")]),
    ("div p", &[("bi", "b, i"), ("class", "@class")]),
    (
        "[class]",
        &[("span", "span"), ("class", "@class"), ("link", "a@href")],
    ),
    (
        "svg, math",
        &[
            ("any", "*"),
            ("viewbox", "@viewBox"),
            ("use", "use@xlink:href"),
        ],
    ),
    (
        "table",
        &[
            ("tr", "tr"),
            ("first", "td:first-child"),
            ("next", "th + td"),
        ],
    ),
    (
        "body",
        &[("any", "*"), ("class", "@class"), ("form", "form@action")],
    ),
    (
        "html",
        &[("title", "title"), ("lang", "@lang"), ("head", "head > *")],
    ),
    (
        "select, option",
        &[("option", "option"), ("value", "@value")],
    ),
    ("span", &[("div", "div"), ("text", "span ~ *")]),
];

/// Item selectors and fields in the table form of a field (`{ css, attr, all, re, type }`):
/// lists, the item's own text and attribute, lists of attributes, `re` and `type`, nested
/// matches of one list.
const TABLE_SETS: &[(&str, &str)] = &[
    (
        "div",
        r#"tags = { css = "a", all = true }
           own = { }
           cls = { attr = "class" }
           hrefs = { css = "a", attr = "href", all = true }"#,
    ),
    (
        "li, p",
        r#"every = { css = "*", all = true }
           own = { }
           num = { css = "b", re = '(\d+)', type = "integer" }
           srcs = { css = "img", attr = "srcset", all = true }"#,
    ),
    (
        "a, span, td",
        r#"nested = { css = "span, b, i", all = true }
           text = { }
           first = { css = "b" }
           price = { re = '[0-9.]+', type = "number" }"#,
    ),
    ("body, table, svg", r#"own = { }"#),
];

fn extractors() -> Vec<Extractor> {
    let short = SETS.iter().map(|(item, fields)| {
        let ex = Extractor::with_engine(item, fields, Engine::Stream).unwrap();
        assert_eq!(ex.stream_unavailable(), None, "{item}: {fields:?}");
        ex
    });
    let tables = TABLE_SETS.iter().map(|(item, fields)| {
        let ex = Extractor::from_specs(item, table_fields(fields), Engine::Stream).unwrap();
        assert_eq!(ex.stream_unavailable(), None, "{item}: {fields}");
        ex
    });
    short.chain(tables).collect()
}

/// What comparing the engines on a corpus found.
#[derive(Default)]
struct Tally {
    /// (input, selector set) pairs the stream took itself.
    streamed: usize,
    /// Items the stream gave on those pairs (all compared with the DOM engine's).
    items: usize,
    /// Pairs the stream handed to the DOM engine, by reason.
    handed: BTreeMap<Irregular, usize>,
    /// Inputs that went to the DOM engine under at least one selector set.
    inputs_handed: usize,
    /// Differences, described.
    differences: Vec<String>,
    /// (input, selector set) pairs by the tokenizer that read them.
    readings: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn compare(&mut self, extractors: &[Extractor], html: &str) {
        let mut handed = false;
        for ex in extractors {
            // The fast tokenizer, with or without a handover to html5ever's, must give the
            // tree builder what html5ever's alone gives it: the same outcome, to the reason
            // a page is handed to the tree.
            let (fast, reading) = ex
                .extract_stream_reading(html)
                .expect("the stream is in use");
            let exact = ex.extract_stream_exact(html).expect("the stream is in use");
            if fast != exact {
                self.differences.push(format!(
                    "{:?} on {html:?}: the fast tokenizer ({reading:?}) differs:\n  fast  {fast:?}\n  exact {exact:?}",
                    ex.item_selector()
                ));
            }
            let name = match reading {
                Reading::Fast => "fast tokenizer",
                Reading::Handover => "fast, then html5ever's",
                Reading::Html5ever => "html5ever's tokenizer",
            };
            *self.readings.entry(name).or_default() += 1;
            let dom = ex.extract_dom(html);
            assert_eq!(ex.extract(html), dom, "{html:?}");
            let streamed = match ex.extract_stream(html).expect("the stream is in use") {
                StreamOutcome::Items(items) => Ok(items),
                StreamOutcome::TooBig(reason) => Err(reason),
                StreamOutcome::Irregular(why) => {
                    handed = true;
                    *self.handed.entry(why).or_default() += 1;
                    continue;
                }
            };
            self.streamed += 1;
            self.items += streamed.as_ref().map_or(0, |s| s.items.len());
            if streamed != dom {
                self.differences.push(format!(
                    "{:?} on {html:?}:\n  stream {streamed:?}\n  dom    {dom:?}",
                    ex.item_selector()
                ));
            }
        }
        self.inputs_handed += usize::from(handed);
    }

    fn report(&self, corpus: &str, inputs: usize) {
        let pairs = self.streamed + self.handed.values().sum::<usize>();
        eprintln!(
            "{corpus}: {inputs} inputs x {} selector sets: {} streamed ({} items), {} to the tree \
             ({:.1} %); {} inputs ({:.1} %) went to the tree under some set; {} differences",
            SETS.len(),
            self.streamed,
            self.items,
            pairs - self.streamed,
            100.0 * (pairs - self.streamed) as f64 / pairs as f64,
            self.inputs_handed,
            100.0 * self.inputs_handed as f64 / inputs as f64,
            self.differences.len()
        );
        for (why, count) in &self.handed {
            eprintln!("  {count:6}  {why}");
        }
        eprintln!("  read by:");
        for (reading, count) in &self.readings {
            eprintln!(
                "  {count:6}  {reading} ({:.1} %)",
                100.0 * *count as f64 / pairs as f64
            );
        }
        assert!(
            self.differences.is_empty(),
            "{} differences, the first ones:\n{}",
            self.differences.len(),
            self.differences[..self.differences.len().min(10)].join("\n")
        );
    }
}

/// The `#data` sections of the vendored tree-construction files.
fn html5lib_inputs() -> Vec<String> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/html5lib-tests/tree-construction");
    let mut inputs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for section in text.split("#data\n").skip(1) {
            let (data, _) = section
                .split_once("\n#errors\n")
                .unwrap_or_else(|| panic!("{}: a #data without #errors", file.display()));
            inputs.push(data.to_string());
        }
    }
    inputs
}

#[test]
fn html5lib_tree_construction_inputs_give_the_same_items() {
    let inputs = html5lib_inputs();
    assert!(inputs.len() > 1700, "only {} inputs", inputs.len());
    let extractors = extractors();
    let mut tally = Tally::default();
    for html in &inputs {
        tally.compare(&extractors, html);
    }
    tally.report("html5lib tree-construction", inputs.len());
}

#[test]
fn html5lib_tokenizer_inputs_give_the_same_items() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/html5lib-tests/tokenizer/inputs.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let inputs: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(inputs.len() > 6000, "only {} inputs", inputs.len());
    let extractors = extractors();
    let mut tally = Tally::default();
    for html in &inputs {
        tally.compare(&extractors, html);
    }
    tally.report("html5lib tokenizer", inputs.len());
}

#[test]
fn demo_pages_stream_and_give_the_same_items() {
    use demo_site::{SiteOptions, render_page};
    let opts = SiteOptions::default();
    let extractors = extractors();
    let mut tally = Tally::default();
    for page in [0, 1, 7, opts.pages] {
        tally.compare(&extractors, &render_page(&opts, page));
    }
    tally.report("demo site", 4);
    assert_eq!(tally.inputs_handed, 0, "{:?}", tally.handed);
}

/// A random broken listing fragment, douban-like.
fn fragment() -> impl Strategy<Value = String> {
    let tag = prop::sample::select(vec![
        "div",
        "span",
        "a",
        "p",
        "li",
        "ul",
        "table",
        "tr",
        "td",
        "b",
        "i",
        "form",
        "br",
        "img",
        "svg",
        "math",
        "select",
        "option",
        "h2",
        "h3",
        "button",
        "em",
        "font",
        "tbody",
        "label",
        "custom-el",
        "input",
        "pre",
        "textarea",
        "script",
        "body",
        "html",
        "head",
        "title",
        "nobr",
        "object",
        "caption",
        "colgroup",
        "col",
        "dd",
        "dt",
        "rp",
        "use",
        "clippath",
    ]);
    let class = prop::sample::select(vec![
        "",
        " class=item",
        " class=pl2",
        " class=\"pl&#50;\"",
        " class=rating_nums",
        " class=star",
        " href=\"?a=1&amp;b=2\"",
        " href=/x&filter=",
        " id=x",
        " HREF=/y",
        " xlink:href=#z",
        " viewbox=\"0 0 1 1\"",
        " type=hidden",
        " color=red",
    ]);
    let text = prop::sample::select(vec![
        "",
        "9.2",
        " ",
        "\n",
        "(420685人评价)",
        "&amp;",
        "&#x41\0a",
        "Line\0",
        "x&notit;y",
        "\r\n",
    ]);
    let piece = (0..4usize, tag, class, text).prop_map(|(kind, tag, class, text)| match kind {
        0 => format!("<{tag}{class}>{text}"),
        1 => format!("</{tag}>{text}"),
        2 => format!("<{tag}{class}/>{text}"),
        _ => text.to_string(),
    });
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// The same fragments, 2,000 of a fixed seed, tallied together: the shares of each path.
#[test]
fn random_broken_listings_tallied() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = fragment();
    let extractors = extractors();
    let mut tally = Tally::default();
    for _ in 0..2000 {
        let html = strategy.new_tree(&mut runner).unwrap().current();
        tally.compare(&extractors, &html);
    }
    tally.report("random broken listings", 2000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_broken_listings_give_the_same_items(html in fragment()) {
        let extractors = extractors();
        let mut tally = Tally::default();
        tally.compare(&extractors, &html);
        prop_assert!(tally.differences.is_empty(), "{}", tally.differences.join("\n"));
    }
}
