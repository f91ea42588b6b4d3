//! The forms of an `[extract.fields]` entry, read from the config's TOML value into a
//! typed [`FieldSpec`], and the rules that go with them: which attributes hold URLs by the HTML
//! standard, and CSS selector errors in our own words.
//!
//! This module only reads and checks a config value; it extracts nothing. The engines use a
//! spec's `css` and `attr` to find raw strings, and [`crate::extract::values`] turns those into output
//! values with its `re` and `kind`. Selectors are checked by [`crate::extract::selector_check`].
//!
//! A field is written in one of two forms:
//!
//! ```toml
//! title = "h3 a@title"                 # short: `css`, `css@attr` or `@attr`
//! price = { css = "p.price", re = '([0-9.]+)', type = "number", all = false }
//! ```

use regex::{Regex, RegexBuilder};

use crate::extract::selector_check::{check_selector, scrapy_habit};

/// The longest `css`, `attr` or `re` accepted, in bytes: the same bound as the short form's.
pub const MAX_PART_BYTES: usize = 1024;

/// The compiled size a field's `re` may take: far more than any real pattern needs, and a bound
/// on what a config can make every parser thread hold.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// The keys a field's table may hold.
const TABLE_KEYS: [&str; 6] = ["css", "attr", "all", "text", "re", "type"];

/// What a field's values are converted to, after `re`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The text as it is (`type = "string"`, the default).
    String,
    /// A JSON number (`type = "number"`), such as `47.01`.
    Number,
    /// A JSON integer (`type = "integer"`) that fits in 64 bits.
    Integer,
    /// An absolute URL, resolved against the page's base URL (`type = "url"`, and the default
    /// for the attributes [`url_attribute`] names).
    Url,
    /// The URLs a `srcset`-syntax value lists, each resolved: a list even for a single match.
    /// The default of `srcset` and `imagesrcset`, and their kind with `type = "url"`.
    Srcset,
}

impl Kind {
    /// The name used for it in the config (`type = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Integer => "integer",
            Kind::Url | Kind::Srcset => "url",
        }
    }
}

/// How an attribute holds URLs, by the HTML standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlAttr {
    /// A single URL.
    One,
    /// A list of image candidates in the `srcset` syntax.
    Srcset,
}

/// Whether the attribute `name` holds URLs by the HTML standard, compared without regard to
/// ASCII case.
///
/// One URL: `href` (a, area, link, base; also SVG's `xlink:href`), `src`, `action`, `formaction`,
/// `poster`, `cite`, `data` (object), `manifest`, `itemid`, and the obsolete but still served
/// `longdesc`, `background`, `codebase`, `classid`, `profile`, `lowsrc`, `dynsrc` and `icon`.
/// A `srcset` list: `srcset` and `imagesrcset`. Left out on purpose: `ping`, `itemtype` and
/// `archive`, which hold space-separated lists and are rarely what a crawl wants, and
/// `data-*` attributes, which hold whatever a site puts there: give those `type = "url"`.
pub fn url_attribute(name: &str) -> Option<UrlAttr> {
    const ONE: [&str; 17] = [
        "href",
        "xlink:href",
        "src",
        "action",
        "formaction",
        "poster",
        "cite",
        "data",
        "manifest",
        "itemid",
        "longdesc",
        "background",
        "codebase",
        "classid",
        "profile",
        "lowsrc",
        "dynsrc",
    ];
    if ONE.iter().any(|one| one.eq_ignore_ascii_case(name)) || name.eq_ignore_ascii_case("icon") {
        Some(UrlAttr::One)
    } else if name.eq_ignore_ascii_case("srcset") || name.eq_ignore_ascii_case("imagesrcset") {
        Some(UrlAttr::Srcset)
    } else {
        None
    }
}

/// One field of `[extract.fields]`, checked.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// The selector, run inside the item element; `None` takes the item element itself.
    pub css: Option<String>,
    /// The attribute to read; `None` takes the element's text.
    pub attr: Option<String>,
    /// Every match in document order (a JSON array), instead of the first match.
    pub all: bool,
    /// The element's text as written (`text = "raw"`), every space and line break kept,
    /// instead of its words joined by single spaces (the default, `text = "collapsed"`).
    pub raw_text: bool,
    /// Applied to each raw value: its first capture group, else its whole match.
    pub re: Option<Regex>,
    /// What the value becomes: from `type`, else [`Kind::Url`] or [`Kind::Srcset`] for a URL
    /// attribute, else [`Kind::String`]. `type = "string"` keeps a URL attribute as written.
    pub kind: Kind,
    /// The field as written: the short form's string, or the table in a canonical order
    /// (`{ css = "a.tag", all = true }`), for `pagecrawl check` and the journal's fingerprint.
    pub source: String,
    /// Whether it was written in the short form (a string).
    pub short: bool,
    /// On a JSON page (`format = "json"`): the field's JSONPath, run on the item.
    pub path: Option<String>,
    /// Whether `type` was given: a JSON value without it is taken as it is.
    pub typed: bool,
}

impl FieldSpec {
    /// The field as TOML: the short form quoted, or the table.
    pub fn as_toml(&self) -> String {
        if self.short {
            format!("{:?}", self.source)
        } else {
            self.source.clone()
        }
    }
}

impl FieldSpec {
    /// Reads the field `name` of `[extract.fields]` from its TOML value: a string in the short
    /// form, or a table. Errors name the key (`extract.fields.price`) and say what is wrong.
    ///
    /// The selector is checked with [`check_selector`]; the caller compiles it for its engine.
    pub fn from_toml(name: &str, value: &toml::Value) -> Result<FieldSpec, String> {
        FieldSpec::from_toml_in("extract.fields", name, value)
    }

    /// [`FieldSpec::from_toml`] for a field of another table of fields (`follow.fields`),
    /// which errors name.
    pub fn from_toml_in(table: &str, name: &str, value: &toml::Value) -> Result<FieldSpec, String> {
        let key = format!("{table}.{name}");
        match value {
            toml::Value::String(short) => FieldSpec::from_short(&key, short),
            toml::Value::Table(table) => FieldSpec::from_table(&key, table),
            other => Err(format!(
                "`{key}` must be a string such as \"h3 a@title\" or a table such as \
                 {{ css = \"a.tag\", all = true }}, got {}",
                other.type_str()
            )),
        }
    }

    /// The short form: `css`, `css@attr` or `@attr`. The last `@` starts the attribute only
    /// when an attribute name follows it, so `a[href*="@"]` is a selector.
    fn from_short(key: &str, short: &str) -> Result<FieldSpec, String> {
        if let Some(instead) = scrapy_habit(short, true) {
            return Err(format!("`{key}` = {short:?}: {instead}"));
        }
        let (css, attr) = match short.rsplit_once('@') {
            Some((_, attr)) if attr.trim().is_empty() => {
                return Err(format!("`{key}`: no attribute name after `@` in {short:?}"));
            }
            Some((css, attr)) if is_attribute_name(attr.trim()) => (css.trim(), Some(attr.trim())),
            _ => (short.trim(), None),
        };
        if css.is_empty() && attr.is_none() {
            return Err(format!(
                "`{key}` is empty: write a selector, `selector@attribute` or `@attribute`, or {{ }} for the item's text"
            ));
        }
        let css = (!css.is_empty()).then_some(css);
        let mut spec = FieldSpec::build(key, css, attr, false, None, None)?;
        spec.source = short.to_string();
        spec.short = true;
        Ok(spec)
    }

    /// The table form: `css`, `attr`, `all`, `re`, `type`, each optional.
    fn from_table(key: &str, table: &toml::Table) -> Result<FieldSpec, String> {
        let parts = FieldTable { key, table };
        parts.refuse_unknown(
            &TABLE_KEYS,
            "a field's table takes css, attr, all, text, re and type",
        )?;
        let text = |part: &str| parts.text(part);
        let all = parts.flag("all")?;
        let css = text("css")?;
        if let Some(css) = css
            && let Some(instead) = scrapy_habit(css, false)
        {
            return Err(format!("`{key}.css` = {css:?}: {instead}"));
        }
        if css.is_some_and(|css| css.trim().is_empty()) {
            return Err(format!(
                "`{key}.css` is empty: leave `css` out to take the item element itself"
            ));
        }
        let attr = text("attr")?;
        if let Some(attr) = attr
            && !is_attribute_name(attr)
        {
            return Err(format!(
                "`{key}.attr` is not an attribute name: {attr:?} (no spaces, quotes, `=`, `>` or `/`)"
            ));
        }
        let raw_text = match text("text")? {
            None | Some("collapsed") => false,
            Some("raw") => true,
            Some(other) => {
                return Err(format!(
                    "`{key}.text` must be \"collapsed\" (the words, one space between them) or \
                     \"raw\" (the text as written), got {other:?}"
                ));
            }
        };
        if raw_text && attr.is_some() {
            return Err(format!(
                "`{key}`: `text = \"raw\"` is for an element's text, and `attr` takes an \
                 attribute as written already; drop one"
            ));
        }
        let mut spec = FieldSpec::build(key, css, attr, all, text("re")?, text("type")?)?;
        spec.raw_text = raw_text;
        spec.source = canonical_table(table);
        Ok(spec)
    }

    /// Checks the parts shared by both forms and works out the kind.
    fn build(
        key: &str,
        css: Option<&str>,
        attr: Option<&str>,
        all: bool,
        re: Option<&str>,
        kind: Option<&str>,
    ) -> Result<FieldSpec, String> {
        for (part, value) in [("css", css), ("attr", attr), ("re", re)] {
            if let Some(value) = value
                && value.len() > MAX_PART_BYTES
            {
                return Err(format!(
                    "`{key}`: `{part}` must be at most {MAX_PART_BYTES} bytes, got {}",
                    value.len()
                ));
            }
        }
        if let Some(css) = css {
            check_selector(css).map_err(|err| format!("`{key}`: {err}"))?;
        } else if all {
            return Err(format!(
                "`{key}`: `all = true` needs `css`: without it the field is the item element \
                 itself, a single value"
            ));
        }
        let re = re.map(|re| compile_re(key, re)).transpose()?;
        let url_attr = attr.and_then(url_attribute);
        let kind = match (kind, url_attr) {
            (None, None) => Kind::String,
            (None | Some("url"), Some(UrlAttr::Srcset)) => Kind::Srcset,
            (None, Some(UrlAttr::One)) | (Some("url"), _) => Kind::Url,
            (Some("string"), _) => Kind::String,
            (Some("number"), _) => Kind::Number,
            (Some("integer"), _) => Kind::Integer,
            (Some(other), _) => {
                return Err(format!(
                    "`{key}.type` must be \"string\", \"number\", \"integer\" or \"url\", got {other:?}"
                ));
            }
        };
        Ok(FieldSpec {
            css: css.map(|css| css.trim().to_string()),
            attr: attr.map(str::to_string),
            all,
            raw_text: false,
            re,
            kind,
            source: String::new(),
            short: false,
            path: None,
            typed: false,
        })
    }
}

/// A field's table written back as one inline TOML table, its keys in the documented order
/// (`{ css = "p.price", re = '…', type = "number" }`); `{ }` when empty.
fn canonical_table(table: &toml::Table) -> String {
    let parts: Vec<String> = TABLE_KEYS
        .iter()
        .filter_map(|key| Some(format!("{key} = {}", table.get(*key)?)))
        .collect();
    if parts.is_empty() {
        "{ }".to_string()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

/// Compiles a field's `re`. More than one capture group is refused: which one holds the value
/// would be a guess, and `(?:…)` groups without capturing.
pub(super) fn compile_re(key: &str, re: &str) -> Result<Regex, String> {
    let compiled = RegexBuilder::new(re)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|err| match err {
            regex::Error::CompiledTooBig(_) => {
                format!("`{key}.re` is too large once compiled: {re:?}")
            }
            // The syntax error's own text points at the spot with a caret, over several lines.
            err => format!("`{key}.re` is not a valid regular expression:\n{err}"),
        })?;
    // The whole match counts as group 0.
    let groups = compiled.captures_len() - 1;
    if groups > 1 {
        return Err(format!(
            "`{key}.re` has {groups} capture groups: keep one `(…)` around the value and write \
             the others as `(?:…)`: {re:?}"
        ));
    }
    Ok(compiled)
}

/// Whether `name` can be an attribute name as the HTML parser reads one (no whitespace, quotes,
/// `=`, `>`, `/` or controls), and has no `[`, `]` or `(` that would rather mean a selector.
fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '"' | '\'' | '=' | '>' | '/' | '<' | '[' | ']' | '(' | ')'
                )
        })
}

/// A field's table (`{ css = "a.tag", all = true }`, or a JSON field's `{ path, … }`), read part
/// by part: each error names the part's key (`extract.fields.tags.all`) and what it must be.
pub(crate) struct FieldTable<'a> {
    /// The field's key, as errors name it.
    pub key: &'a str,
    /// The table as written.
    pub table: &'a toml::Table,
}

impl<'a> FieldTable<'a> {
    /// Refuses a part not among `known`; `takes` says which the table takes, for the error.
    pub fn refuse_unknown(&self, known: &[&str], takes: &str) -> Result<(), String> {
        match self.table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(format!("`{}`: unknown key `{unknown}` ({takes})", self.key)),
            None => Ok(()),
        }
    }

    /// The string `part`, if the table has it.
    pub fn text(&self, part: &str) -> Result<Option<&'a str>, String> {
        match self.table.get(part) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!(
                "`{}.{part}` must be a string, got {}",
                self.key,
                other.type_str()
            )),
        }
    }

    /// The boolean `part`, false if the table lacks it.
    pub fn flag(&self, part: &str) -> Result<bool, String> {
        match self.table.get(part) {
            None => Ok(false),
            Some(toml::Value::Boolean(on)) => Ok(*on),
            Some(other) => Err(format!(
                "`{}.{part}` must be true or false, got {}",
                self.key,
                other.type_str()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: &str) -> Result<FieldSpec, String> {
        let table: toml::Table = toml::from_str(&format!("f = {value}")).unwrap();
        FieldSpec::from_toml("f", &table["f"])
    }

    fn parts(spec: &FieldSpec) -> (Option<&str>, Option<&str>, bool, Option<&str>, Kind) {
        (
            spec.css.as_deref(),
            spec.attr.as_deref(),
            spec.all,
            spec.re.as_ref().map(Regex::as_str),
            spec.kind,
        )
    }

    #[test]
    fn the_short_forms_read_as_before() {
        let title = spec(r#""h3 a@title""#).unwrap();
        assert_eq!(
            parts(&title),
            (Some("h3 a"), Some("title"), false, None, Kind::String)
        );
        let text = spec(r#""p.price_color""#).unwrap();
        assert_eq!(
            parts(&text),
            (Some("p.price_color"), None, false, None, Kind::String)
        );
        let own = spec(r#""@class""#).unwrap();
        assert_eq!(
            parts(&own),
            (None, Some("class"), false, None, Kind::String)
        );
        // An `@` inside an attribute selector's value is part of the selector.
        let at = spec(r#"'a[href^="mailto:x@"]'"#).unwrap();
        assert_eq!(
            parts(&at),
            (
                Some(r#"a[href^="mailto:x@"]"#),
                None,
                false,
                None,
                Kind::String
            )
        );
        let at_attr = spec(r#"'a[href*="@"] @href'"#).unwrap();
        assert_eq!(at_attr.css.as_deref(), Some(r#"a[href*="@"]"#));
        assert_eq!(at_attr.kind, Kind::Url);
    }

    #[test]
    fn url_attributes_resolve_by_default_and_string_keeps_them_raw() {
        assert_eq!(spec(r#""h3 a@href""#).unwrap().kind, Kind::Url);
        assert_eq!(spec(r#""img@SRC""#).unwrap().kind, Kind::Url);
        assert_eq!(spec(r#""img@srcset""#).unwrap().kind, Kind::Srcset);
        assert_eq!(
            spec(r#"{ css = "link", attr = "imagesrcset", type = "url" }"#)
                .unwrap()
                .kind,
            Kind::Srcset
        );
        assert_eq!(
            spec(r#"{ css = "a", attr = "href", type = "string" }"#)
                .unwrap()
                .kind,
            Kind::String
        );
        let cover = spec(r#"{ css = "img", attr = "data-original", type = "url" }"#).unwrap();
        assert_eq!(
            parts(&cover),
            (Some("img"), Some("data-original"), false, None, Kind::Url)
        );
        let id =
            spec(r#"{ css = "a", attr = "href", re = 'id=(\d+)', type = "integer" }"#).unwrap();
        assert_eq!(id.kind, Kind::Integer);
        for name in [
            "href",
            "xlink:href",
            "action",
            "formaction",
            "poster",
            "cite",
            "data",
            "longdesc",
            "icon",
        ] {
            assert_eq!(url_attribute(name), Some(UrlAttr::One), "{name}");
        }
        for name in [
            "class", "data-src", "ping", "itemtype", "title", "content", "hreflang",
        ] {
            assert_eq!(url_attribute(name), None, "{name}");
        }
    }

    #[test]
    fn the_table_form() {
        let tags = spec(r#"{ css = "a.tag", all = true }"#).unwrap();
        assert_eq!(
            parts(&tags),
            (Some("a.tag"), None, true, None, Kind::String)
        );
        let price =
            spec(r#"{ css = "p.price_color", re = '([0-9.]+)', type = "number" }"#).unwrap();
        assert_eq!(
            parts(&price),
            (
                Some("p.price_color"),
                None,
                false,
                Some("([0-9.]+)"),
                Kind::Number
            )
        );
        let text = spec("{ }").unwrap();
        assert_eq!(parts(&text), (None, None, false, None, Kind::String));
        let cls = spec(r#"{ attr = "class" }"#).unwrap();
        assert_eq!(
            parts(&cls),
            (None, Some("class"), false, None, Kind::String)
        );
    }

    #[test]
    fn mistakes_are_named_with_the_key() {
        let cases = [
            (
                r#"{ css = "a", typ = "url" }"#,
                "`extract.fields.f`: unknown key `typ`",
            ),
            (
                r#"{ css = 5 }"#,
                "`extract.fields.f.css` must be a string, got integer",
            ),
            (
                r#"{ css = "a", all = "yes" }"#,
                "`extract.fields.f.all` must be true or false, got string",
            ),
            (
                r#"{ css = "a", type = "float" }"#,
                "`extract.fields.f.type` must be \"string\", \"number\", \"integer\" or \"url\", got \"float\"",
            ),
            (
                r#"{ css = "a", re = '(\d+' }"#,
                "`extract.fields.f.re` is not a valid regular expression:\n",
            ),
            (
                r#"{ css = "a", re = '(\d+)\.(\d+)' }"#,
                "`extract.fields.f.re` has 2 capture groups",
            ),
            (
                r#"{ all = true }"#,
                "`extract.fields.f`: `all = true` needs `css`",
            ),
            (r#"{ css = " " }"#, "`extract.fields.f.css` is empty"),
            (
                r#"{ css = "a", attr = "data x" }"#,
                "`extract.fields.f.attr` is not an attribute name",
            ),
            (r#""a@""#, "`extract.fields.f`: no attribute name after `@`"),
            (r#""  ""#, "`extract.fields.f` is empty"),
            ("42", "`extract.fields.f` must be a string such as"),
            (
                r#""div..x@href""#,
                "`extract.fields.f`: invalid CSS selector \"div..x\"",
            ),
        ];
        for (value, says) in cases {
            let err = spec(value).unwrap_err();
            assert!(err.starts_with(says), "{value}: {err}");
        }
        let long = format!(
            "{{ css = \"a\", re = '{}' }}",
            "x".repeat(MAX_PART_BYTES + 1)
        );
        assert!(spec(&long).unwrap_err().contains("at most 1024 bytes"));
        // Non-capturing groups are fine; the one capturing group gives the value.
        assert!(spec(r#"{ css = "a", re = '(?:£|\$)(\d+)' }"#).is_ok());
        // A pattern that compiles too big is refused, not held by every parser.
        let big = spec(r#"{ css = "a", re = '\w{1000}\w{1000}' }"#).unwrap_err();
        assert!(big.contains("too large once compiled"), "{big}");
    }
}
