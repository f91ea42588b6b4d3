//! The DOM engine: the page's full HTML5 document tree (html5ever, through scraper), then the
//! selectors on it. It is the reference the stream engine must equal, and its fallback.

use html5ever::ns;
use scraper::{ElementRef, Html, Node, Selector};

use super::stream::get_attribute;
use super::{Budget, OverLimit, PageLimits, RawItem, RawValue, Scraped, collapse_whitespace};

/// One field as the DOM engine takes it.
#[derive(Debug, Clone)]
pub(super) struct DomField {
    /// The selector inside the item; `None` means the item element itself.
    pub(super) selector: Option<Selector>,
    /// The attribute to take; `None` takes the text.
    pub(super) attr: Option<String>,
    /// Every match, not only the first.
    pub(super) all: bool,
    /// The text as written, not collapsed.
    pub(super) raw_text: bool,
}

/// Every item of `html` in the order scraper selects them (document order), and the document's
/// first `<base href>`; or the per-page limit the page is over.
pub(super) fn extract(
    html: &str,
    item: &Selector,
    fields: &[DomField],
    limits: PageLimits,
) -> Result<Scraped, OverLimit> {
    let document = Html::parse_document(html);
    let mut budget = Budget::new(limits);
    let mut items = Vec::new();
    for element in document.select(item) {
        // Counted before the values are read: a page of a million nested items stops at the
        // limit, not after reading each item's text.
        budget.add_item()?;
        let values: RawItem = fields.iter().map(|field| value(field, element)).collect();
        budget.add_bytes(values.iter().map(RawValue::len).sum())?;
        items.push(values);
    }
    Ok(Scraped {
        items,
        base_href: base_href(&document),
    })
}

/// The `href` of the first HTML `<base>` element that has one, in tree order (the HTML
/// standard's "frozen base URL" source).
fn base_href(document: &Html) -> Option<String> {
    document
        .tree
        .root()
        .descendants()
        .find_map(|node| match node.value() {
            Node::Element(element)
                if element.name.ns == ns!(html) && &*element.name.local == "base" =>
            {
                let attrs = element.attrs.iter().map(|(name, value)| (name, &**value));
                get_attribute(&element.name, attrs, "href").map(str::to_string)
            }
            _ => None,
        })
}

fn value(field: &DomField, item: ElementRef<'_>) -> RawValue {
    match &field.selector {
        Some(selector) if field.all => RawValue::All(
            item.select(selector)
                .filter_map(|target| read(field, target))
                .collect(),
        ),
        Some(selector) => RawValue::One(item.select(selector).next().and_then(|t| read(field, t))),
        None => RawValue::One(read(field, item)),
    }
}

/// The attribute or the text of `target`.
fn read(field: &DomField, target: ElementRef<'_>) -> Option<String> {
    let element = target.value();
    match &field.attr {
        Some(attr) => {
            let attrs = element.attrs.iter().map(|(name, value)| (name, &**value));
            get_attribute(&element.name, attrs, attr).map(str::to_string)
        }
        None if field.raw_text => Some(target.text().collect()),
        None => Some(collapse_whitespace(target.text())),
    }
}
