//! The stream engine's tree sink: html5ever's own `TreeBuilder` decides where every node goes,
//! and [`Sink`] keeps only what the items need.
//!
//! The builder creates an element, then appends it; the sink records it at creation
//! (`super::tree`) and hands it to the [`Walk`] when it is appended, its parent and earlier
//! siblings final by then. Appended text goes to the walk's captures, comments only end a text
//! node, and the DOCTYPE, quirks mode and parse errors change nothing the items depend on
//! (scraper matches in no-quirks mode whatever the document's mode). Every call that would move
//! or change a node after it was appended — foster parenting, the adoption agency's moves,
//! attributes added to `<html>` or `<body>`, `<template>` contents — marks the page
//! [`Irregular`] instead, and the page goes to the DOM engine. The questions the builder asks
//! back (`elem_name`, `same_node`, the defaults for MathML's `annotation-xml` and declarative
//! shadow roots) are answered as scraper's `HtmlTreeSink` answers them, so that both engines'
//! builders decide alike.
//!
//! [`Feed`] is the token sink in front of the builder, for either tokenizer: it stops taking
//! tokens once the page is irregular. Nothing here reads markup or matches selectors.

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::tree_builder::{
    ElementFlags, NodeOrText, QuirksMode, TreeBuilder, TreeBuilderOpts, TreeSink,
};
use html5ever::{Attribute, QualName, TokenizerResult, expanded_name, local_name, ns};

use super::tree::{DOCUMENT, Tree};
use super::walk::Walk;
use super::{Irregular, Outcome};

/// The handle of every comment and processing instruction: the record keeps none of them.
const COMMENT: u32 = u32::MAX - 2;

/// The byte order mark, which html5ever's tokenizer drops wherever its driver feeds it anew.
pub(super) const BOM: char = '\u{feff}';

/// What the sink keeps of a page.
struct State<'p> {
    /// Every element created so far.
    tree: Tree,
    /// Items and fields, told about every element and every piece of text appended.
    walk: Walk<'p>,
}

/// The tree sink html5ever's tree builder drives: handles are element ids in the [`Tree`].
pub(super) struct Sink<'p> {
    /// The record and the walk. The builder calls through `&self`; it never holds an element's
    /// name across a call that changes the record (scraper's sink, a `RefCell` too, relies on
    /// the same).
    state: RefCell<State<'p>>,
    /// Why the page goes to the DOM engine, once known; the record is not kept up after that.
    irregular: Cell<Option<Irregular>>,
}

impl<'p> Sink<'p> {
    /// A sink at the start of a page of `bytes` bytes.
    pub(super) fn new(walk: Walk<'p>, bytes: usize) -> Sink<'p> {
        let tree = Tree::for_page(bytes);
        Sink {
            state: RefCell::new(State { tree, walk }),
            irregular: Cell::new(None),
        }
    }

    /// Why the page is irregular, if it is.
    pub(super) fn irregular(&self) -> Option<Irregular> {
        self.irregular.get()
    }

    /// The page is irregular; the first reason is kept.
    fn mark(&self, why: Irregular) {
        if self.irregular.get().is_none() {
            self.irregular.set(Some(why));
        }
    }

    /// An empty attribute list, with room from an earlier element when there is one.
    pub(super) fn spare_attrs(&self) -> Vec<Attribute> {
        self.state.borrow_mut().tree.spare_attrs()
    }

    /// Whether the plan reads an attribute of this name (`Plan::reads_attribute`).
    #[cfg(test)]
    pub(super) fn reads_attribute(&self, name: &[u8]) -> bool {
        self.state.borrow().walk.plan().reads_attribute(name)
    }

    /// How many elements were created so far.
    #[cfg(test)]
    pub(super) fn elements(&self) -> usize {
        self.state.borrow().tree.len()
    }

    /// The name of the element created last.
    #[cfg(test)]
    pub(super) fn last_created(&self) -> Option<QualName> {
        let count = self.elements() as u32;
        (count > 0).then(|| self.state.borrow().tree.node(count - 1).name.clone())
    }
}

/// Why inserting `node` anywhere but at the end of its parent is irregular: where html5ever
/// does so, foster parenting moves it in front of a table.
fn moved(node: &NodeOrText<u32>) -> Irregular {
    match node {
        NodeOrText::AppendNode(_) => Irregular::FosterParenting,
        NodeOrText::AppendText(_) => Irregular::TableText,
    }
}

impl<'p> TreeSink for Sink<'p> {
    type Handle = u32;
    type Output = Outcome;
    type ElemName<'a>
        = Ref<'a, QualName>
    where
        Self: 'a;

    fn finish(self) -> Outcome {
        match self.irregular.get() {
            Some(why) => Outcome::Irregular(why),
            None => self.state.into_inner().walk.finish(),
        }
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> u32 {
        DOCUMENT
    }

    fn elem_name<'a>(&'a self, target: &'a u32) -> Ref<'a, QualName> {
        Ref::map(self.state.borrow(), |state| &state.tree.node(*target).name)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> u32 {
        if flags.template {
            self.mark(Irregular::Template);
        } else if name.expanded() == expanded_name!(html "frameset") {
            // html5ever follows a frameset without moving a node, but such a page has no
            // body to list items in; it goes to the DOM engine, as it always has.
            self.mark(Irregular::Frameset);
        }
        self.state.borrow_mut().tree.create(name, attrs)
    }

    fn create_comment(&self, _text: StrTendril) -> u32 {
        COMMENT
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> u32 {
        COMMENT
    }

    fn append(&self, parent: &u32, child: NodeOrText<u32>) {
        if self.irregular.get().is_some() {
            return;
        }
        let state = &mut *self.state.borrow_mut();
        let done = match child {
            // A comment ends the text node before it, as in the DOM.
            NodeOrText::AppendNode(COMMENT) => {
                state.tree.comment(*parent);
                Ok(())
            }
            NodeOrText::AppendNode(id) => {
                state.tree.append(*parent, id);
                state.walk.element(&mut state.tree, id)
            }
            // html5ever never puts text in the document itself.
            NodeOrText::AppendText(_) if *parent == DOCUMENT => Ok(()),
            NodeOrText::AppendText(text) => state.walk.text(&mut state.tree, *parent, &text),
        };
        if let Err(why) = done {
            self.mark(why);
        }
    }

    fn append_based_on_parent_node(&self, _table: &u32, _before: &u32, child: NodeOrText<u32>) {
        self.mark(moved(&child));
    }

    fn append_doctype_to_document(
        &self,
        _name: StrTendril,
        _public: StrTendril,
        _system: StrTendril,
    ) {
    }

    fn get_template_contents(&self, target: &u32) -> u32 {
        // Never reached with a template the page follows: creating one is irregular already.
        self.mark(Irregular::Template);
        *target
    }

    fn same_node(&self, x: &u32, y: &u32) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, _sibling: &u32, new_node: NodeOrText<u32>) {
        self.mark(moved(&new_node));
    }

    fn add_attrs_if_missing(&self, target: &u32, attrs: Vec<Attribute>) {
        // The element was matched with the attributes it had; one that only repeats them
        // changes nothing.
        let state = self.state.borrow();
        let have = state.tree.attrs(*target);
        if !attrs
            .iter()
            .all(|new| have.iter().any(|old| old.name == new.name))
        {
            drop(state);
            self.mark(Irregular::AttributesAdded);
        }
    }

    fn remove_from_parent(&self, target: &u32) {
        // html5ever removes a node in two places: the adoption agency, and a `<frameset>` in
        // the body, which takes the body out.
        let body = self.elem_name(target).expanded() == expanded_name!(html "body");
        self.mark(if body {
            Irregular::Frameset
        } else {
            Irregular::AdoptionAgency
        });
    }

    fn reparent_children(&self, _node: &u32, _new_parent: &u32) {
        self.mark(Irregular::AdoptionAgency);
    }
}

/// The token sink in front of the tree builder: what both tokenizers feed.
pub(super) struct Feed<'p> {
    /// html5ever's tree builder, driving the sink.
    builder: TreeBuilder<u32, Sink<'p>>,
    /// html5ever's tokenizer is flushing the end of the input: it may not be paused any more.
    ending: Cell<bool>,
    /// What the tree builder received (`super::fast_tests` compares the two tokenizers).
    #[cfg(test)]
    pub(super) record: RefCell<super::fast_tests::Record>,
}

impl<'p> Feed<'p> {
    /// A tree builder at the start of a document, with the options scraper parses with.
    pub(super) fn new(sink: Sink<'p>) -> Feed<'p> {
        Feed {
            builder: TreeBuilder::new(sink, TreeBuilderOpts::default()),
            ending: Cell::new(false),
            #[cfg(test)]
            record: RefCell::default(),
        }
    }

    /// The sink.
    pub(super) fn sink(&self) -> &Sink<'p> {
        &self.builder.sink
    }

    /// One token into the tree builder: its answer (a switch of the tokenizer's state), or why
    /// the page is irregular.
    pub(super) fn token(&self, token: Token) -> Result<TokenSinkResult<u32>, Irregular> {
        #[cfg(test)]
        let recorded = self.record_before(&token);
        // html5ever's tokenizer counts lines; the builder only passes them on to the sink.
        let result = self.builder.process_token(token, 1);
        #[cfg(test)]
        self.record_after(recorded);
        match self.sink().irregular() {
            Some(why) => Err(why),
            None => Ok(result),
        }
    }

    /// The items, or why the page goes elsewhere.
    pub(super) fn finish(self) -> Outcome {
        self.builder.sink.finish()
    }
}

impl TokenSink for Feed<'_> {
    type Handle = u32;

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<u32> {
        // Only a tag may pause the tokenizer (its other tokens insist on `Continue`): once
        // the page is irregular, the reading stops at the next tag.
        let pause = if matches!(token, Token::TagToken(_)) && !self.ending.get() {
            TokenSinkResult::Script(DOCUMENT)
        } else {
            TokenSinkResult::Continue
        };
        if self.sink().irregular().is_some() {
            return pause;
        }
        self.token(token).unwrap_or(pause)
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Feeds `html` through html5ever's tokenizer into `feed`, to the end of the page or to the
/// tag after the page turned out irregular.
pub(super) fn run_html5ever<'p>(feed: Feed<'p>, html: &str, opts: TokenizerOpts) -> Feed<'p> {
    let discards_bom = opts.discard_bom;
    let tokenizer = Tokenizer::new(feed, opts);
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    loop {
        match tokenizer.feed(&input) {
            TokenizerResult::Done => break,
            TokenizerResult::Script(_) if tokenizer.sink.sink().irregular().is_some() => break,
            // As html5ever's driver does: a script end or a charset is no reason to stop. It
            // feeds the tokenizer again, which drops a byte order mark there as at the start
            // of the page; a tokenizer taking over mid-page is told to drop none, so that one
            // is dropped here.
            TokenizerResult::Script(_) | TokenizerResult::EncodingIndicator(_) => {
                if !discards_bom && input.peek() == Some(BOM) {
                    input.next();
                }
            }
        }
    }
    if tokenizer.sink.sink().irregular().is_none() {
        tokenizer.sink.ending.set(true);
        tokenizer.end();
    }
    tokenizer.sink
}
