//! The stream engine: items matched as the page is tokenized, without a DOM.
//!
//! The page goes through the fast tokenizer (`super::fast`: html5ever's tokens for the markup
//! real pages are made of, and html5ever's own tokenizer from the first construct it does not
//! read; html5ever's alone for a page with a NUL byte) into [`Builder`], a copy of html5ever's
//! tree builder that keeps only the elements (no text, no comments) and refuses every rule that
//! would move a node. Elements are matched with the `selectors` crate as they are created
//! ([`tree`]); on the pages the builder follows, an element's parent and earlier siblings
//! are final at that moment, so the items are the DOM engine's by construction:
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
//! When the builder refuses a token, the whole page is handed back ([`Outcome::Irregular`]) and
//! the DOM engine parses it from the start.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{TokenizerResult, ns};

use self::builder::{Bail, Builder};
use self::fast::Stop;
use self::select::List;
use self::tree::{NONE, Tree};
use super::{Budget, Limits, RawValue, Scraped, push_words};

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
    Irregular(&'static str),
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
        let (builder, bail, reading) = self.read(html, limits, fast);
        let outcome = match bail {
            Some(why) => Outcome::Irregular(why),
            None => builder.walk.finish(),
        };
        (outcome, reading)
    }

    /// Runs the tree builder over `html`: the builder at the end, why it refused the page (if
    /// it did), and which tokenizer read it.
    fn read(&self, html: &str, limits: Limits, fast: bool) -> (Builder<'_>, Option<Bail>, Reading) {
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
) -> (Builder<'p>, Option<Bail>) {
    let sink = Sink {
        builder: RefCell::new(builder),
        bail: Cell::new(None),
        ending: Cell::new(false),
    };
    let tokenizer = Tokenizer::new(sink, opts);
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    loop {
        match tokenizer.feed(&input) {
            TokenizerResult::Done => break,
            TokenizerResult::Script(()) if tokenizer.sink.bail.get().is_some() => break,
            // As html5ever's driver does: a script end or a charset is no reason to stop.
            TokenizerResult::Script(()) | TokenizerResult::EncodingIndicator(_) => {}
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
    bail: Cell<Option<Bail>>,
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
        match self.builder.borrow_mut().process_token(token) {
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

/// A field's value for one item, as far as it is known.
#[derive(Debug, Clone)]
enum Value {
    /// No element has matched yet.
    Pending,
    /// Decided: an attribute's value, or nothing.
    Fixed(Option<String>),
    /// The text of a captured element, still being read.
    Text(u32),
    /// An `all = true` field: every match so far, in document order.
    List(Vec<Part>),
}

/// One match of an `all = true` field.
#[derive(Debug, Clone)]
enum Part {
    /// An attribute's value.
    Attr(String),
    /// The text of a captured element.
    Text(u32),
}

/// One item being extracted.
#[derive(Debug)]
struct ItemState {
    /// The innermost item this one is inside, or [`NONE`].
    outer: u32,
    /// One value per field.
    values: Vec<Value>,
}

/// The text of one field element, which may serve several nested items.
#[derive(Debug)]
struct Capture {
    /// The innermost capture this element is inside, or [`NONE`]: its text is theirs too.
    outer: u32,
    /// The text so far, whitespace collapsed.
    text: String,
    /// The text node being read, raw.
    node: String,
    /// Which text node `node` is.
    node_id: u32,
    /// How many items take this text.
    takers: usize,
}

/// Items and fields, decided as elements are created and text is inserted.
struct Walk<'p> {
    plan: &'p Plan,
    /// The per-page limits.
    limits: Limits,
    /// Items in document order.
    items: Vec<ItemState>,
    /// Captured field elements.
    captures: Vec<Capture>,
    /// Raw bytes captured, counted once per item taking them: past the byte limit the page
    /// goes to the DOM engine, which decides exactly (this bounds the stream's memory).
    raw_bytes: usize,
    /// The `href` of the first HTML `<base>` element that has one. Elements are created in
    /// tree order on the pages the builder follows (it refuses every rule that would insert
    /// an element before one already created), so the first created is the DOM's first.
    base_href: Option<String>,
}

impl<'p> Walk<'p> {
    fn new(plan: &'p Plan, limits: Limits) -> Walk<'p> {
        Walk {
            plan,
            limits,
            items: Vec::new(),
            captures: Vec::new(),
            raw_bytes: 0,
            base_href: None,
        }
    }

    /// Whether a selector or a field may look at an attribute of this name (as the tokenizer
    /// gives it: ASCII lower case, before the tree builder adjusts names on SVG and MathML
    /// elements).
    pub(super) fn reads_attribute(&self, name: &[u8]) -> bool {
        let plan = self.plan;
        let known = |name: &[u8]| {
            name.first()
                .is_some_and(|&b| plan.attribute_starts[usize::from(b.to_ascii_lowercase())])
                && plan
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

    /// Element `id` was just inserted: it may be the first match of a field of the items it is
    /// in, and it may be an item itself.
    fn element(&mut self, tree: &mut Tree, id: u32) -> Result<(), Bail> {
        if self.base_href.is_none() {
            let node = tree.node(id);
            if node.name.ns == ns!(html) && &*node.name.local == "base" {
                let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                self.base_href = get_attribute(&node.name, attrs, "href").map(str::to_string);
            }
        }
        let innermost = tree.node(id).item;
        let mut capture = None;
        if innermost != NONE {
            for (field, plan) in self.plan.fields.iter().enumerate() {
                let Some(selector) = &plan.selector else {
                    continue;
                };
                // Outer items decide no later than inner ones: when the innermost item has its
                // field, every item around it has too. A list (`all`) is never decided: every
                // match goes to every item it is inside.
                if !plan.all
                    && !matches!(self.items[innermost as usize].values[field], Value::Pending)
                    || !tree.matches(selector, id)
                {
                    continue;
                }
                let value = match &plan.attr {
                    Some(attr) => {
                        let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                        let name = &tree.node(id).name;
                        Value::Fixed(get_attribute(name, attrs, attr).map(str::to_string))
                    }
                    None => Value::Text(self.capture_for(tree, id, &mut capture)),
                };
                let mut at = innermost;
                while at != NONE {
                    let item = &mut self.items[at as usize];
                    match &mut item.values[field] {
                        Value::List(parts) => match &value {
                            Value::Fixed(Some(text)) => parts.push(Part::Attr(text.clone())),
                            Value::Text(c) => {
                                parts.push(Part::Text(*c));
                                self.captures[*c as usize].takers += 1;
                            }
                            _ => {}
                        },
                        slot @ Value::Pending => {
                            if let Value::Text(c) = value {
                                self.captures[c as usize].takers += 1;
                            }
                            *slot = value.clone();
                        }
                        _ => break,
                    }
                    at = item.outer;
                }
            }
        }
        if tree.matches(&self.plan.item, id) {
            if self.items.len() >= self.limits.max_items {
                return Err("more items than extract.max_items_per_page (the tree decides)");
            }
            let mut values = Vec::with_capacity(self.plan.fields.len());
            for field in &self.plan.fields {
                values.push(match (&field.selector, &field.attr) {
                    _ if field.all => Value::List(Vec::new()),
                    (None, Some(attr)) => {
                        let node = tree.node(id);
                        let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                        Value::Fixed(get_attribute(&node.name, attrs, attr).map(str::to_string))
                    }
                    (None, None) => {
                        let c = self.capture_for(tree, id, &mut capture);
                        self.captures[c as usize].takers += 1;
                        Value::Text(c)
                    }
                    _ => Value::Pending,
                });
            }
            self.items.push(ItemState {
                outer: innermost,
                values,
            });
            tree.node_mut(id).item = self.items.len() as u32 - 1;
        }
        if let Some(c) = capture {
            tree.node_mut(id).capture = c;
        }
        Ok(())
    }

    /// The capture of element `id`'s text, created on first use (`capture` holds it).
    fn capture_for(&mut self, tree: &Tree, id: u32, capture: &mut Option<u32>) -> u32 {
        *capture.get_or_insert_with(|| {
            self.captures.push(Capture {
                outer: tree.node(id).capture,
                text: String::new(),
                node: String::new(),
                node_id: NONE,
                takers: 0,
            });
            self.captures.len() as u32 - 1
        })
    }

    /// `text` was appended to element `parent`.
    fn text(&mut self, tree: &mut Tree, parent: u32, text: &str) -> Result<(), Bail> {
        let mut at = tree.node(parent).capture;
        if at == NONE {
            return Ok(());
        }
        let node_id = tree.text_node(parent);
        while at != NONE {
            let capture = &mut self.captures[at as usize];
            if capture.node_id != node_id {
                push_words(&mut capture.text, &capture.node);
                capture.node.clear();
                capture.node_id = node_id;
            }
            capture.node.push_str(text);
            self.raw_bytes = self
                .raw_bytes
                .saturating_add(text.len().saturating_mul(capture.takers));
            at = capture.outer;
        }
        if self.raw_bytes > self.limits.max_bytes {
            return Err("more text than extract.max_bytes_per_page (the tree decides)");
        }
        Ok(())
    }

    /// The items, once every token has been read; or the limit they are over.
    fn finish(mut self) -> Outcome {
        for capture in &mut self.captures {
            push_words(&mut capture.text, &capture.node);
            capture.node = String::new();
        }
        let text_len = |c: u32| self.captures[c as usize].text.len();
        let value_len = |value: &Value| match value {
            Value::Pending | Value::Fixed(None) => 0,
            Value::Fixed(Some(text)) => text.len(),
            Value::Text(c) => text_len(*c),
            Value::List(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Attr(text) => text.len(),
                    Part::Text(c) => text_len(*c),
                })
                .sum(),
        };
        let mut budget = Budget::new(self.limits);
        for item in &self.items {
            let bytes = item.values.iter().map(value_len).sum();
            if let Err(reason) = budget.add_item().and_then(|()| budget.add_bytes(bytes)) {
                return Outcome::TooBig(reason);
            }
        }
        let captures = &self.captures;
        let text = |c: u32| captures[c as usize].text.clone();
        let items = self
            .items
            .into_iter()
            .map(|item| {
                item.values
                    .into_iter()
                    .map(|value| match value {
                        Value::Pending => RawValue::One(None),
                        Value::Fixed(value) => RawValue::One(value),
                        Value::Text(c) => RawValue::One(Some(text(c))),
                        Value::List(parts) => RawValue::All(
                            parts
                                .into_iter()
                                .map(|part| match part {
                                    Part::Attr(value) => value,
                                    Part::Text(c) => text(c),
                                })
                                .collect(),
                        ),
                    })
                    .collect()
            })
            .collect();
        let items = Scraped {
            items,
            base_href: self.base_href,
        };
        Outcome::Items(items)
    }
}
