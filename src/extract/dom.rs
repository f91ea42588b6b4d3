//! The DOM engine: the page's full HTML5 document tree (html5ever, through scraper), then the
//! selectors on it. It is the reference the stream engine must equal, and its fallback.

use scraper::{ElementRef, Html, Selector};

use super::stream::get_attribute;
use super::{Budget, Item, Limits, collapse_whitespace};

/// One field as the DOM engine takes it.
#[derive(Debug, Clone)]
pub(super) struct DomField {
    /// The selector inside the item; `None` means the item element itself (`@attr` specs).
    pub(super) selector: Option<Selector>,
    /// The attribute to take; `None` takes the text.
    pub(super) attr: Option<String>,
}

/// Every item of `html` in the order scraper selects them (document order), or the per-page
/// limit the page is over.
pub(super) fn extract(
    html: &str,
    item: &Selector,
    fields: &[DomField],
    limits: Limits,
) -> Result<Vec<Item>, String> {
    let document = Html::parse_document(html);
    let mut budget = Budget::new(limits);
    let mut items = Vec::new();
    for element in document.select(item) {
        // Counted before the values are read: a page of a million nested items stops at the
        // limit, not after reading each item's text.
        budget.add_item()?;
        let values: Item = fields.iter().map(|field| value(field, element)).collect();
        budget.add_bytes(values.iter().flatten().map(String::len).sum())?;
        items.push(values);
    }
    Ok(items)
}

fn value(field: &DomField, item: ElementRef<'_>) -> Option<String> {
    let target = match &field.selector {
        Some(selector) => item.select(selector).next()?,
        None => item,
    };
    let element = target.value();
    match &field.attr {
        Some(attr) => {
            let attrs = element.attrs.iter().map(|(name, value)| (name, &**value));
            get_attribute(&element.name, attrs, attr).map(str::to_string)
        }
        None => Some(collapse_whitespace(target.text())),
    }
}
