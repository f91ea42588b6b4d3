//! What an engine takes from a page before any conversion: per item, per field, the raw
//! strings its selector and attribute gave, and the document's first `<base href>`.
//!
//! Both engines produce a [`Scraped`] and the differential tests compare those, so that the
//! conversion into output values ([`crate::extract::values`]), shared by both, is applied once
//! and cannot make the engines differ. Nothing here reads HTML.

use url::Url;

use super::field_spec::{FieldSpec, Kind};
use super::values::{Converter, Value, document_base};

/// One field of one item, as an engine found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A single-value field: the text or attribute of the first match (or of the item element
    /// itself); `None` when nothing matched or the first match lacks the attribute.
    One(Option<String>),
    /// An `all = true` field: the text or attribute of every match, in document order (a match
    /// without the attribute gives nothing).
    All(Vec<String>),
}

impl RawValue {
    /// A single-value field's text; `None` for a list.
    pub fn as_deref(&self) -> Option<&str> {
        match self {
            RawValue::One(one) => one.as_deref(),
            RawValue::All(_) => None,
        }
    }

    /// The bytes of text it holds, for the per-page byte limit.
    pub fn len(&self) -> usize {
        match self {
            RawValue::One(one) => one.as_ref().map_or(0, String::len),
            RawValue::All(all) => all.iter().map(String::len).sum(),
        }
    }

    /// Whether it holds no text at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Lets tests written for single-value fields compare with `Some("…")` and `None`.
impl PartialEq<Option<String>> for RawValue {
    fn eq(&self, other: &Option<String>) -> bool {
        matches!(self, RawValue::One(one) if one == other)
    }
}

/// One item's raw fields, in config order.
pub type RawItem = Vec<RawValue>;

/// What an engine took from one page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scraped {
    /// The items, in document order.
    pub items: Vec<RawItem>,
    /// The `href` of the document's first HTML `<base>` element that has one, in tree order,
    /// as written.
    pub base_href: Option<String>,
}

/// A page's items as output values.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The items, in document order, their values in config order.
    pub items: Vec<Vec<Value>>,
    /// Values that did not convert to their field's `type` (each list element counts).
    pub unconverted: u64,
    /// On a JSON page with `site.has_next`: whether the page says another follows it
    /// (`None` without `has_next`, or when its path finds no `true` or `false`).
    pub has_next: Option<bool>,
}

impl Scraped {
    /// The output values of these items, with `specs` applied and URLs resolved against the
    /// page's final URL (after redirects) and its `<base href>`.
    pub fn convert(self, specs: &[FieldSpec], final_url: &Url) -> Extracted {
        let base = document_base(final_url, self.base_href.as_deref());
        let mut converter = Converter::new(&base);
        let items = self
            .items
            .into_iter()
            .map(|item| {
                item.into_iter()
                    .zip(specs)
                    .map(|(raw, spec)| convert_one(&mut converter, spec, raw))
                    .collect()
            })
            .collect();
        Extracted {
            items,
            unconverted: converter.unconverted,
            has_next: None,
        }
    }
}

/// One raw value as an output value. A plain text field (the short forms without a URL
/// attribute) moves its string instead of copying it.
fn convert_one(converter: &mut Converter<'_>, spec: &FieldSpec, raw: RawValue) -> Value {
    match raw {
        RawValue::One(None) => Value::Null,
        RawValue::One(Some(text)) if spec.kind == Kind::String && spec.re.is_none() => {
            Value::String(text)
        }
        RawValue::One(Some(text)) => converter.value(spec, &[text]),
        RawValue::All(texts) => converter.value(spec, &texts),
    }
}
