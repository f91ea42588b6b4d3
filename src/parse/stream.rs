//! The streaming extractor: items straight from the token stream, without building a DOM.
//!
//! [lol_html] matches the item and field selectors as the page streams past, so most of the
//! page (scripts, styles, navigation) is scanned but never turned into nodes. The result must be
//! exactly what the DOM engine ([`super::Extractor::extract_dom`]) gives, so this module keeps
//! the DOM engine's rules:
//!
//! - an item is an element matching the item selector, in document order (items may nest);
//! - a field is the *first* descendant of the item, in document order, matching the field's
//!   selector in the context of the whole document, never the item itself;
//! - text is every text node under the field's element, each split on whitespace and joined with
//!   single spaces; character references are decoded as the HTML standard says (differently in
//!   text and in attribute values); `<script>` and `<style>` text is taken as it is.
//!
//! A streaming matcher sees tags nested as written, not the tree that an HTML5 parser builds from
//! them, so it is used only where the two cannot differ for what we extract:
//!
//! - **Selectors** ([`streamable`]): type, class, id and attribute tests joined by descendant
//!   combinators (spaces), in comma-separated lists. A selector with `>`, `+`, `~` or a
//!   pseudo-class, or naming `html`, `head`, `body`, `tbody` or `colgroup` (elements the HTML5
//!   parser adds when the markup leaves them out), goes to the DOM engine for every page.
//! - **Pages**: a [`Shadow`] follows the open elements as the stream nests them, and the page
//!   is handed back ([`Outcome::Irregular`]) to the DOM engine when its markup is one an HTML5
//!   parser repairs (the rules are in `super::html5`): an element closed implicitly by a start
//!   tag or by another element's end tag where that changes the tree, content a table, `<select>`
//!   or `<svg>` would move or drop (elements, and text a field captures), ignored start tags, `<template>` and `<frameset>`, an item or
//!   field element never closed, a stray `</p>` or `</br>` when a selector could match the empty
//!   element it inserts, and anything lol_html itself refuses (its ambiguity errors, its memory
//!   limit).
//!
//! The tests in `super::tests` hold the two engines to the same items on the demo site's pages
//! and on a catalogue of malformed ones, and the `extract` fuzz target compares them on any
//! input.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::{Comment, Element, EndTag, TextChunk, TextType};
use lol_html::{ElementContentHandlers, HtmlRewriter, Selector, Settings};

use super::html5::Shadow;
use super::{Item, push_words};

/// The compiled streaming plan: lol_html selectors for the item and for each field.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The item selector.
    item: Selector,
    /// One entry per field, in config order.
    fields: Vec<FieldPlan>,
    /// Every element (`*`), followed by the [`Shadow`] of open elements.
    every: Selector,
    /// Whether a selector can match the empty `<p>` or `<br>` that an HTML5 parser inserts for
    /// a stray `</p>` or `</br>`; then such end tags send the page to the DOM engine.
    stray_end_tags: bool,
}

/// Element types that the HTML5 parser inserts when the markup leaves them out; a selector that
/// names one would match differently in the stream.
const IMPLIED: &[&str] = &["html", "head", "body", "tbody", "colgroup"];

/// Whether `selector` is one the stream matches exactly as the DOM engine does: `Err` says why
/// not. Type, class, id and attribute tests joined by spaces, in comma-separated lists.
pub(super) fn streamable(selector: &str) -> Result<(), String> {
    let mut chars = selector.chars().peekable();
    let mut word = String::new();
    // Whether the word being read is a type name (it starts a compound selector).
    let mut at_compound_start = true;
    let mut in_type = false;
    let check_word = |word: &mut String, in_type: bool| -> Result<(), String> {
        if in_type && IMPLIED.iter().any(|t| t.eq_ignore_ascii_case(word)) {
            return Err(format!(
                "{selector:?}: it names `{word}`, which HTML5 parsers add where the markup leaves it out"
            ));
        }
        word.clear();
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                check_word(&mut word, in_type)?;
                in_type = false;
                // Skip the attribute test, quoted values included.
                let mut quote = None;
                for c in chars.by_ref() {
                    match (quote, c) {
                        (None, ']') => break,
                        (None, '"' | '\'') => quote = Some(c),
                        (Some(q), c) if c == q => quote = None,
                        _ => {}
                    }
                }
                at_compound_start = false;
            }
            '>' | '+' | '~' => {
                return Err(format!(
                    "{selector:?}: it uses the `{c}` combinator (the stream takes only descendant combinators, spaces)"
                ));
            }
            ':' => {
                return Err(format!(
                    "{selector:?}: it uses a pseudo-class (the stream takes only type, class, id and attribute tests)"
                ));
            }
            c if c.is_whitespace() || c == ',' => {
                check_word(&mut word, in_type)?;
                in_type = false;
                at_compound_start = true;
            }
            '.' | '#' => {
                check_word(&mut word, in_type)?;
                in_type = false;
                at_compound_start = false;
            }
            c => {
                if at_compound_start {
                    in_type = true;
                    at_compound_start = false;
                }
                word.push(c);
            }
        }
    }
    check_word(&mut word, in_type)
}

/// How one field is taken from the stream.
#[derive(Debug, Clone)]
struct FieldPlan {
    /// The selector inside the item; `None` takes an attribute of the item element itself.
    selector: Option<Selector>,
    /// Every element inside a match of `selector` (`<selector> *`), for text fields.
    inside: Option<Selector>,
    /// The attribute to take; `None` takes the text.
    attr: Option<String>,
}

/// What a streaming pass over one page gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The items, identical to what the DOM engine would give.
    Items(Vec<Item>),
    /// The markup is one the stream cannot read like an HTML5 tree; the reason, for the log.
    Irregular(&'static str),
}

impl Plan {
    /// Compiles the plan, or says which selector lol_html does not support (the caller then uses
    /// the DOM engine for every page).
    pub(super) fn new(item: &str, fields: &[(Option<&str>, Option<&str>)]) -> Result<Plan, String> {
        let compile = |source: &str| {
            streamable(source)?;
            source
                .parse::<Selector>()
                .map_err(|err| format!("{source:?}: {err}"))
        };
        let stray_end_tags = std::iter::once(item)
            .chain(fields.iter().filter_map(|(selector, _)| *selector))
            .any(matches_inserted_elements);
        let item = compile(item)?;
        let mut compiled = Vec::with_capacity(fields.len());
        for (selector, attr) in fields {
            let inside = match (selector, attr) {
                (Some(selector), None) => Some(
                    descendants_of(selector)
                        .parse::<Selector>()
                        .map_err(|err| format!("{selector:?}: {err}"))?,
                ),
                _ => None,
            };
            compiled.push(FieldPlan {
                inside,
                selector: selector.map(compile).transpose()?,
                attr: attr.map(str::to_string),
            });
        }
        Ok(Plan {
            item,
            fields: compiled,
            every: "*".parse().map_err(|err| format!("\"*\": {err}"))?,
            stray_end_tags,
        })
    }

    /// Extracts the items of `html` in one streaming pass.
    pub(super) fn extract(&self, html: &str) -> Outcome {
        let state = Rc::new(RefCell::new(Walk::new(self.fields.len())));
        // The shadow of open elements goes first, so it has seen an element's start before any
        // other handler runs for it.
        let shadow = ElementContentHandlers::default().element({
            let state = Rc::clone(&state);
            move |el: &mut Element<'_, '_>| {
                Walk::shadow_start(&state, el);
                Ok(())
            }
        });
        let mut settings =
            Settings::new().append_element_content_handler((Cow::Borrowed(&self.every), shadow));
        // Field handlers go first: lol_html runs an element's handlers in this order, and an
        // element that is both a field match and a new item must not count as its own field.
        for (index, field) in self.fields.iter().enumerate() {
            let Some(selector) = &field.selector else {
                continue;
            };
            let mut handlers = ElementContentHandlers::default().element({
                let state = Rc::clone(&state);
                let attr = field.attr.clone();
                move |el: &mut Element<'_, '_>| {
                    Walk::field_start(&state, index, attr.as_deref(), el);
                    Ok(())
                }
            });
            if field.attr.is_none() {
                handlers = handlers
                    .text({
                        let state = Rc::clone(&state);
                        move |chunk: &mut TextChunk<'_>| {
                            state.borrow_mut().field_text(index, chunk);
                            Ok(())
                        }
                    })
                    .comments({
                        let state = Rc::clone(&state);
                        move |_: &mut Comment<'_>| {
                            state.borrow_mut().text_boundary(index);
                            Ok(())
                        }
                    });
            }
            settings = settings.append_element_content_handler((Cow::Borrowed(selector), handlers));
            if let (None, Some(inside)) = (&field.attr, &field.inside) {
                // Elements inside a captured element end its text nodes, where they start and
                // where they end.
                let handlers = ElementContentHandlers::default().element({
                    let state = Rc::clone(&state);
                    move |el: &mut Element<'_, '_>| {
                        Walk::inner_element(&state, index, el);
                        Ok(())
                    }
                });
                settings =
                    settings.append_element_content_handler((Cow::Borrowed(inside), handlers));
            }
        }
        let item_handlers = ElementContentHandlers::default().element({
            let state = Rc::clone(&state);
            let own_attrs: Vec<(usize, String)> = self
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.selector.is_none())
                .filter_map(|(i, f)| Some((i, f.attr.clone()?)))
                .collect();
            move |el: &mut Element<'_, '_>| {
                Walk::item_start(&state, &own_attrs, el);
                Ok(())
            }
        });
        settings =
            settings.append_element_content_handler((Cow::Borrowed(&self.item), item_handlers));
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        let streamed = match rewriter.write(html.as_bytes()) {
            Ok(()) => rewriter.end(),
            Err(err) => Err(err),
        };
        if streamed.is_err() {
            return Outcome::Irregular("lol_html could not stream the markup");
        }
        // The rewriter, and every handler holding the state, is gone by now.
        match Rc::try_unwrap(state) {
            Ok(walk) => {
                let walk = walk.into_inner();
                if self.stray_end_tags
                    && (count_end_tags(html, "br") > 0
                        || count_end_tags(html, "p") > walk.shadow.paragraphs_closed)
                {
                    return Outcome::Irregular("a stray </p> or </br> end tag");
                }
                walk.finish()
            }
            Err(_) => Outcome::Irregular("the streaming pass did not finish"),
        }
    }
}

/// One pass's state, shared by the handlers of one page.
#[derive(Debug)]
struct Walk {
    /// Items in document order, as far as they are known.
    items: Vec<Item>,
    /// Per item, per field: whether the field's first match has been seen (the value may still
    /// be `None`, when that match lacks the attribute).
    decided: Vec<Vec<bool>>,
    /// Open elements that we track (items and captured fields), innermost last.
    open: Vec<Open>,
    /// Text being captured, one entry per open field element.
    captures: Vec<Capture>,
    /// Per text field: the raw chunks of the text node being read (entities can straddle chunks).
    pending: Vec<String>,
    /// Set when the page must go to the DOM engine.
    irregular: Option<&'static str>,
    /// A counter that names tracked elements, so that end tags can be matched to them.
    next_id: u64,
    /// The open elements, as the stream nests them.
    shadow: Shadow,
}

/// A tracked open element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// An item, by its index in `items`.
    Item { id: u64, index: usize },
    /// A field element whose text is being captured.
    Field { id: u64 },
}

/// Text captured for one field element, which may serve several (nested) items.
#[derive(Debug)]
struct Capture {
    /// The tracked element's id.
    id: u64,
    /// The field's index.
    field: usize,
    /// The items this element is the first match for.
    items: Vec<usize>,
    /// The text so far, whitespace already collapsed.
    text: String,
    /// The text node being read: lol_html splits text at every tag, an HTML5 tree only at
    /// elements and comments (a stray end tag or an ignored start tag splits nothing).
    node: String,
}

impl Walk {
    /// A fresh state for `fields` fields.
    fn new(fields: usize) -> Walk {
        Walk {
            items: Vec::new(),
            decided: Vec::new(),
            open: Vec::new(),
            captures: Vec::new(),
            pending: vec![String::new(); fields],
            irregular: None,
            next_id: 0,
            shadow: Shadow::default(),
        }
    }

    /// Sends the page to the DOM engine; the first reason is kept.
    fn irregular(&mut self, why: &'static str) {
        self.irregular.get_or_insert(why);
    }

    /// A fresh id for a tracked element.
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// An element matching the item selector opened.
    fn item_start(state: &Rc<RefCell<Walk>>, own_attrs: &[(usize, String)], el: &mut Element) {
        let mut walk = state.borrow_mut();
        let fields = walk.pending.len();
        let mut item = vec![None; fields];
        let mut decided = vec![false; fields];
        for (field, attr) in own_attrs {
            item[*field] = el.get_attribute(attr).map(|raw| decode_attribute(&raw));
            decided[*field] = true;
        }
        let index = walk.items.len();
        walk.items.push(item);
        walk.decided.push(decided);
        if !el.can_have_content() {
            // A void element: no descendants, nothing to track.
            return;
        }
        let id = walk.id();
        walk.open.push(Open::Item { id, index });
        drop(walk);
        Walk::close_on_end_tag(state, el, Some(Open::Item { id, index }));
    }

    /// An element matching field `field`'s selector opened.
    fn field_start(state: &Rc<RefCell<Walk>>, field: usize, attr: Option<&str>, el: &mut Element) {
        let mut walk = state.borrow_mut();
        let takers: Vec<usize> = walk
            .open
            .iter()
            .filter_map(|open| match open {
                Open::Item { index, .. } => Some(*index),
                Open::Field { .. } => None,
            })
            .filter(|&index| !walk.decided[index][field])
            .collect();
        if takers.is_empty() {
            return;
        }
        for &index in &takers {
            walk.decided[index][field] = true;
        }
        if let Some(attr) = attr {
            let value = el.get_attribute(attr).map(|raw| decode_attribute(&raw));
            for &index in &takers {
                walk.items[index][field] = value.clone();
            }
            return;
        }
        if !el.can_have_content() {
            for &index in &takers {
                walk.items[index][field] = Some(String::new());
            }
            return;
        }
        let id = walk.id();
        walk.open.push(Open::Field { id });
        walk.captures.push(Capture {
            id,
            field,
            items: takers,
            text: String::new(),
            node: String::new(),
        });
        drop(walk);
        Walk::close_on_end_tag(state, el, Some(Open::Field { id }));
    }

    /// Any element starts: the shadow of open elements follows it, and its end tag.
    fn shadow_start(state: &Rc<RefCell<Walk>>, el: &mut Element) {
        let has_content = el.can_have_content();
        let mut walk = state.borrow_mut();
        let depth = match walk.shadow.start(el.tag_name(), has_content) {
            Ok(depth) => depth,
            Err(why) => {
                walk.irregular(why);
                return;
            }
        };
        drop(walk);
        if !has_content {
            return;
        }
        let shared = Rc::clone(state);
        let registered = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            let mut walk = shared.borrow_mut();
            if let Err(why) = walk.shadow.end(depth, &end.name()) {
                walk.irregular(why);
            }
            Ok(())
        }));
        if registered.is_err() {
            state.borrow_mut().irregular("an element with no end tag");
        }
    }

    /// Arranges for the element's end tag to close `open` (when it is tracked), and for the page
    /// to go to the DOM engine if the element is closed by another element's end tag.
    fn close_on_end_tag(state: &Rc<RefCell<Walk>>, el: &mut Element, open: Option<Open>) {
        let shared = Rc::clone(state);
        let name = el.tag_name();
        let registered = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
            let mut walk = shared.borrow_mut();
            if !end.name().eq_ignore_ascii_case(&name) {
                walk.irregular("an element closed by another element's end tag");
            }
            if let Some(open) = open {
                walk.close(open);
            }
            Ok(())
        }));
        if registered.is_err() {
            // Callers track only elements that can have content, so this does not happen; if
            // it did, the element would never close and the page would go to the DOM engine.
            state.borrow_mut().irregular("an element with no end tag");
        }
    }

    /// The end tag of a tracked element arrived.
    fn close(&mut self, open: Open) {
        if self.open.last() != Some(&open) {
            // Something opened inside it is still open: the HTML5 tree would differ.
            self.irregular("misnested end tags");
            self.open.retain(|o| *o != open);
        } else {
            self.open.pop();
        }
        if let Open::Field { id } = open
            && let Some(at) = self.captures.iter().position(|c| c.id == id)
        {
            let mut capture = self.captures.remove(at);
            push_words(&mut capture.text, &capture.node);
            for index in capture.items {
                self.items[index][capture.field] = Some(capture.text.clone());
            }
        }
    }

    /// A chunk of text inside an element matching field `field`'s selector.
    fn field_text(&mut self, field: usize, chunk: &TextChunk<'_>) {
        if !self.captures.iter().any(|c| c.field == field) {
            return;
        }
        self.pending[field].push_str(chunk.as_str());
        if !chunk.last_in_text_node() {
            return;
        }
        let raw = std::mem::take(&mut self.pending[field]);
        // As an HTML5 parser's input stream and tree builder do: U+0000 is dropped from body
        // text and replaced in raw text; character references are decoded where they exist.
        let text: Cow<'_, str> = match chunk.text_type() {
            TextType::Data => htmlize::unescape(without_nul(&raw, "")),
            TextType::RCData => htmlize::unescape(without_nul(&raw, "\u{FFFD}")),
            _ => without_nul(&raw, "\u{FFFD}"),
        };
        // Only text being captured matters: text moved out of a table elsewhere lands outside
        // every field, in the stream as in the tree.
        if self.shadow.in_table_text()
            && text
                .chars()
                .any(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0C' | '\r'))
        {
            self.irregular("text directly inside a table (moved in front of it)");
            return;
        }
        for capture in self.captures.iter_mut().filter(|c| c.field == field) {
            capture.node.push_str(&text);
        }
    }

    /// An element or a comment inside a captured element of field `field`: the text node before
    /// it ends.
    fn text_boundary(&mut self, field: usize) {
        for capture in self.captures.iter_mut().filter(|c| c.field == field) {
            push_words(&mut capture.text, &capture.node);
            capture.node.clear();
        }
    }

    /// An element started inside an element matching field `field`'s selector.
    fn inner_element(state: &Rc<RefCell<Walk>>, field: usize, el: &mut Element) {
        let mut walk = state.borrow_mut();
        if !walk.captures.iter().any(|c| c.field == field) {
            return;
        }
        walk.text_boundary(field);
        drop(walk);
        if el.can_have_content() {
            let shared = Rc::clone(state);
            let registered = el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
                shared.borrow_mut().text_boundary(field);
                Ok(())
            }));
            if registered.is_err() {
                state.borrow_mut().irregular("an element with no end tag");
            }
        }
    }

    /// The items, or why the page needs the DOM engine.
    fn finish(self) -> Outcome {
        if let Some(why) = self.irregular {
            return Outcome::Irregular(why);
        }
        if !self.open.is_empty() {
            return Outcome::Irregular("an item or field element was never closed");
        }
        Outcome::Items(self.items)
    }
}

/// Decodes character references in an attribute value, with the standard's attribute rules,
/// after the input stream's normalisation (CR and CR LF become LF, U+0000 becomes U+FFFD).
fn decode_attribute(raw: &str) -> String {
    let mut value = Cow::Borrowed(raw);
    if value.contains('\r') {
        value = Cow::Owned(value.replace("\r\n", "\n").replace('\r', "\n"));
    }
    if value.contains('\0') {
        value = Cow::Owned(value.replace('\0', "\u{FFFD}"));
    }
    htmlize::unescape_attribute(value).into_owned()
}

/// `list` with ` *` after each of its selectors: every element inside a match.
fn descendants_of(list: &str) -> String {
    split_list(list)
        .iter()
        .map(|selector| format!("{} *", selector.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The selectors of a comma-separated list; commas inside `[...]` (quoted or not) are kept.
fn split_list(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    for (at, c) in list.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(&list[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// Whether a selector list can match an element with no attributes and no children named `p`
/// or `br`: one of its selectors ends in a bare `p`, `br` or `*`.
fn matches_inserted_elements(list: &str) -> bool {
    split_list(list).into_iter().any(|selector| {
        let last = selector.split_whitespace().last().unwrap_or("");
        ["p", "br", "*"]
            .iter()
            .any(|t| last.eq_ignore_ascii_case(t))
    })
}

/// How many `</name` end tags the raw markup holds (in comments and scripts too, so the count
/// can only be high, which costs speed, never correctness).
fn count_end_tags(html: &str, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = html[from..].find("</") {
        let start = from + at + 2;
        let end = start + name.len();
        if bytes.len() >= end
            && bytes[start..end].eq_ignore_ascii_case(name.as_bytes())
            && bytes
                .get(end)
                .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'))
        {
            count += 1;
        }
        from = start;
    }
    count
}

/// `text` with every U+0000 replaced by `with`, borrowed when there is none.
fn without_nul<'a>(text: &'a str, with: &str) -> Cow<'a, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', with))
    } else {
        Cow::Borrowed(text)
    }
}
