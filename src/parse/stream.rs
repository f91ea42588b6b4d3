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
//! - **Pages**: the page is handed back ([`Outcome::Irregular`]) and parsed by the DOM engine when
//!   its markup is one the HTML5 parser repairs:
//!   - an item, a field element or a formatting element (`a`, `b`, `i` …) closed by another
//!     element's end tag, or never closed (an unclosed `<li>` or `<a>`, a truncated page);
//!   - a start tag that closes an open element implicitly (`<p>` … `<div>`, `<a>` in `<a>`,
//!     `<li>` directly in `<li>`, a cell in a cell, a heading in a heading …);
//!   - content the HTML5 parser moves or drops: elements directly inside `<table>`, `<tr>` … that
//!     do not belong there (foster parenting), inside `<select>`, HTML elements inside `<svg>` or
//!     `<math>`, `<template>`, `<frameset>`, `<plaintext>`, `<image>`;
//!   - anything lol_html itself refuses (its parser's ambiguity errors, its memory limit).
//!
//! What is left, knowingly: a stray `</p>` or `</br>` end tag (the HTML5 parser inserts an empty
//! element) and a formatting element misnested around a block (`<b><div>x</b>y</div>`), which
//! can differ only for selectors that match those elements.
//!
//! The tests in `super::tests` and `tests/extract_engines.rs` hold the two engines to the same
//! output on real-shaped pages and on a catalogue of malformed ones.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::{Comment, Element, EndTag, TextChunk, TextType};
use lol_html::{ElementContentHandlers, HtmlRewriter, Selector, Settings};

use super::{Item, push_words};

/// The compiled streaming plan: lol_html selectors for the item and for each field.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The item selector.
    item: Selector,
    /// One entry per field, in config order.
    fields: Vec<FieldPlan>,
    /// Markup that the HTML5 parser repairs, which sends a page to the DOM engine.
    guards: Vec<(Selector, Guard)>,
    /// Whether a selector can match the empty `<p>` or `<br>` that an HTML5 parser inserts for
    /// a stray `</p>` or `</br>`; then such end tags send the page to the DOM engine.
    stray_end_tags: bool,
}

/// What a guard selector's match means.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// The element's start tag closes an open element implicitly.
    ClosesImplicitly,
    /// The element is in a container that admits only these children; others are moved or
    /// dropped.
    ChildOf(&'static [&'static str], &'static str),
    /// HTML elements that break out of `<svg>` and `<math>`.
    BreaksOutOfForeign,
    /// Elements whose contents the HTML5 parser treats specially.
    Special,
    /// A formatting element: fine unless another element's end tag closes it.
    Formatting,
    /// A `<p>`, counted when its own end tag closes it (see [`Plan::stray_end_tags`]).
    Paragraph,
    /// A `<table>`, counted while open: table parts outside one are ignored by HTML5 parsers.
    Table,
    /// A table part, which must be inside an open `<table>`.
    TablePart,
}

/// Elements whose start tag closes an open `<p>`.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "search",
    "section",
    "summary",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "listing",
    "form",
    "plaintext",
    "table",
    "hr",
    "xmp",
    "li",
    "dd",
    "dt",
];

/// Table parts, which close an open cell, row or caption.
const TABLE_PARTS: &[&str] = &[
    "caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr",
];

/// Elements that break out of foreign content (the HTML standard's list, `font` aside).
const FOREIGN_BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

/// Element types that the HTML5 parser inserts when the markup leaves them out; a selector that
/// names one would match differently in the stream.
const IMPLIED: &[&str] = &["html", "head", "body", "tbody", "colgroup"];

/// The guard selectors, as source text.
fn guard_sources() -> Vec<(String, Guard)> {
    let mut implicit = Vec::new();
    for tag in CLOSES_P {
        implicit.push(format!("p {tag}"));
    }
    for pair in [
        "a a",
        "button button",
        "nobr nobr",
        "form form",
        "li > li",
        "dd > dd",
        "dd > dt",
        "dt > dd",
        "dt > dt",
        "option > option",
        "option > optgroup",
        "optgroup > optgroup",
    ] {
        implicit.push(pair.to_string());
    }
    for outer in ["h1", "h2", "h3", "h4", "h5", "h6"] {
        for inner in ["h1", "h2", "h3", "h4", "h5", "h6"] {
            implicit.push(format!("{outer} > {inner}"));
        }
    }
    for outer in ["rb", "rp", "rt", "rtc"] {
        for inner in ["rb", "rp", "rt", "rtc"] {
            implicit.push(format!("{outer} > {inner}"));
        }
    }
    for outer in ["td", "th", "tr", "caption", "table"] {
        for inner in TABLE_PARTS.iter().chain(&["table"]) {
            // A row holds cells; a table holds every part but another table.
            let fits = match outer {
                "table" => *inner != "table",
                "tr" => matches!(*inner, "td" | "th"),
                _ => false,
            };
            if fits {
                continue;
            }
            implicit.push(format!("{outer} > {inner}"));
        }
    }
    for outer in ["tbody", "thead", "tfoot"] {
        for inner in [
            "caption", "col", "colgroup", "tbody", "tfoot", "thead", "table",
        ] {
            implicit.push(format!("{outer} > {inner}"));
        }
    }
    const IN_TABLE: &[&str] = &[
        "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "script", "template",
        "style", "input", "form",
    ];
    const IN_SECTION: &[&str] = &["tr", "script", "template", "style"];
    const IN_ROW: &[&str] = &["td", "th", "script", "template", "style"];
    const IN_SELECT: &[&str] = &["option", "optgroup", "hr", "script", "template"];
    vec![
        (implicit.join(", "), Guard::ClosesImplicitly),
        ("table > *".to_string(), Guard::ChildOf(IN_TABLE, "table")),
        (
            "tbody > *, thead > *, tfoot > *".to_string(),
            Guard::ChildOf(IN_SECTION, "table section"),
        ),
        ("tr > *".to_string(), Guard::ChildOf(IN_ROW, "tr")),
        ("select *".to_string(), Guard::ChildOf(IN_SELECT, "select")),
        ("svg *, math *".to_string(), Guard::BreaksOutOfForeign),
        (
            "template, frameset, plaintext, image, isindex, html html, head html, head head, \
             body html, body head, body body, body frame"
                .to_string(),
            Guard::Special,
        ),
        ("table".to_string(), Guard::Table),
        (TABLE_PARTS.join(", "), Guard::TablePart),
        (
            "a, b, big, code, em, font, i, nobr, s, small, strike, strong, tt, u".to_string(),
            Guard::Formatting,
        ),
    ]
}

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
        let mut sources = guard_sources();
        if stray_end_tags {
            sources.push(("p".to_string(), Guard::Paragraph));
        }
        let guards = sources
            .into_iter()
            .map(|(source, guard)| {
                let selector = source.parse::<Selector>().unwrap_or_else(|err| {
                    panic!("guard selector {source:?} does not compile: {err}")
                });
                (selector, guard)
            })
            .collect();
        Ok(Plan {
            item,
            fields: compiled,
            guards,
            stray_end_tags,
        })
    }

    /// Extracts the items of `html` in one streaming pass.
    pub(super) fn extract(&self, html: &str) -> Outcome {
        let state = Rc::new(RefCell::new(Walk::new(self.fields.len())));
        let mut settings = Settings::new();
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
        for (selector, guard) in &self.guards {
            let guard = *guard;
            let handlers = ElementContentHandlers::default().element({
                let state = Rc::clone(&state);
                move |el: &mut Element<'_, '_>| {
                    Walk::guard(&state, guard, el);
                    Ok(())
                }
            });
            settings = settings.append_element_content_handler((Cow::Borrowed(selector), handlers));
        }

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
                        || count_end_tags(html, "p") > walk.paragraphs_closed)
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
    /// `<p>` elements closed by their own end tag (counted only with `Plan::stray_end_tags`).
    paragraphs_closed: usize,
    /// `<table>` elements open now.
    open_tables: usize,
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
            paragraphs_closed: 0,
            open_tables: 0,
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

    /// A guard selector matched `el`.
    fn guard(state: &Rc<RefCell<Walk>>, guard: Guard, el: &mut Element) {
        let why = match guard {
            Guard::ClosesImplicitly => "a start tag that closes an open element implicitly",
            Guard::ChildOf(allowed, _) if allowed.contains(&el.tag_name().as_str()) => return,
            Guard::ChildOf(_, "select") => "an element that the HTML5 parser drops from <select>",
            Guard::ChildOf(..) => "an element misplaced in a table (foster parenting)",
            Guard::BreaksOutOfForeign if !FOREIGN_BREAKOUT.contains(&el.tag_name().as_str()) => {
                return;
            }
            Guard::BreaksOutOfForeign => "an HTML element inside <svg> or <math>",
            Guard::Special => {
                "a <template>, <frameset>, <plaintext> or <image> element, or a \
                               second <html>, <head> or <body>"
            }
            Guard::TablePart if state.borrow().open_tables > 0 => return,
            Guard::TablePart => "a table part outside a table, which HTML5 parsers ignore",
            Guard::Table => {
                state.borrow_mut().open_tables += 1;
                let shared = Rc::clone(state);
                // A <table> can always have content (see Guard::Paragraph).
                let _ = el.on_end_tag(Box::new(move |_: &mut EndTag<'_>| {
                    let mut walk = shared.borrow_mut();
                    walk.open_tables = walk.open_tables.saturating_sub(1);
                    Ok(())
                }));
                return;
            }
            Guard::Formatting => {
                if el.can_have_content() {
                    Walk::close_on_end_tag(state, el, None);
                }
                return;
            }
            Guard::Paragraph => {
                let shared = Rc::clone(state);
                // A <p> can always have content; if lol_html refused, the count stays short
                // and the page goes to the DOM engine.
                let _ = el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
                    if end.name().eq_ignore_ascii_case("p") {
                        shared.borrow_mut().paragraphs_closed += 1;
                    }
                    Ok(())
                }));
                return;
            }
        };
        state.borrow_mut().irregular(why);
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
