//! The stream engine: items matched as the page is parsed, without a DOM.
//!
//! The page goes through the fast tokenizer (`super::fast`: html5ever's tokens for the markup
//! real pages are made of, and html5ever's own tokenizer from the first construct it does not
//! read; html5ever's alone for a page with a NUL byte) into html5ever's own tree builder, which
//! drives a sink of ours (`super::sink`) instead of a DOM. The sink records the elements (no
//! text, no comments) and matches each with the `selectors` crate when it is appended
//! (`super::tree`, `super::walk`); every call that would move or change a node after that marks
//! the page [`Irregular`]. On the pages left, an element's parent and earlier siblings are final
//! when it is appended, so the items are the DOM engine's by construction:
//!
//! - an item is an element matching the item selector, in document order (items may nest);
//! - a field is the *first* element after the item, in document order, that is inside it and
//!   matches the field's selector; its text is every text node under it, each split on
//!   whitespace, joined with single spaces; its attribute is read by [`get_attribute`];
//! - an `all = true` field is every such element, in document order; a field without a
//!   selector is the item element itself (its text is captured like a field element's);
//! - the document's base is the first HTML `<base>` with an `href`: elements are appended in
//!   tree order on these pages, so the first one appended is the DOM's first in tree order.
//!
//! An irregular page is handed back whole ([`Outcome::Irregular`]) and the DOM engine parses it
//! from the start.

use std::borrow::Cow;
use std::fmt;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::TokenizerOpts;

use self::fast::Stop;
use self::select::List;
use self::sink::{Feed, Sink, run_html5ever};
use self::walk::Walk;
use super::{Limits, Scraped};

mod charref;
mod fast;
#[cfg(test)]
mod fast_tests;
mod select;
mod sink;
mod tags;
mod tree;
mod walk;

pub(super) use self::tree::get_attribute;

/// The compiled streaming plan.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The item selector.
    item: List,
    /// One entry per field, in config order.
    fields: Vec<FieldPlan>,
    /// Every attribute name (ASCII lower case) a selector may test or a field may read, and
    /// the part after the `:` of names like `xlink:href` (the local name the tree builder gives
    /// it on SVG elements). The fast tokenizer keeps no other attribute, where the tree
    /// builder does not look at attributes itself.
    attributes: Vec<String>,
    /// The first bytes of `attributes`: most names are told apart by their first byte alone.
    attribute_starts: [bool; 256],
}

/// How one field is taken.
#[derive(Debug, Clone)]
struct FieldPlan {
    /// The selector inside the item; `None` takes the item element itself.
    selector: Option<List>,
    /// The attribute to take; `None` takes the text.
    attr: Option<String>,
    /// Every match, in document order, not only the first.
    all: bool,
}

/// One field as the extractor describes it to [`Plan::new`].
#[derive(Debug, Clone, Copy)]
pub(super) struct PlanField<'a> {
    /// The selector inside the item; `None` takes the item element itself.
    pub(super) selector: Option<&'a str>,
    /// The attribute to take; `None` takes the text.
    pub(super) attr: Option<&'a str>,
    /// Every match, not only the first.
    pub(super) all: bool,
}

/// What a streaming pass over one page gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The items and the base URL, identical to what the DOM engine would give.
    Items(Scraped),
    /// The page is over a per-page limit; the reason, as the DOM engine words it.
    TooBig(String),
    /// The stream cannot follow the page, which goes to the DOM engine; why, for the log.
    Irregular(Irregular),
}

/// Why the stream engine hands a page to the DOM engine: html5ever's tree builder would move or
/// change a node after appending it, or the page is past what the stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Irregular {
    /// Foster parenting: an element (or a comment) in a table where none may go is moved in
    /// front of the table.
    FosterParenting,
    /// Text directly in a table, other than whitespace, is moved in front of the table.
    TableText,
    /// The adoption agency: a formatting element (`<a>`, `<b>` …) closes with a block open
    /// inside it, which is moved out of it.
    AdoptionAgency,
    /// A `<template>` element: its contents live apart from the document tree.
    Template,
    /// A `<frameset>` element, which replaces the body or follows the head.
    Frameset,
    /// A second `<html>` or `<body>` start tag adds attributes to the element already there.
    AttributesAdded,
    /// More items than `extract.max_items_per_page`: the DOM engine decides which page
    /// fails, and how.
    TooManyItems,
    /// More text captured (counted once per item taking it) than
    /// `extract.max_bytes_per_page`; this bounds the stream's memory, and the DOM engine
    /// decides exactly.
    TooMuchText,
}

impl fmt::Display for Irregular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Irregular::FosterParenting => "content moved out of a table (foster parenting)",
            Irregular::TableText => "text directly in a table (moved in front of it)",
            Irregular::AdoptionAgency => {
                "a block inside a formatting element that closes first (adoption agency)"
            }
            Irregular::Template => "a <template> element",
            Irregular::Frameset => "a <frameset> element",
            Irregular::AttributesAdded => "a second <html> or <body> start tag adding attributes",
            Irregular::TooManyItems => {
                "more items than extract.max_items_per_page (the tree decides)"
            }
            Irregular::TooMuchText => {
                "more text than extract.max_bytes_per_page (the tree decides)"
            }
        })
    }
}

impl Plan {
    /// Compiles the plan, or says which selector cannot be decided while streaming (the caller
    /// then uses the DOM engine for every page).
    pub(super) fn new(item: &str, fields: &[PlanField<'_>]) -> Result<Plan, String> {
        let compile = |source: &str| {
            let list = select::parse(source)?;
            select::streamable(source, &list)?;
            Ok::<_, String>(list)
        };
        let item = compile(item)?;
        let fields = fields
            .iter()
            .map(|field| {
                Ok(FieldPlan {
                    selector: field.selector.map(compile).transpose()?,
                    attr: field.attr.map(str::to_string),
                    all: field.all,
                })
            })
            .collect::<Result<Vec<FieldPlan>, String>>()?;
        // `href`, for the document's `<base href>`.
        let mut attributes = vec!["href".to_string()];
        select::attribute_names(&item, &mut attributes);
        for field in &fields {
            if let Some(selector) = &field.selector {
                select::attribute_names(selector, &mut attributes);
            }
            if let Some(attr) = &field.attr {
                let attr = attr.to_ascii_lowercase();
                if let Some((_, local)) = attr.split_once(':') {
                    attributes.push(local.to_string());
                }
                attributes.push(attr);
            }
        }
        attributes.sort_unstable();
        attributes.dedup();
        let mut attribute_starts = [false; 256];
        for name in &attributes {
            if let Some(&first) = name.as_bytes().first() {
                attribute_starts[usize::from(first)] = true;
            }
        }
        Ok(Plan {
            item,
            fields,
            attributes,
            attribute_starts,
        })
    }

    /// Extracts the items of `html` in one streaming pass.
    pub(super) fn extract(&self, html: &str, limits: Limits) -> Outcome {
        self.extract_reading(html, limits, true).0
    }

    /// [`Plan::extract`], with the fast tokenizer or without it, also saying which tokenizer
    /// read the page.
    pub(super) fn extract_reading(
        &self,
        html: &str,
        limits: Limits,
        fast: bool,
    ) -> (Outcome, Reading) {
        let (feed, reading) = self.read(html, limits, fast);
        (feed.finish(), reading)
    }

    /// Runs the tree builder over `html`: the builder at the end (its sink says whether the
    /// page is irregular), and which tokenizer read it.
    fn read(&self, html: &str, limits: Limits, fast: bool) -> (Feed<'_>, Reading) {
        let feed = Feed::new(Sink::new(Walk::new(self, limits), html.len()));
        // The fast tokenizer reads no NUL byte (html5ever replaces some, reports others, drops
        // none) and no page over 4 GiB (a tendril's limit).
        if !fast
            || u32::try_from(html.len()).is_err()
            || memchr::memchr(0, html.as_bytes()).is_some()
        {
            let feed = run_html5ever(feed, html, TokenizerOpts::default());
            return (feed, Reading::Html5ever);
        }
        // One copy of the page, whose slices are the tokens' text and attribute values.
        let page = StrTendril::from_slice(&normalise_line_ends(html));
        match fast::run(&page, self, &feed) {
            Ok(()) | Err(Stop::Irregular) => (feed, Reading::Fast),
            Err(Stop::Handover(handover)) => {
                let opts = TokenizerOpts {
                    // Only at the very start of the page.
                    discard_bom: false,
                    initial_state: Some(handover.state),
                    last_start_tag_name: handover.last_start_tag,
                    ..TokenizerOpts::default()
                };
                let feed = run_html5ever(feed, &page[handover.at..], opts);
                (feed, Reading::Handover)
            }
        }
    }

    /// Whether a selector or a field may look at an attribute of this name (as the tokenizer
    /// gives it: ASCII lower case, before the tree builder adjusts names on SVG and MathML
    /// elements).
    fn reads_attribute(&self, name: &[u8]) -> bool {
        let known = |name: &[u8]| {
            name.first()
                .is_some_and(|&b| self.attribute_starts[usize::from(b.to_ascii_lowercase())])
                && self
                    .attributes
                    .iter()
                    .any(|known| known.as_bytes().eq_ignore_ascii_case(name))
        };
        known(name)
            || name
                .iter()
                .position(|&b| b == b':')
                .is_some_and(|colon| known(&name[colon + 1..]))
    }
}

/// Which tokenizer read a page in the stream engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The fast tokenizer, to the end (or to the token that made the page irregular).
    Fast,
    /// The fast tokenizer, then html5ever's from a construct the fast one does not read.
    Handover,
    /// html5ever's tokenizer from the start: a NUL byte, or the fast tokenizer not asked for.
    Html5ever,
}

/// `html` with `\r\n` and lone `\r` turned into `\n`, as html5ever's input stream turns them
/// before its tokenizer looks at them.
fn normalise_line_ends(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let Some(first) = memchr::memchr(b'\r', bytes) else {
        return Cow::Borrowed(html);
    };
    let mut out = String::with_capacity(html.len());
    let (mut start, mut cr) = (0, first);
    loop {
        out.push_str(&html[start..cr]);
        out.push('\n');
        start = cr + 1;
        if bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        match memchr::memchr(b'\r', &bytes[start..]) {
            Some(found) => cr = start + found,
            None => break,
        }
    }
    out.push_str(&html[start..]);
    Cow::Owned(out)
}
