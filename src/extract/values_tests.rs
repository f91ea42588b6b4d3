//! Tests of `values.rs`: the conversion rules, the document's base URL and the JSON encoding.

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn field(toml_value: &str) -> FieldSpec {
    let table: toml::Table = toml::from_str(&format!("f = {toml_value}")).unwrap();
    FieldSpec::from_toml("f", &table["f"]).unwrap()
}

fn json(value: &Value) -> String {
    let mut out = Vec::new();
    value.write_json(&mut out);
    String::from_utf8(out).unwrap()
}

/// The JSON of `spec` applied to `raws` on a page at `http://books.example/a/b.html`, and
/// how many values did not convert.
fn convert(spec: &str, raws: &[&str]) -> (String, u64) {
    let base = url("http://books.example/a/b.html");
    let mut converter = Converter::new(&base);
    let value = converter.value(&field(spec), raws);
    (json(&value), converter.unconverted)
}

#[test]
fn numbers_keep_the_page_digits() {
    for (text, number) in [
        ("47.01", Some("47.01")),
        ("  47.010 ", Some("47.010")),
        ("+5", Some("5")),
        ("−3.5", Some("-3.5")),
        ("1,234,567.5", Some("1234567.5")),
        ("007", Some("7")),
        ("0.5", Some("0.5")),
        (".5", Some("0.5")),
        ("5.", Some("5")),
        ("1E-3", Some("1e-3")),
        ("2e+10", Some("2e10")),
        ("12345678901234567890123", Some("12345678901234567890123")),
        ("-0", Some("-0")),
        ("£47.01", None),
        ("47,01", None),
        ("1,23", None),
        ("1234,567", None),
        ("1.2.3", None),
        ("", None),
        (".", None),
        ("-", None),
        ("1e", None),
        ("1e400", None),
        ("NaN", None),
        ("inf", None),
        ("4 stars", None),
    ] {
        assert_eq!(to_number(text).as_deref(), number, "{text:?}");
    }
}

#[test]
fn integers() {
    for (text, integer) in [
        ("42", Some(42)),
        (" -7 ", Some(-7)),
        ("1,234", Some(1234)),
        ("9223372036854775807", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("12.5", None),
        ("1e3", None),
        ("12 pages", None),
        ("", None),
        ("+", None),
    ] {
        assert_eq!(to_integer(text), integer, "{text:?}");
    }
}

#[test]
fn the_issue_examples() {
    assert_eq!(
        convert(r#""h3 a@title""#, &["A Light"]),
        (r#""A Light""#.into(), 0)
    );
    assert_eq!(
        convert(r#""h3 a@href""#, &["../c/d.html?x=1#top"]),
        (r#""http://books.example/c/d.html?x=1#top""#.into(), 0)
    );
    assert_eq!(
        convert(r#"{ css = "a.tag", all = true }"#, &["poetry", "art"]),
        (r#"["poetry","art"]"#.into(), 0)
    );
    assert_eq!(
        convert(r#"{ css = "a.tag", all = true }"#, &[] as &[&str]),
        ("[]".into(), 0)
    );
    let price = r#"{ css = "p.price_color", re = '([0-9.]+)', type = "number" }"#;
    assert_eq!(convert(price, &["£47.01"]), ("47.01".into(), 0));
    assert_eq!(convert(price, &["sold out"]), ("null".into(), 0));
    assert_eq!(convert(price, &["£4.7.01"]), ("null".into(), 1));
    assert_eq!(convert(price, &[] as &[&str]), ("null".into(), 0));
    let rank = r#"{ css = "span.rank", re = '(\d+)', type = "integer" }"#;
    assert_eq!(convert(rank, &["No. 12"]), ("12".into(), 0));
    let cover = r#"{ css = "img", attr = "data-original", type = "url" }"#;
    assert_eq!(
        convert(cover, &["/i/1.jpg"]),
        (r#""http://books.example/i/1.jpg""#.into(), 0)
    );
    assert_eq!(convert(cover, &["http://[::1"]), ("null".into(), 1));
    // `type = "string"` keeps a link as written.
    let raw = r#"{ css = "a", attr = "href", type = "string" }"#;
    assert_eq!(convert(raw, &["../x"]), (r#""../x""#.into(), 0));
}

#[test]
fn re_takes_the_group_else_the_match() {
    let re = Regex::new(r"\d+").unwrap();
    assert_eq!(apply_re(&re, "No. 12 of 30"), Some("12"));
    let re = Regex::new(r"of (\d+)").unwrap();
    assert_eq!(apply_re(&re, "No. 12 of 30"), Some("30"));
    assert_eq!(apply_re(&re, "none"), None);
    // A group that took no part in the match gives nothing, not an empty string.
    let re = Regex::new(r"x(\d)?").unwrap();
    assert_eq!(apply_re(&re, "x"), None);
}

#[test]
fn lists_apply_re_and_type_to_each() {
    let spec = r#"{ css = "li", all = true, re = '#(\S+)', type = "integer" }"#;
    // "none" does not match `re`: left out; "#x" matches and does not convert: counted.
    assert_eq!(
        convert(spec, &["#1", "none", "#x", "#1,000"]),
        ("[1,1000]".into(), 1)
    );
    let links = r#"{ css = "a", attr = "href", all = true }"#;
    assert_eq!(
        convert(links, &["/a", "b", "https://other.example/"]),
        (
            r#"["http://books.example/a","http://books.example/a/b","https://other.example/"]"#
                .into(),
            0
        )
    );
}

#[test]
fn srcset_gives_its_urls() {
    let spec = r#"{ css = "img", attr = "srcset" }"#;
    assert_eq!(
        convert(spec, &["small.jpg 480w, /big.jpg 2x"]),
        (
            r#"["http://books.example/a/small.jpg","http://books.example/big.jpg"]"#.into(),
            0
        )
    );
    let all = r#"{ css = "img", attr = "srcset", all = true }"#;
    assert_eq!(
        convert(all, &["a.jpg", "b.jpg 1x, c.jpg 2x"]),
        (
            r#"["http://books.example/a/a.jpg","http://books.example/a/b.jpg","http://books.example/a/c.jpg"]"#
                .into(),
            0
        )
    );
    assert_eq!(
        convert(spec, &["http://[::1 1x, ok.jpg"]),
        (r#"["http://books.example/a/ok.jpg"]"#.into(), 1)
    );
}

#[test]
fn base_href_by_the_standard() {
    let page = url("https://site.example/list/page?p=2");
    let base = |href| document_base(&page, href).to_string();
    assert_eq!(base(None), "https://site.example/list/page?p=2");
    assert_eq!(base(Some("/static/")), "https://site.example/static/");
    assert_eq!(base(Some("  sub/ ")), "https://site.example/list/sub/");
    assert_eq!(
        base(Some("https://cdn.example/x/")),
        "https://cdn.example/x/"
    );
    assert_eq!(base(Some("//cdn.example/y")), "https://cdn.example/y");
    assert_eq!(base(Some("")), "https://site.example/list/page?p=2");
    // Ignored: unparsable, javascript: and data: URLs.
    assert_eq!(
        base(Some("http://[::1")),
        "https://site.example/list/page?p=2"
    );
    assert_eq!(
        base(Some("javascript:alert(1)")),
        "https://site.example/list/page?p=2"
    );
    assert_eq!(
        base(Some("DATA:text/html,x")),
        "https://site.example/list/page?p=2"
    );
    // Relative links then resolve against it.
    let cdn = document_base(&page, Some("https://cdn.example/x/"));
    let mut converter = Converter::new(&cdn);
    let value = converter.value(&field(r#""a@href""#), &["img.png"]);
    assert_eq!(value, Value::String("https://cdn.example/x/img.png".into()));
}

#[test]
fn json_encoding() {
    let value = Value::List(vec![
        Value::Null,
        Value::String("a \"q\" \\ \n ü \u{1}".into()),
        Value::Number("47.010".into()),
        Value::Integer(-3),
        Value::List(vec![]),
        Value::Object(vec![
            ("url".into(), Value::String("u".into())),
            ("n\"".into(), Value::Integer(1)),
        ]),
        Value::Object(vec![]),
    ]);
    let text = json(&value);
    assert_eq!(
        text,
        r#"[null,"a \"q\" \\ \n ü \u0001",47.010,-3,[],{"url":"u","n\"":1},{}]"#
    );
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed[1], "a \"q\" \\ \n ü \u{1}");
    assert!(value.heap_bytes() >= 7 * std::mem::size_of::<Value>());
}
