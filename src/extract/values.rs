//! The values of the fields: what the raw strings an engine extracted become once a
//! field's `re` and `type` are applied and its URLs resolved, and how they are written as JSON.
//!
//! It owns the conversion rules (numbers, integers, URLs, `srcset` lists), the document's base
//! URL by the HTML standard, and the JSON encoding of a [`Value`]. It reads no page and writes
//! no file: the parser stage hands it raw strings, the writer the encoded bytes.

use std::io::Write as _;

use regex::Regex;
use url::Url;

use crate::extract::field_spec::{FieldSpec, Kind};
use crate::extract::srcset::parse_srcset;

/// One field's value in an output item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing matched, `re` did not match, or the value did not convert.
    Null,
    /// Text, or a resolved URL.
    String(String),
    /// A number, as JSON text in the page's own digits (see [`to_number`]).
    Number(String),
    /// An integer.
    Integer(i64),
    /// `true` or `false`, from a JSON page (no HTML field gives one).
    Bool(bool),
    /// The values of an `all = true` field, or the URLs of a `srcset`.
    List(Vec<Value>),
    /// Named values, in order: a record the crawl adds to an item (each of the `files` of
    /// `[download]`). No field form gives one.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Appends the value as JSON to `out`, without building an intermediate string.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            // Serialising a &str into a Vec cannot fail.
            Value::String(text) => serde_json::to_writer(&mut *out, text).expect("string to JSON"),
            Value::Number(json) => out.extend_from_slice(json.as_bytes()),
            Value::Integer(n) => write!(out, "{n}").expect("writing to a Vec"),
            Value::Bool(flag) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
            Value::List(values) => {
                out.push(b'[');
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    value.write_json(out);
                }
                out.push(b']');
            }
            Value::Object(fields) => {
                out.push(b'{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, key).expect("string to JSON");
                    out.push(b':');
                    value.write_json(out);
                }
                out.push(b'}');
            }
        }
    }

    /// The value as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// The value whose JSON is `text`, as [`Value::write_json`] wrote it: a number keeps its
    /// digits (`47.010`), an object its keys in order. `None` for text that is not JSON.
    pub fn from_json_text(text: &str) -> Option<Value> {
        use serde_json::value::RawValue;
        let text = text.trim();
        Some(match text.as_bytes().first()? {
            b'"' => Value::String(serde_json::from_str(text).ok()?),
            b'[' => {
                let items: Vec<Box<RawValue>> = serde_json::from_str(text).ok()?;
                Value::List(
                    items
                        .iter()
                        .map(|item| Value::from_json_text(item.get()))
                        .collect::<Option<_>>()?,
                )
            }
            b'{' => {
                let Pairs(pairs) = serde_json::from_str(text).ok()?;
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| Some((k, Value::from_json_text(v.get())?)))
                        .collect::<Option<_>>()?,
                )
            }
            b'n' if text == "null" => Value::Null,
            b't' if text == "true" => Value::Bool(true),
            b'f' if text == "false" => Value::Bool(false),
            _ => match text.parse::<i64>() {
                Ok(n) => Value::Integer(n),
                Err(_) => {
                    serde_json::from_str::<serde_json::Number>(text).ok()?;
                    Value::Number(text.to_string())
                }
            },
        })
    }

    /// Whether the field found nothing: `null`, or a list with no element (`all = true` that
    /// matched nothing). What `pagecrawl try` and the selector warnings count as no value.
    pub fn is_missing(&self) -> bool {
        match self {
            Value::Null => true,
            Value::List(list) => list.is_empty(),
            _ => false,
        }
    }

    /// The value as text for a dedup key or a page hash: a string as it is (so the keys of
    /// the short forms stay what they were), anything else as its JSON; `None` for null.
    pub fn key_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Null => None,
            Value::String(text) => Some(std::borrow::Cow::Borrowed(text)),
            other => {
                let mut out = Vec::new();
                other.write_json(&mut out);
                // JSON is UTF-8.
                Some(std::borrow::Cow::Owned(
                    String::from_utf8(out).expect("JSON is UTF-8"),
                ))
            }
        }
    }

    /// About the heap memory the value holds, in bytes, for the items queue's byte budget.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Null | Value::Integer(_) | Value::Bool(_) => 0,
            Value::String(text) | Value::Number(text) => text.capacity(),
            Value::List(values) => {
                values.capacity() * std::mem::size_of::<Value>()
                    + values.iter().map(Value::heap_bytes).sum::<usize>()
            }
            Value::Object(fields) => {
                fields.capacity() * std::mem::size_of::<(String, Value)>()
                    + fields
                        .iter()
                        .map(|(key, value)| key.capacity() + value.heap_bytes())
                        .sum::<usize>()
            }
        }
    }
}

/// The base URL that a page's relative URLs resolve against, by the HTML standard: the URL of
/// the first `<base>` element that has an `href` (`base_href`, as written), resolved against
/// the page's final URL after redirects; the final URL itself when there is no such element,
/// or when its `href` does not parse or is a `data:` or `javascript:` URL, which the standard
/// ignores.
pub fn document_base(final_url: &Url, base_href: Option<&str>) -> Url {
    match base_href.map(|href| final_url.join(href)) {
        Some(Ok(base)) if !matches!(base.scheme(), "data" | "javascript") => base,
        _ => final_url.clone(),
    }
}

/// What `re` keeps of `raw`: the first capture group when the pattern has one, else the whole
/// match; `None` when the pattern does not match (or its group took no part in the match).
pub fn apply_re<'a>(re: &Regex, raw: &'a str) -> Option<&'a str> {
    let captures = re.captures(raw)?;
    let group = if re.captures_len() > 1 { 1 } else { 0 };
    captures.get(group).map(|m| m.as_str())
}

/// `text` as a JSON number, or `None` when it is not a number.
///
/// Accepted, around optional whitespace: a sign (`+`, `-` or `−`), digits that may be grouped
/// in threes by commas (`1,234,567`), a fraction after `.`, an exponent (`1e-3`). Nothing else:
/// currency signs, units and decimal commas (`47,01`) are refused, so that a field never holds
/// a number the page did not say; `re` picks the number out of the text (`([0-9.]+)`).
///
/// The output keeps the page's digits exactly (`47.010` stays `47.010`, twenty digits stay
/// twenty) instead of going through a binary float, which would print `47.01` as
/// `47.009999999999998` in some encoders and round long numbers; only the sign `+`, grouping
/// commas and leading zeros are dropped. A number too large for a double (`1e400`) is refused,
/// since most JSON readers cannot hold it.
pub fn to_number(text: &str) -> Option<String> {
    let (negative, rest) = split_sign(text.trim());
    let (int, rest) = grouped_digits(rest)?;
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(rest) => split_digits(rest),
        None => ("", rest),
    };
    if int.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = match rest.strip_prefix(['e', 'E']) {
        Some(exp) => {
            let (exp_negative, digits) = match exp.strip_prefix(['-', '+']) {
                Some(digits) => (exp.starts_with('-'), digits),
                None => (false, exp),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((exp_negative, digits))
        }
        None if rest.is_empty() => None,
        None => return None,
    };
    let mut json = String::with_capacity(text.len());
    if negative {
        json.push('-');
    }
    let int = int.trim_start_matches('0');
    json.push_str(if int.is_empty() { "0" } else { int });
    if !fraction.is_empty() {
        json.push('.');
        json.push_str(fraction);
    }
    if let Some((exp_negative, digits)) = exponent {
        json.push_str(if exp_negative { "e-" } else { "e" });
        json.push_str(digits);
    }
    json.parse::<f64>().ok()?.is_finite().then_some(json)
}

/// `text` as an integer: a sign and digits, grouped in threes by commas or not, around optional
/// whitespace, that fit in 64 bits. `12.5`, `1e3` and `12 pages` are not integers.
pub fn to_integer(text: &str) -> Option<i64> {
    let (negative, rest) = split_sign(text.trim());
    let (digits, rest) = grouped_digits(rest)?;
    if digits.is_empty() || !rest.is_empty() {
        return None;
    }
    let magnitude: i128 = digits.parse().ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// A leading sign: whether it is negative, and the rest.
fn split_sign(text: &str) -> (bool, &str) {
    if let Some(rest) = text.strip_prefix(['-', '−']) {
        (true, rest)
    } else {
        (false, text.strip_prefix('+').unwrap_or(text))
    }
}

/// The leading ASCII digits of `text`, and the rest.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(end)
}

/// Leading digits, ungrouped when grouped in threes by commas (`1,234`), and the rest; `None`
/// when the commas do not group in threes (`1,23`), which is no number this module will guess.
fn grouped_digits(text: &str) -> Option<(String, &str)> {
    let (head, mut rest) = split_digits(text);
    let mut digits = head.to_string();
    if !rest.starts_with(',') {
        return Some((digits, rest));
    }
    if head.is_empty() || head.len() > 3 {
        return None;
    }
    while let Some(after) = rest.strip_prefix(',') {
        let (group, after) = split_digits(after);
        if group.len() != 3 {
            return None;
        }
        digits.push_str(group);
        rest = after;
    }
    // `1,234` followed by more digits would have made a longer group.
    Some((digits, rest))
}

/// Turns a page's raw strings into field values, against the page's base URL, counting the
/// values that did not convert (`fields_unconverted`).
#[derive(Debug)]
pub struct Converter<'a> {
    /// The page's base URL, from [`document_base`].
    base: &'a Url,
    /// Values that did not convert to the field's `type` (each list element counts).
    pub unconverted: u64,
}

/// Why a raw string gave no value.
enum Missing {
    /// `re` did not match: a null, or left out of a list; not an error.
    NoMatch,
    /// The value did not convert to the field's type: counted.
    Unconverted,
}

impl<'a> Converter<'a> {
    /// A converter for one page whose base URL is `base`.
    pub fn new(base: &'a Url) -> Converter<'a> {
        Converter {
            base,
            unconverted: 0,
        }
    }

    /// The value of `spec` for one item, from the raw strings its selector and attribute gave
    /// (every match in document order; the engines may stop after the first without `all`).
    ///
    /// Without `all`: the first match's value, or null (no match, `re` did not match, did not
    /// convert). With `all`: a list of every match's value, leaving out those `re` does not
    /// match and those that do not convert; an empty list when none is left. A `srcset`
    /// attribute gives a list of its URLs either way (every match's URLs, in order, with `all`).
    pub fn value<S: AsRef<str>>(&mut self, spec: &FieldSpec, raws: &[S]) -> Value {
        if !spec.all {
            return match raws.first().map(|raw| self.one(spec, raw.as_ref())) {
                Some(Ok(value)) => value,
                None | Some(Err(Missing::NoMatch)) => Value::Null,
                Some(Err(Missing::Unconverted)) => {
                    self.unconverted += 1;
                    Value::Null
                }
            };
        }
        let mut values = Vec::with_capacity(raws.len());
        for raw in raws {
            match self.one(spec, raw.as_ref()) {
                Ok(Value::List(urls)) => values.extend(urls),
                Ok(value) => values.push(value),
                Err(Missing::NoMatch) => {}
                Err(Missing::Unconverted) => self.unconverted += 1,
            }
        }
        Value::List(values)
    }

    /// The value of one raw string.
    fn one(&mut self, spec: &FieldSpec, raw: &str) -> Result<Value, Missing> {
        let text = match &spec.re {
            Some(re) => apply_re(re, raw).ok_or(Missing::NoMatch)?,
            None => raw,
        };
        let converted = match spec.kind {
            Kind::String => Some(Value::String(text.to_string())),
            Kind::Number => to_number(text).map(Value::Number),
            Kind::Integer => to_integer(text).map(Value::Integer),
            Kind::Url => self.resolve(text),
            Kind::Srcset => {
                let urls = parse_srcset(text)
                    .into_iter()
                    .filter_map(|candidate| {
                        let url = self.resolve(candidate.url);
                        self.unconverted += u64::from(url.is_none());
                        url
                    })
                    .collect();
                Some(Value::List(urls))
            }
        };
        converted.ok_or(Missing::Unconverted)
    }

    /// `text` resolved against the base URL, as the HTML standard parses a URL attribute
    /// (surrounding spaces ignored; an empty value is the base URL itself).
    fn resolve(&self, text: &str) -> Option<Value> {
        self.base
            .join(text)
            .ok()
            .map(|url| Value::String(url.into()))
    }
}

/// A JSON object's members in order, each value's text as written.
struct Pairs(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pairs, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
