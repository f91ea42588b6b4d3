//! The stream engine: items matched as the page is tokenized, without a DOM.
//!
//! The page goes through the fast tokenizer (`super::fast`: html5ever's tokens for the markup
//! real pages are made of, and html5ever's own tokenizer from the first construct it does not
//! read; html5ever's alone for a page with a NUL byte) into [`Builder`], a copy of html5ever's
//! tree builder that keeps only the elements (no text, no comments) and refuses every rule that
//! would move a node. Elements are matched with the `selectors` crate as they are created
//! ([`tree`], [`walk`]); on the pages the builder follows, an element's parent and earlier
//! siblings are final at that moment, so the items are the DOM engine's by construction:
//!
//! - an item is an element matching the item selector, in document order (items may nest);
//! - a field is the *first* element after the item, in document order, that is inside it and
//!   matches the field's selector; its text is every text node under it, each split on
//!   whitespace, joined with single spaces; its attribute is read by [`get_attribute`];
//! - an `all = true` field is every such element, in document order; a field without a
//!   selector is the item element itself (its text is captured like a field element's);
//! - the document's base is the first HTML `<base>` with an `href`: elements are created in
//!   tree order on these pages, so the first one created is the DOM's first in tree order.
//!
//! When the builder refuses a token, the whole page is handed back ([`Outcome::Irregular`], with
//! the [`Irregular`] reason) and the DOM engine parses it from the start.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{TokenizerResult, ns};

use self::builder::{Builder, Refeed};
use self::fast::Stop;
use self::select::List;
use self::walk::Walk;
use super::{OverLimit, PageLimits, Scraped};

mod body_rules;
mod builder;
mod charref;
mod fast;
#[cfg(test)]
mod fast_tests;
mod foreign;
mod formatting;
mod open_elements;
mod quirks;
mod rules;
mod select;
mod stack;
mod table_rules;
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
    TooBig(OverLimit),
    /// The stream cannot follow the page, which goes to the DOM engine; why, for the log.
    Irregular(Irregular),
}

/// Why the stream engine hands a page to the DOM engine: html5ever's tree builder would move or
/// change a node after inserting it, or do something the stream's copy of it does not follow,
/// or the page is past what the stream keeps.
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
    /// An element for the head after `</head>`, while a field captures the head's text: it
    /// goes back into the head, so its text would be read out of document order.
    HeadContentAfterHead,
    /// A token html5ever's tokenizer never emits in raw text (a refusal rather than a panic,
    /// should it ever).
    RawTextToken,
    /// A byte order mark right after an `http-equiv` content type in the head: html5ever's
    /// parser drops it if the `content` names an encoding, which the stream does not work out.
    ByteOrderMarkAfterContentType,
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
            Irregular::HeadContentAfterHead => "head content after </head> inside a captured field",
            Irregular::RawTextToken => "an impossible token in raw text",
            Irregular::ByteOrderMarkAfterContentType => {
                "a byte order mark after an http-equiv content type"
            }
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
    pub(super) fn extract(&self, html: &str, limits: PageLimits) -> Outcome {
        self.extract_reading(html, limits, true).0
    }

    /// [`Plan::extract`], with the fast tokenizer or without it, also saying which tokenizer
    /// read the page.
    pub(super) fn extract_reading(
        &self,
        html: &str,
        limits: PageLimits,
        fast: bool,
    ) -> (Outcome, Reading) {
        let (builder, bail, reading) = self.read(html, limits, fast);
        let outcome = match bail {
            Some(why) => Outcome::Irregular(why),
            None => builder.walk.finish(),
        };
        (outcome, reading)
    }

    /// Runs the tree builder over `html`: the builder at the end, why it refused the page (if
    /// it did), and which tokenizer read it.
    fn read(
        &self,
        html: &str,
        limits: PageLimits,
        fast: bool,
    ) -> (Builder<'_>, Option<Irregular>, Reading) {
        let mut builder = Builder::new(Walk::new(self, limits), html.len());
        // The fast tokenizer reads no NUL byte (html5ever replaces some, reports others, drops
        // none) and no page over 4 GiB (a tendril's limit).
        if !fast
            || u32::try_from(html.len()).is_err()
            || memchr::memchr(0, html.as_bytes()).is_some()
        {
            let (builder, bail) = run_html5ever(builder, html, TokenizerOpts::default());
            return (builder, bail, Reading::Html5ever);
        }
        let text = normalise_line_ends(html);
        match fast::run(&text, &mut builder) {
            Ok(()) => (builder, None, Reading::Fast),
            Err(Stop::Refused(why)) => (builder, Some(why), Reading::Fast),
            Err(Stop::Handover(handover)) => {
                let opts = TokenizerOpts {
                    // Only at the very start of the page.
                    discard_bom: false,
                    initial_state: Some(handover.state),
                    last_start_tag_name: handover.last_start_tag,
                    ..TokenizerOpts::default()
                };
                let (builder, bail) = run_html5ever(builder, &text[handover.at..], opts);
                (builder, bail, Reading::Handover)
            }
        }
    }
}

/// The byte order mark, which html5ever's tokenizer drops at the start of its input, and again
/// wherever its driver feeds it anew.
const BOM: char = '\u{feff}';

/// Which tokenizer read a page in the stream engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The fast tokenizer, to the end (or to the token the tree builder refused).
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

/// Feeds `html` through html5ever's tokenizer into `builder`, to the end of the page or to the
/// token the builder refuses (and why).
fn run_html5ever<'p>(
    builder: Builder<'p>,
    html: &str,
    opts: TokenizerOpts,
) -> (Builder<'p>, Option<Irregular>) {
    let sink = Sink {
        builder: RefCell::new(builder),
        bail: Cell::new(None),
        ending: Cell::new(false),
    };
    let discards_bom = opts.discard_bom;
    let tokenizer = Tokenizer::new(sink, opts);
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    loop {
        match tokenizer.feed(&input) {
            TokenizerResult::Done => break,
            TokenizerResult::Script(()) if tokenizer.sink.bail.get().is_some() => break,
            // As html5ever's driver does: a script end or a charset is no reason to stop. It
            // feeds the tokenizer anew, which drops a byte order mark there as at the start of
            // the page; one taking over mid-page is told to drop none, so that one is dropped
            // here.
            TokenizerResult::Script(()) | TokenizerResult::EncodingIndicator(_) => {
                if input.peek() != Some(BOM) {
                    continue;
                }
                match tokenizer.sink.builder.borrow().refeed {
                    Refeed::Yes if !discards_bom => drop(input.next()),
                    Refeed::IfContentNamesEncoding => {
                        let why = Irregular::ByteOrderMarkAfterContentType;
                        tokenizer.sink.bail.set(Some(why));
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    if tokenizer.sink.bail.get().is_none() {
        tokenizer.sink.ending.set(true);
        tokenizer.end();
    }
    let Sink { builder, bail, .. } = tokenizer.sink;
    (builder.into_inner(), bail.get())
}

/// The tokenizer's sink: the builder, and a stop once it refuses a token.
struct Sink<'p> {
    /// The tree builder and the extraction.
    builder: RefCell<Builder<'p>>,
    /// Why the page goes to the DOM engine, once known; later tokens are ignored.
    bail: Cell<Option<Irregular>>,
    /// The tokenizer is flushing the end of the input: it may not be paused any more.
    ending: Cell<bool>,
}

impl TokenSink for Sink<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        // Only a tag may pause the tokenizer (its other tokens insist on `Continue`): a
        // refusal stops the reading at the next tag.
        let pause = if matches!(token, Token::TagToken(_)) && !self.ending.get() {
            TokenSinkResult::Script(())
        } else {
            TokenSinkResult::Continue
        };
        if self.bail.get().is_some() {
            return pause;
        }
        let mut builder = self.builder.borrow_mut();
        match builder.process_token(token) {
            // Paused where html5ever's driver would feed its tokenizer anew, for the byte
            // order mark that may follow.
            Ok(_) if builder.refeed != Refeed::No => pause,
            Ok(result) => result,
            Err(why) => {
                self.bail.set(Some(why));
                pause
            }
        }
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        let builder = self.builder.borrow();
        !builder.open.is_empty() && builder.current_name().ns != ns!(html)
    }
}
