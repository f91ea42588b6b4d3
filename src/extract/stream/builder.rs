//! The stream engine's tree builder: html5ever's, transcribed for the markup it can follow
//! without moving a node, and refusing everything else.
//!
//! html5ever's tokenizer feeds this builder exactly the tokens it feeds html5ever's own tree
//! builder (the same code, the same input, the same feedback about raw text), and so does the
//! fast tokenizer in front of it (`super::fast`), but for the differences this builder cannot
//! tell apart (how text is cut into tokens, the parse errors). For each token the builder does
//! what html5ever 0.40's `tree_builder` does, rule for rule, on a record of elements that keeps
//! no text ([`Tree`]): the insertion modes are in `super::rules`, `super::body_rules` and
//! `super::table_rules`, foreign content in `super::foreign`, the stack of open elements in
//! `super::stack` and the active formatting elements in `super::formatting`. The transcription
//! is a whitelist: a rule whose effect is not modelled exactly — foster parenting, the adoption
//! agency's node moves, `<template>`, `<frameset>`, attributes merged into an existing `<html>`
//! or `<body>` — returns an [`Irregular`] reason instead, and the page goes to the DOM engine.
//! Every other rule only inserts elements at the end of the current node and pushes or pops the
//! stack of open elements, so the elements' parents never change and the record is the final
//! tree's, by construction. Besides the tree, the builder answers its tokenizer as html5ever's
//! does: raw text after some start tags, and where html5ever's driver would feed its tokenizer
//! anew ([`Refeed`]), which drops a byte order mark there.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{self, Tag, TokenSinkResult};
use html5ever::{Attribute, LocalName, Namespace, QualName, local_name, ns};

use super::Irregular;
use super::open_elements::Stack;
use super::quirks;
use super::tags;
use super::tree::{NONE, Tree};
use super::walk::Walk;

/// The insertion modes the builder follows (html5ever's, without those it refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Initial,
    BeforeHtml,
    BeforeHead,
    InHead,
    AfterHead,
    InBody,
    Text,
    InTable,
    InTableText,
    InCaption,
    InColumnGroup,
    InTableBody,
    InRow,
    InCell,
    AfterBody,
    AfterAfterBody,
}

/// How much of a run of characters is known to be whitespace (html5ever's `SplitStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    Unsplit,
    Whitespace,
    NotWhitespace,
}

/// A token as the tree builder sees it.
#[derive(Debug)]
pub(super) enum Tok {
    Tag(Tag),
    Chars(Split, StrTendril),
    Null,
    Comment,
    Eof,
}

/// Whether html5ever's driver would feed its tokenizer anew after a token (its tree builder
/// answers `Script` or `EncodingIndicator`); the tokenizer then drops a byte order mark that
/// starts the rest of the input, as at the page's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refeed {
    /// It reads on.
    No,
    /// A script's end tag, or a `charset` attribute on an element of the head.
    Yes,
    /// An `http-equiv` content type on an element of the head: anew if its `content` names an
    /// encoding, which the stream does not work out.
    IfContentNamesEncoding,
}

/// What a rule asks the driver loop to do next (html5ever's `ProcessResult`).
pub(super) enum Step {
    Done,
    Reprocess(Mode, Tok),
    SplitWhitespace(StrTendril),
    Raw(RawKind),
    Plaintext,
}

/// The tree builder's state, and the extraction it feeds.
pub(super) struct Builder<'p> {
    /// Every element created so far.
    pub(super) tree: Tree,
    /// Items and fields, told about every element and every piece of text.
    pub(super) walk: Walk<'p>,
    /// The stack of open elements, outermost first.
    pub(super) open: Stack,
    /// The list of active formatting elements; `formatting::MARKER` for a marker.
    pub(super) formatting: Vec<u32>,
    /// The insertion mode.
    pub(super) mode: Mode,
    /// The mode to return to after `Text` or `InTableText`.
    pub(super) orig_mode: Option<Mode>,
    /// The head element pointer.
    pub(super) head: u32,
    /// The form element pointer.
    pub(super) form: u32,
    /// Whether the document is in quirks mode (no DOCTYPE, or an old one).
    pub(super) quirks: bool,
    /// Drop a newline that starts the next characters (after `<pre>`, `<listing>`, `<textarea>`).
    pub(super) ignore_lf: bool,
    /// Foster parenting is on: an insertion into a table part would go before the table.
    pub(super) foster: bool,
    /// Characters read in a table, waiting to be inserted.
    pub(super) pending_table_text: Vec<(Split, StrTendril)>,
    /// Whether the last token would have html5ever's tokenizer fed anew.
    pub(super) refeed: Refeed,
    /// Every token received, described (`super::fast_tests` compares the two tokenizers).
    #[cfg(test)]
    pub(super) tokens: Vec<String>,
}

impl<'p> Builder<'p> {
    /// A builder at the start of a document of `bytes` bytes.
    pub(super) fn new(walk: Walk<'p>, bytes: usize) -> Builder<'p> {
        Builder {
            tree: Tree::for_page(bytes),
            walk,
            open: Stack::default(),
            formatting: Vec::new(),
            mode: Mode::Initial,
            orig_mode: None,
            head: NONE,
            form: NONE,
            quirks: false,
            ignore_lf: false,
            foster: false,
            pending_table_text: Vec::new(),
            refeed: Refeed::No,
            #[cfg(test)]
            tokens: Vec::new(),
        }
    }

    /// One token from the tokenizer (html5ever's `TreeBuilder::process_token`).
    pub(super) fn process_token(
        &mut self,
        token: tokenizer::Token,
    ) -> Result<TokenSinkResult<()>, Irregular> {
        #[cfg(test)]
        self.record(&token);
        // Taken at every token, parse errors included, exactly as html5ever does.
        let ignore_lf = std::mem::take(&mut self.ignore_lf);
        self.refeed = Refeed::No;
        let tok = match token {
            tokenizer::ParseError(_) => return Ok(TokenSinkResult::Continue),
            tokenizer::DoctypeToken(doctype) => {
                if self.mode == Mode::Initial {
                    self.quirks = quirks::doctype_is_quirky(&doctype);
                    self.mode = Mode::BeforeHtml;
                }
                return Ok(TokenSinkResult::Continue);
            }
            tokenizer::TagToken(tag) => Tok::Tag(tag),
            tokenizer::CommentToken(_) => Tok::Comment,
            tokenizer::NullCharacterToken => Tok::Null,
            tokenizer::EOFToken => Tok::Eof,
            tokenizer::CharacterTokens(mut text) => {
                if ignore_lf && text.starts_with('\n') {
                    text.pop_front(1);
                }
                if text.is_empty() || self.text_is_inert(&text) {
                    return Ok(TokenSinkResult::Continue);
                }
                Tok::Chars(Split::Unsplit, text)
            }
        };
        self.process_to_completion(tok)
    }

    /// A run of text as a string slice, from the fast tokenizer: what a text token does, but
    /// the tendril (a copy) is made only for text the rules will look at.
    pub(super) fn process_text(&mut self, text: &str) -> Result<(), Irregular> {
        #[cfg(test)]
        self.record(&tokenizer::CharacterTokens(StrTendril::from_slice(text)));
        let ignore_lf = std::mem::take(&mut self.ignore_lf);
        let text = match text.strip_prefix('\n') {
            Some(rest) if ignore_lf => rest,
            _ => text,
        };
        if text.is_empty() || self.text_is_inert(text) {
            return Ok(());
        }
        // Text never switches the tokenizer to another state.
        let tok = Tok::Chars(Split::Unsplit, StrTendril::from_slice(text));
        self.process_to_completion(tok).map(drop)
    }

    fn process_to_completion(&mut self, mut tok: Tok) -> Result<TokenSinkResult<()>, Irregular> {
        // What a split leaves of a run of text. html5ever keeps a queue; it never holds more
        // than one token: only an unsplit run is split, and a split part is never unsplit.
        let mut more = None;
        loop {
            let step = if self.is_foreign(&tok) {
                self.step_foreign(tok)?
            } else {
                self.step(self.mode, tok)?
            };
            match step {
                Step::Done => match more.take() {
                    Some(next) => tok = next,
                    None => return Ok(TokenSinkResult::Continue),
                },
                Step::Reprocess(mode, next) => {
                    self.mode = mode;
                    tok = next;
                }
                Step::SplitWhitespace(mut buf) => {
                    let Some((first, is_ws)) = buf.pop_front_char_run(|c| c.is_ascii_whitespace())
                    else {
                        return Ok(TokenSinkResult::Continue);
                    };
                    let split = if is_ws {
                        Split::Whitespace
                    } else {
                        Split::NotWhitespace
                    };
                    tok = Tok::Chars(split, first);
                    if !buf.is_empty() {
                        debug_assert!(more.is_none(), "one split at a time");
                        more = Some(Tok::Chars(Split::Unsplit, buf));
                    }
                }
                Step::Raw(kind) => return Ok(TokenSinkResult::RawData(kind)),
                Step::Plaintext => return Ok(TokenSinkResult::Plaintext),
            }
        }
    }

    /// Whether the rules would do nothing with this run of text that the stream can see: it
    /// reopens no formatting element, moves nothing, and goes into an element no field is
    /// reading. Such runs are the whitespace between the tags of most pages; skipping them
    /// skips their trip through the rules (in a table, two: the table text mode, then the
    /// next token again).
    fn text_is_inert(&self, text: &str) -> bool {
        let Some(&current) = self.open.last() else {
            return false;
        };
        let node = self.tree.node(current);
        if node.capture != NONE || node.name.ns != ns!(html) {
            return false;
        }
        match self.mode {
            // "In body" text: reconstruct the active formatting elements, then append the
            // text to the current node (the cell and caption modes send text there too).
            Mode::InBody | Mode::InCell | Mode::InCaption => self.formatting_settled(),
            // Whitespace in a table part is kept in the table text mode, then appended to
            // that same current node before the next token is processed in this mode.
            Mode::InTable | Mode::InTableBody | Mode::InRow => {
                tags::table_outer(&node.name) && text.bytes().all(|b| b.is_ascii_whitespace())
            }
            _ => false,
        }
    }

    /// Where a node goes: the current node, unless foster parenting would move it before a
    /// table, which the stream does not follow.
    fn insertion_parent(&self) -> Result<u32, Irregular> {
        let current = self.current();
        if self.foster && tags::table_outer(&self.tree.node(current).name) {
            return Err(Irregular::FosterParenting);
        }
        Ok(current)
    }

    /// Inserts an element at the appropriate place and pushes it when `push`.
    pub(super) fn insert_element(
        &mut self,
        push: bool,
        ns: Namespace,
        local: LocalName,
        attrs: Vec<Attribute>,
    ) -> Result<u32, Irregular> {
        let parent = self.insertion_parent()?;
        let id = self
            .tree
            .insert(QualName::new(None, ns, local), attrs, parent);
        self.walk.element(&mut self.tree, id)?;
        if push {
            self.open.push(id, &self.tree);
        }
        Ok(id)
    }

    pub(super) fn insert_element_for(&mut self, tag: Tag) -> Result<u32, Irregular> {
        self.insert_element(true, ns!(html), tag.name, tag.attrs)
    }

    pub(super) fn insert_and_pop_element_for(&mut self, tag: Tag) -> Result<u32, Irregular> {
        self.insert_element(false, ns!(html), tag.name, tag.attrs)
    }

    pub(super) fn insert_phantom(&mut self, local: LocalName) -> Result<u32, Irregular> {
        self.insert_element(true, ns!(html), local, Vec::new())
    }

    /// Creates the html element, as the document's child.
    pub(super) fn create_root(&mut self, attrs: Vec<Attribute>) -> Result<(), Irregular> {
        let id = self.tree.insert(
            QualName::new(None, ns!(html), local_name!("html")),
            attrs,
            NONE,
        );
        self.walk.element(&mut self.tree, id)?;
        self.open.push(id, &self.tree);
        Ok(())
    }

    pub(super) fn append_text(&mut self, text: &str) -> Result<(), Irregular> {
        let parent = self.insertion_parent()?;
        self.walk.text(&mut self.tree, parent, text)
    }

    pub(super) fn append_comment(&mut self) -> Result<(), Irregular> {
        let parent = self.insertion_parent()?;
        self.tree.comment(parent);
        Ok(())
    }

    /// `<html>` or `<body>` again: its attributes are added to the existing element, which the
    /// stream has already matched, so any attribute that is new sends the page to the tree.
    pub(super) fn add_attrs_if_missing(
        &self,
        target: u32,
        attrs: &[Attribute],
    ) -> Result<(), Irregular> {
        let have = self.tree.attrs(target);
        if attrs
            .iter()
            .all(|attr| have.iter().any(|old| old.name == attr.name))
        {
            Ok(())
        } else {
            Err(Irregular::AttributesAdded)
        }
    }

    /// The insertion mode the stack of open elements calls for.
    pub(super) fn reset_insertion_mode(&self) -> Mode {
        for (at, &id) in self.open.iter().enumerate().rev() {
            let last = at == 0;
            let name = &self.tree.node(id).name;
            if name.ns != ns!(html) {
                continue;
            }
            match name.local {
                local_name!("td") | local_name!("th") if !last => return Mode::InCell,
                local_name!("tr") => return Mode::InRow,
                local_name!("tbody") | local_name!("thead") | local_name!("tfoot") => {
                    return Mode::InTableBody;
                }
                local_name!("caption") => return Mode::InCaption,
                local_name!("colgroup") => return Mode::InColumnGroup,
                local_name!("table") => return Mode::InTable,
                local_name!("head") if !last => return Mode::InHead,
                local_name!("body") => return Mode::InBody,
                local_name!("html") => {
                    return if self.head == NONE {
                        Mode::BeforeHead
                    } else {
                        Mode::AfterHead
                    };
                }
                _ => {}
            }
        }
        Mode::InBody
    }

    pub(super) fn close_the_cell(&mut self) {
        self.generate_implied_end(tags::cursory_implied_end);
        self.pop_until(tags::td_th);
        self.clear_active_formatting_to_marker();
    }

    /// Switches to the `Text` mode and the tokenizer to a raw text state.
    pub(super) fn enter_raw_text(&mut self, kind: RawKind) -> Step {
        self.orig_mode = Some(self.mode);
        self.mode = Mode::Text;
        Step::Raw(kind)
    }

    /// Inserts the element and reads its contents as raw text or RCDATA.
    pub(super) fn parse_raw_data(&mut self, tag: Tag, kind: RawKind) -> Result<Step, Irregular> {
        self.insert_element_for(tag)?;
        Ok(self.enter_raw_text(kind))
    }
}
