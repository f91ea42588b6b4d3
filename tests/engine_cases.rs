//! Hand-written pages through both extraction engines: minimal pages of markup the parser
//! repairs (references in attributes, stray end tags, misplaced head and body tags, scopes,
//! tables, foreign content, NUL bytes), the field forms (lists, the item's own text and
//! attribute, `re` and `type`), the document's base URL, attribute buffers reused from page to
//! page, each reason a page goes to the DOM engine, and byte order marks mid-page. The stream engine must give exactly the DOM
//! engine's items, or hand the page to it. The corpora (html5lib-tests, the demo pages, random
//! broken listings) are in `engines.rs`.

mod common;

use common::table_fields;
use pagecrawl::extract::{
    Engine, Extractor, Irregular, PageLimits, RawItem, RawValue, StreamOutcome,
};

/// Shorthand for expected items.
fn items(rows: &[&[Option<&str>]]) -> Vec<RawItem> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|v| RawValue::One(v.map(str::to_string)))
                .collect()
        })
        .collect()
}

fn one(item: &str, fields: &[(&str, &str)]) -> Extractor {
    Extractor::with_engine(item, fields, Engine::Stream).unwrap()
}

/// Both engines, and the stream's own answer when it keeps the page.
fn both(ex: &Extractor, html: &str) -> Vec<RawItem> {
    let dom = ex.extract_dom(html).unwrap();
    match ex.extract_stream(html).unwrap() {
        StreamOutcome::Items(streamed) => assert_eq!(streamed, dom, "{html}"),
        StreamOutcome::TooBig(reason) => panic!("{reason} on {html}"),
        StreamOutcome::Irregular(_) => {}
    }
    assert_eq!(ex.extract(html).as_ref(), Ok(&dom), "{html}");
    dom.items
}

/// The stream engine keeps a page's attribute values for the next page's, on the same thread:
/// a value taken over from a longer one, a shorter one, one that fits inline and an empty one
/// come out exactly, page after page.
#[test]
fn attribute_values_reused_from_earlier_pages_come_out_exact() {
    let ex = one("div", &[("class", "@class"), ("link", "a@href")]);
    let pages = [
        (
            "a-rather-long-class-name-number-one",
            "/a/long/link/that/takes/room/1",
        ),
        ("short-but-heap", "/b/2"),
        ("tiny", "/c"),
        ("", "/d/long/link/after/an/empty/class/4"),
    ];
    for round in 0..3 {
        for (class, link) in pages {
            let html = format!(
                "<div class=\"{class}\"><a href=\"{link}\">x</a></div><p class=filler-{round}>"
            );
            let want = items(&[&[Some(class), Some(link)]]);
            assert_eq!(both(&ex, &html), want, "{html}");
        }
    }
}

#[test]
fn minimal_pages_of_repaired_markup() {
    let some = Some;
    // 1. Attribute values are decoded before matching.
    let ex = one("a[href*=\"&filter\"]", &[("href", "@href")]);
    let html = r#"<a href="?start=25&amp;filter=">next</a>"#;
    assert_eq!(both(&ex, html), items(&[&[some("?start=25&filter=")]]));
    let ex = one("div.pl2", &[("t", "a")]);
    assert_eq!(
        both(&ex, r#"<div class="pl&#50;"><a>x</a></div>"#),
        items(&[&[some("x")]])
    );
    // 2. A stray </br> is a <br>, </p> an empty <p>.
    let ex = one("a", &[("t", "a"), ("text", "@href")]);
    let ex_text = one("div", &[("t", "a")]);
    let html = r#"<div><a href="/1">Line one</br>Line two</a></div>"#;
    assert_eq!(both(&ex_text, html), items(&[&[some("Line one Line two")]]));
    both(&ex, html);
    assert_eq!(
        both(&one("div", &[("p", "p")]), "<div><a>x</p>y</a></div>"),
        items(&[&[some("")]])
    );
    // 3. Head, body and html tags out of place.
    let ex = one(".single", &[("img", "img@src")]);
    let html = r#"<head><title>T</title><img src="/pixel.gif"></head><body class="single"><img src="/cover.jpg">"#;
    assert_eq!(both(&ex, html), items(&[&[some("/pixel.gif")]]));
    for html in [
        "<p>x</body><div class=single><img src=/a></div></html><div class=single><img src=/b>",
        "text before<html><body class=single><img src=/c>",
        "<body><img src=/d><body class=single>",
    ] {
        both(&ex, html);
    }
    // 4. An inline end tag with a block open inside it is ignored.
    let ex = one("div.star", &[("rating", "span.rating_nums")]);
    let html = r#"<div class="star"><span class="rating_nums">9.2<div></span><span class="pl">(420685人评价)</span></div></div>"#;
    assert_eq!(both(&ex, html), items(&[&[some("9.2 (420685人评价)")]]));
    // 5. The form element pointer.
    let ex = one("form", &[("input", "input@name"), ("action", "@action")]);
    for html in [
        "<form action=/a><div><form action=/b><input name=q></form></div>",
        "<table><form action=/t><tr><td><input name=q></td></tr></table>",
        "<form action=/c><div><input name=a></form><input name=b></div><form action=/d><input name=c>",
    ] {
        both(&ex, html);
    }
    // 6. Content moved out of a table.
    let ex = one("table", &[("input", "input@name"), ("text", "colgroup")]);
    both(&ex, r#"<table><input name="q"><tr><td>x</td></tr></table>"#);
    both(&ex, "<table><colgroup>text<col></colgroup></table>");
    // 7. End tags and their scopes.
    let ex = one("p, h2, h3, li, ul", &[("any", "*"), ("b", "button")]);
    for html in [
        "<p><button>x</p>y</button>",
        "<h2>a</h3>b",
        "<li><ul></li><li>c</ul>",
        "<svg><p>d</svg>",
        "<svg></p>e</svg>",
        "<ruby><p><rp>f</rp></p></ruby>",
    ] {
        both(&ex, html);
    }
    // 8. `*` matches the elements the parser adds.
    let ex = one("table.navbox", &[("any", "*")]);
    let html = "<table class=navbox><tr><td>Projects</td><td>Bugzilla</td></tr></table>";
    assert_eq!(both(&ex, html), items(&[&[some("Projects Bugzilla")]]));
    // 9. SVG names and attribute names.
    let ex = one(
        "svg",
        &[
            ("use", "use@xlink:href"),
            ("viewbox", "@viewBox"),
            ("lower", "@viewbox"),
            ("clip", "clipPath@id"),
        ],
    );
    let html = r##"<svg viewBox="0 0 1 1"><clippath id=c></clippath><use xlink:href="#i"/></svg>"##;
    assert_eq!(
        both(&ex, html),
        items(&[&[some("#i"), some("0 0 1 1"), None, some("c")]])
    );
    assert_eq!(
        both(&one("a", &[("href", "@HREF")]), "<a HREF=/x>x</a>"),
        items(&[&[some("/x")]])
    );
    // An attribute the stream's fast tokenizer keeps only for a selector: `xlink:href` is
    // `href` in the XLink namespace on SVG elements, which `[*|href]` tests.
    let ex = one("[*|href]", &[("t", "text"), ("href", "@href")]);
    assert_eq!(
        both(
            &ex,
            r##"<p><svg><g xlink:href="#x"><text>t</text></g></svg><a href=y>z</a>"##
        ),
        items(&[&[some("t"), None], &[None, some("y")]])
    );
    // 10. NUL bytes.
    let ex = one("div", &[("a", "a"), ("svg", "svg")]);
    assert_eq!(
        both(&ex, "<div><a>&#x41\0a</a><svg>b\0c</svg></div>"),
        items(&[&[some("Aa"), some("b\u{fffd}c")]])
    );
    // 11. A nested <a> inside MathML.
    let ex = one("a", &[("t", "*"), ("href", "@href")]);
    both(&ex, "<a href=1><math><a href=2>x</a></math></a>");
}

/// Both engines on `html` under table-form `fields`: the whole outcome (items and base)
/// must be equal, and the stream must keep the page when `streams`.
fn both_scraped(
    item: &str,
    fields: &str,
    html: &str,
    streams: bool,
) -> pagecrawl::extract::Scraped {
    let ex = Extractor::from_specs(item, table_fields(fields), Engine::Stream).unwrap();
    let dom = ex.extract_dom(html).unwrap();
    match ex.extract_stream(html).unwrap() {
        StreamOutcome::Items(streamed) => assert_eq!(streamed, dom, "{html}"),
        StreamOutcome::TooBig(reason) => panic!("{reason} on {html}"),
        StreamOutcome::Irregular(why) => assert!(!streams, "{why} on {html}"),
    }
    dom
}

#[test]
fn lists_and_the_items_own_text_and_attribute_in_both_engines() {
    let fields = r#"tags = { css = "a.tag", all = true }
                    hrefs = { css = "a", attr = "href", all = true }
                    own = { }
                    cls = { attr = "class" }
                    none = { css = "i", all = true }"#;
    let html = r#"<div class="q one"> Quote <b>1</b>
        <a class=tag href="t/a">love</a><a href=x>other</a><a class=tag>life <b>now</b></a></div>
        <div class=q><a class=tag><a class=tag>inner</a></a></div>"#;
    let scraped = both_scraped("div.q", fields, html, true);
    let all = |v: &[&str]| RawValue::All(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        scraped.items,
        vec![
            vec![
                all(&["love", "life now"]),
                all(&["t/a", "x"]),
                RawValue::One(Some("Quote 1 love other life now".into())),
                RawValue::One(Some("q one".into())),
                all(&[]),
            ],
            vec![
                all(&["", "inner"]),
                all(&[]),
                RawValue::One(Some("inner".into())),
                RawValue::One(Some("q".into())),
                all(&[]),
            ],
        ]
    );
    // Nested items each take every match inside them, and their own text.
    let nested = both_scraped(
        "div",
        r#"a = { css = "a", all = true }
           own = { }"#,
        "<div id=o><a>1</a><div id=i><a>2</a><a>3</a></div><a>4</a></div>",
        true,
    );
    assert_eq!(
        nested.items,
        vec![
            vec![
                all(&["1", "2", "3", "4"]),
                RawValue::One(Some("1 2 3 4".into()))
            ],
            vec![all(&["2", "3"]), RawValue::One(Some("2 3".into()))],
        ]
    );
}

#[test]
fn the_document_base_is_the_first_base_href_in_tree_order_in_both_engines() {
    let fields = r#"link = { css = "a", attr = "href" }"#;
    for (html, base) in [
        ("<a href=x>x</a>", None),
        ("<head><base href='/b/'></head><a href=x>x</a>", Some("/b/")),
        // A <base> without href does not count; the next one with href does.
        (
            "<head><base target=_top><base href='/two/'><base href='/three/'></head><a>x</a>",
            Some("/two/"),
        ),
        // In the body, after the items, twice: the first in tree order.
        (
            "<body><a href=x>x</a><base href='/late/'><p><base href='/later/'>",
            Some("/late/"),
        ),
        // After </head>: the parser puts it back into the head.
        (
            "<head></head><base href='/after-head/'><body><a>x</a>",
            Some("/after-head/"),
        ),
        // Broken markup around it, an unclosed attribute quote before it.
        (
            "<div><a href=x>x<base href=/in-a/ ></div><base href=/second/>",
            Some("/in-a/"),
        ),
        // A <base> in SVG is not an HTML base element.
        (
            "<svg><base href='/svg/'></base></svg><a href=x>x</a><base href='/html/'>",
            Some("/html/"),
        ),
        ("<base HREF=' /spaced/ '><a>x</a>", Some(" /spaced/ ")),
    ] {
        let scraped = both_scraped("a", fields, html, true);
        assert_eq!(scraped.base_href.as_deref(), base, "{html}");
    }
    // Pages the stream hands to the DOM engine still find their base there.
    let moved = "<table><base href='/fostered/'><a href=x>x</a><tr><td>1</td></tr></table>";
    let scraped = both_scraped("a", fields, moved, false);
    assert_eq!(scraped.base_href.as_deref(), Some("/fostered/"));
}

#[test]
fn re_and_type_values_in_both_engines() {
    let ex = Extractor::from_specs(
        "article",
        table_fields(
            r#"price = { css = "p.price", re = '([0-9.]+)', type = "number" }
               rank = { css = "span.rank", re = '(\d+)', type = "integer" }
               stars = { attr = "class", re = 'star-(\w+)' }
               link = "h3 a@href"
               img = { css = "img", attr = "data-original", type = "url" }
               tags = { css = "a.tag", all = true, type = "integer" }"#,
        ),
        Engine::Stream,
    )
    .unwrap();
    let html = r#"<html><head><base href="/shop/"></head><body>
        <article class="star-Two"><h3><a href="book/1.html">A</a></h3><span class=rank>61.</span>
          <p class=price>£47.01</p><img data-original="../i/1.jpg"><a class=tag>1</a><a class=tag>x</a></article>
        <article><p class=price>£4.7.01</p><span class=rank>none</span><img data-original="http://[::1"></article>
        </body></html>"#;
    let url = url::Url::parse("http://books.example/list/page-2.html").unwrap();
    let (stream, used) = ex.extract_values(html, &url);
    assert_eq!(used, pagecrawl::extract::Used::Stream);
    let dom = ex.convert(ex.extract_dom(html).unwrap(), &url);
    let stream = stream.unwrap();
    assert_eq!(stream, dom);
    let json: Vec<String> = stream
        .items
        .iter()
        .map(|item| {
            let mut out = Vec::new();
            for value in item {
                value.write_json(&mut out);
                out.push(b' ');
            }
            String::from_utf8(out).unwrap()
        })
        .collect();
    assert_eq!(
        json,
        [
            r#"47.01 61 "Two" "http://books.example/shop/book/1.html" "http://books.example/i/1.jpg" [1] "#,
            r#"null null null null null [] "#,
        ]
    );
    // "£4.7.01" gives "4.7.01", not a number; "x" is no integer; "http://[::1" no URL.
    assert_eq!(stream.unconverted, 3);
}

/// Each reason the stream hands a page to the DOM engine, on a page of that case: the stream
/// says that reason, and the page still gives the DOM engine's items (or its limit).
#[test]
fn each_irregular_page_goes_to_the_dom_engine_with_its_reason() {
    let ex = one("div, table", &[("t", "a"), ("cell", "td")]);
    let head = one("html", &[("head", "head"), ("t", "title")]);
    let tight = |limits| one("div", &[("t", "a")]).with_limits(limits);
    let few_items = tight(PageLimits {
        max_items: 1,
        ..PageLimits::default()
    });
    let little_text = tight(PageLimits {
        max_bytes: 8,
        ..PageLimits::default()
    });
    let cases: &[(&Extractor, &str, Irregular)] = &[
        (
            &ex,
            "<table><a href=/f>x</a><tr><td>1</td></tr></table>",
            Irregular::FosterParenting,
        ),
        (
            &ex,
            "<table>moved<tr><td>1</td></tr></table>",
            Irregular::TableText,
        ),
        (
            &ex,
            "<div><a href=/1>x<div>block</a>after</div></div>",
            Irregular::AdoptionAgency,
        ),
        (
            &ex,
            "<template><div><a>t</a></div></template><div><a>real</a></div>",
            Irregular::Template,
        ),
        (&ex, "<frameset><frame></frameset>", Irregular::Frameset),
        (
            &ex,
            "<body><div><a>x</a></div><body class=late>",
            Irregular::AttributesAdded,
        ),
        (
            &head,
            "<html><head></head><title>late</title><body>x",
            Irregular::HeadContentAfterHead,
        ),
        (
            &ex,
            "<div><meta http-equiv=content-type content='text/html; charset=utf-8'>\u{feff}<a>",
            Irregular::ByteOrderMarkAfterContentType,
        ),
        (
            &few_items,
            "<div><a>1</a></div><div><a>2</a></div>",
            Irregular::TooManyItems,
        ),
        (
            &little_text,
            "<div><a>more than eight bytes</a></div>",
            Irregular::TooMuchText,
        ),
    ];
    for &(ex, html, why) in cases {
        assert_eq!(
            ex.extract_stream(html),
            Some(StreamOutcome::Irregular(why)),
            "{html}"
        );
        assert_eq!(ex.extract(html), ex.extract_dom(html), "{html}");
    }
}

/// html5ever's driver feeds its tokenizer anew after a script's end tag and after an element of
/// the head that names an encoding, and the tokenizer drops a byte order mark there as at the
/// start of the page: both engines drop it, on each of the stream's tokenizer paths (the fast
/// one, a handover to html5ever's after `<?`, html5ever's alone for a page with a NUL byte).
#[test]
fn a_byte_order_mark_where_the_parser_is_fed_anew_is_dropped_by_both_engines() {
    let ex = one("p", &[("own", "b"), ("text", "@id")]);
    let text = |html: &str| both(&ex, html)[0][0].as_deref().map(str::to_string);
    for prefix in ["", "<?php ?>", "\0"] {
        for (body, want) in [
            ("<script></script>\u{feff}z", "z"),
            ("<meta charset=utf-8>\u{feff}z", "z"),
            ("<link charset=x rel=icon>\u{feff}z", "z"),
            (
                "<meta http-equiv=content-type content='text/html; charset=gbk'>\u{feff}z",
                "z",
            ),
            // Elsewhere it is a character like any other.
            ("<meta name=x>\u{feff}z", "\u{feff}z"),
            ("<b></b>\u{feff}z", "\u{feff}z"),
        ] {
            let html = format!("{prefix}<p><b>{body}</b></p>");
            assert_eq!(text(&html).as_deref(), Some(want), "{html:?}");
        }
    }
}
