//! Fuzzes the extractor: any bytes, decoded as a crawler would, must parse without a panic, and
//! the stream engine must give exactly what the DOM engine gives, or hand the page to it.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pagecrawl::testing::decode_body;
use pagecrawl::extract::{Engine, Extractor, FieldSpec, PageLimits, StreamOutcome};

/// Selector sets the engines are compared under: the demo's, and generic ones that match the
/// elements a parser adds, foreign content, siblings and attributes in any case.
const SETS: &[(&str, &[(&str, &str)])] = &[
    (
        "div.pl2, li, p.x",
        &[
            ("title", "a"),
            ("link", "a@href"),
            ("id", "@id"),
            ("cell", "td b"),
            ("para", "p"),
        ],
    ),
    ("*", &[("any", "*"), ("class", "@CLASS")]),
    ("table, tr, form", &[("td", "td + td"), ("input", "input@name"), ("tbody", "tbody > *")]),
    ("svg, math, a", &[("use", "use@xlink:href"), ("box", "@viewBox"), ("text", "*")]),
    ("[class] span", &[("b", "b ~ i"), ("href", "a[href*='&']@href")]),
];

/// Selector sets in the table form of a field: lists (nested matches included), the item's
/// own text and attribute, `re` and `type`. The engines' raw strings and `<base href>` are
/// compared, so every form is held equal.
const TABLE_SETS: &[(&str, &str)] = &[
    (
        "div, li, p",
        r#"all = { css = "a, b", all = true }
           own = { }
           cls = { attr = "class" }
           hrefs = { css = "a", attr = "href", all = true }"#,
    ),
    (
        "*",
        r#"own = { }
           num = { css = "*", re = '(\d+)', type = "integer", all = true }"#,
    ),
];

/// The limits every fuzzed extractor runs under.
const LIMITS: PageLimits = PageLimits {
    max_items: 500,
    max_bytes: 1 << 20,
};

fn extractors() -> &'static [Extractor] {
    static EXTRACTORS: OnceLock<Vec<Extractor>> = OnceLock::new();
    EXTRACTORS.get_or_init(|| {
        let short = SETS.iter().map(|(item, fields)| {
            let ex = Extractor::with_engine(item, fields, Engine::Stream)
                .expect("valid selectors")
                .with_limits(LIMITS);
            assert_eq!(ex.stream_unavailable(), None, "{item}");
            ex
        });
        let tables = TABLE_SETS.iter().map(|(item, fields)| {
            let table: toml::Table = toml::from_str(fields).expect("valid TOML");
            let fields = table
                .iter()
                .map(|(name, value)| (name.clone(), FieldSpec::from_toml(name, value).unwrap()))
                .collect();
            let ex = Extractor::from_specs(item, fields, Engine::Stream)
                .expect("valid selectors")
                .with_limits(LIMITS);
            assert_eq!(ex.stream_unavailable(), None, "{item}");
            ex
        });
        short.chain(tables).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a declared charset, so the decoding paths are fuzzed too.
    let (content_type, body) = match data.split_first() {
        Some((0, rest)) => (Some("text/html; charset=gbk"), rest),
        Some((1, rest)) => (Some("text/html; charset=shift_jis"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let html = decode_body(body.to_vec(), content_type);
    for ex in extractors() {
        let dom = ex.extract_dom(&html);
        match ex.extract_stream(&html).expect("the stream is in use") {
            StreamOutcome::Items(items) => {
                assert_eq!(Ok(items), dom, "the engines disagree on {html:?}")
            }
            StreamOutcome::TooBig(reason) => {
                assert_eq!(Err(reason), dom, "the engines disagree on {html:?}")
            }
            StreamOutcome::Irregular(_) => {}
        }
    }
});
