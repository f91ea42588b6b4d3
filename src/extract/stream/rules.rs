//! The insertion modes outside tables, transcribed from html5ever 0.40's `tree_builder/rules.rs`
//! in its order; "in body" tags are in `super::body_rules`, the table modes in
//! `super::table_rules`.
//!
//! Each arm does what html5ever's arm does for the same mode and token. Where html5ever would
//! move a node, merge attributes into an element already matched, or enter a mode the stream
//! does not follow (`<template>`, `<frameset>`), the arm returns an [`Irregular`] reason.

use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{LocalName, local_name, ns};

use super::Irregular;
use super::builder::{Builder, Mode, Refeed, Split, Step, Tok};
use super::tags;
use super::tree::NONE;

impl Builder<'_> {
    /// Processes `tok` by the rules of `mode` (which need not be the current mode).
    pub(super) fn step(&mut self, mode: Mode, tok: Tok) -> Result<Step, Irregular> {
        match mode {
            Mode::Initial => self.initial(tok),
            Mode::BeforeHtml => self.before_html(tok),
            Mode::BeforeHead => self.before_head(tok),
            Mode::InHead => self.in_head(tok),
            Mode::AfterHead => self.after_head(tok),
            Mode::InBody => self.in_body(tok),
            Mode::Text => self.text(tok),
            Mode::InTable => self.in_table(tok),
            Mode::InTableText => self.in_table_text(tok),
            Mode::InCaption => self.in_caption(tok),
            Mode::InColumnGroup => self.in_column_group(tok),
            Mode::InTableBody => self.in_table_body(tok),
            Mode::InRow => self.in_row(tok),
            Mode::InCell => self.in_cell(tok),
            Mode::AfterBody => self.after_body(tok),
            Mode::AfterAfterBody => self.after_after_body(tok),
        }
    }

    /// What the modes around the head and the column group share: other text is split at its
    /// leading whitespace, which is inserted, and comments are inserted. `Err` hands back any
    /// other token.
    pub(super) fn keep_whitespace_and_comments(
        &mut self,
        tok: Tok,
    ) -> Result<Result<Step, Tok>, Irregular> {
        match tok {
            Tok::Chars(Split::Unsplit, text) => Ok(Ok(Step::SplitWhitespace(text))),
            Tok::Chars(Split::Whitespace, text) => {
                self.append_text(&text)?;
                Ok(Ok(Step::Done))
            }
            Tok::Comment => {
                self.append_comment()?;
                Ok(Ok(Step::Done))
            }
            tok => Ok(Err(tok)),
        }
    }

    fn initial(&mut self, tok: Tok) -> Result<Step, Irregular> {
        Ok(match tok {
            Tok::Chars(Split::Unsplit, text) => Step::SplitWhitespace(text),
            Tok::Chars(Split::Whitespace, _) | Tok::Comment => Step::Done,
            tok => {
                self.quirks = true;
                Step::Reprocess(Mode::BeforeHtml, tok)
            }
        })
    }

    fn before_html(&mut self, tok: Tok) -> Result<Step, Irregular> {
        Ok(match tok {
            Tok::Comment | Tok::Chars(Split::Whitespace, _) => Step::Done,
            Tok::Chars(Split::Unsplit, text) => Step::SplitWhitespace(text),
            Tok::Tag(tag) if start_named(&tag, &local_name!("html")) => {
                self.create_root(tag.attrs)?;
                self.mode = Mode::BeforeHead;
                Step::Done
            }
            Tok::Tag(tag) if tag.kind == TagKind::EndTag && !ends_head_early(&tag) => Step::Done,
            tok => {
                self.create_root(Vec::new())?;
                Step::Reprocess(Mode::BeforeHead, tok)
            }
        })
    }

    fn before_head(&mut self, tok: Tok) -> Result<Step, Irregular> {
        Ok(match tok {
            Tok::Chars(Split::Unsplit, text) => Step::SplitWhitespace(text),
            Tok::Chars(Split::Whitespace, _) => Step::Done,
            Tok::Comment => {
                self.append_comment()?;
                Step::Done
            }
            Tok::Tag(tag) if start_named(&tag, &local_name!("html")) => {
                return self.in_body(Tok::Tag(tag));
            }
            Tok::Tag(tag) if start_named(&tag, &local_name!("head")) => {
                self.head = self.insert_element_for(tag)?;
                self.mode = Mode::InHead;
                Step::Done
            }
            Tok::Tag(tag) if tag.kind == TagKind::EndTag && !ends_head_early(&tag) => Step::Done,
            tok => {
                self.head = self.insert_phantom(local_name!("head"))?;
                Step::Reprocess(Mode::InHead, tok)
            }
        })
    }

    pub(super) fn in_head(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let tag = match self.keep_whitespace_and_comments(tok)? {
            Ok(step) => return Ok(step),
            Err(Tok::Tag(tag)) => tag,
            Err(tok) => return self.in_head_anything_else(tok),
        };
        if tag.kind == TagKind::StartTag {
            match tag.name {
                local_name!("html") => self.in_body(Tok::Tag(tag)),
                local_name!("base")
                | local_name!("basefont")
                | local_name!("bgsound")
                | local_name!("link")
                | local_name!("meta") => {
                    let refeed = encoding_hint(&tag);
                    self.insert_and_pop_element_for(tag)?;
                    self.refeed = refeed;
                    Ok(Step::Done)
                }
                local_name!("title") => self.parse_raw_data(tag, RawKind::Rcdata),
                // Scripting is enabled in both engines, so `<noscript>` holds raw text.
                local_name!("noframes") | local_name!("style") | local_name!("noscript") => {
                    self.parse_raw_data(tag, RawKind::Rawtext)
                }
                local_name!("script") => self.parse_raw_data(tag, RawKind::ScriptData),
                local_name!("template") => Err(Irregular::Template),
                local_name!("head") => Ok(Step::Done),
                _ => self.in_head_anything_else(Tok::Tag(tag)),
            }
        } else {
            match tag.name {
                local_name!("head") => {
                    self.pop();
                    self.mode = Mode::AfterHead;
                    Ok(Step::Done)
                }
                local_name!("body") | local_name!("html") | local_name!("br") => {
                    self.in_head_anything_else(Tok::Tag(tag))
                }
                // `</template>` without an open template, and any other end tag: ignored.
                _ => Ok(Step::Done),
            }
        }
    }

    fn in_head_anything_else(&mut self, tok: Tok) -> Result<Step, Irregular> {
        self.pop();
        Ok(Step::Reprocess(Mode::AfterHead, tok))
    }

    fn after_head(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let tag = match self.keep_whitespace_and_comments(tok)? {
            Ok(step) => return Ok(step),
            Err(Tok::Tag(tag)) => tag,
            Err(tok) => return self.after_head_anything_else(tok),
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("html") if start => self.in_body(Tok::Tag(tag)),
            local_name!("body") if start => {
                self.insert_element_for(tag)?;
                self.mode = Mode::InBody;
                Ok(Step::Done)
            }
            local_name!("frameset") if start => Err(Irregular::Frameset),
            _ if start && tags::head_content(&tag.name) => {
                // The element goes into the head, which is already closed: fine for the
                // record of elements, but a text field capturing the head would see this text
                // out of document order.
                let head = self.head;
                if self.tree.node(head).capture != NONE {
                    return Err(Irregular::HeadContentAfterHead);
                }
                self.open.push(head, &self.tree);
                let step = self.in_head(Tok::Tag(tag))?;
                self.remove_from_stack(head);
                Ok(step)
            }
            local_name!("template") => Ok(Step::Done),
            local_name!("body") | local_name!("html") | local_name!("br") if !start => {
                self.after_head_anything_else(Tok::Tag(tag))
            }
            local_name!("head") if start => Ok(Step::Done),
            _ if !start => Ok(Step::Done),
            _ => self.after_head_anything_else(Tok::Tag(tag)),
        }
    }

    fn after_head_anything_else(&mut self, tok: Tok) -> Result<Step, Irregular> {
        self.insert_phantom(local_name!("body"))?;
        Ok(Step::Reprocess(Mode::InBody, tok))
    }

    pub(super) fn in_body(&mut self, tok: Tok) -> Result<Step, Irregular> {
        match tok {
            Tok::Null | Tok::Eof => Ok(Step::Done),
            Tok::Chars(_, text) => {
                self.reconstruct_active_formatting_elements()?;
                self.append_text(&text)?;
                Ok(Step::Done)
            }
            Tok::Comment => {
                self.append_comment()?;
                Ok(Step::Done)
            }
            Tok::Tag(tag) if tag.kind == TagKind::StartTag => self.in_body_start(tag),
            Tok::Tag(tag) => self.in_body_end(tag),
        }
    }

    fn text(&mut self, tok: Tok) -> Result<Step, Irregular> {
        match tok {
            Tok::Chars(_, text) => {
                self.append_text(&text)?;
                Ok(Step::Done)
            }
            Tok::Eof => {
                self.pop();
                let mode = self
                    .orig_mode
                    .take()
                    .expect("text mode has an original mode");
                Ok(Step::Reprocess(mode, Tok::Eof))
            }
            Tok::Tag(tag) if tag.kind == TagKind::EndTag => {
                self.pop();
                self.mode = self
                    .orig_mode
                    .take()
                    .expect("text mode has an original mode");
                if tag.name == local_name!("script") {
                    self.refeed = Refeed::Yes;
                }
                Ok(Step::Done)
            }
            _ => Err(Irregular::RawTextToken),
        }
    }

    fn after_body(&mut self, tok: Tok) -> Result<Step, Irregular> {
        Ok(match tok {
            Tok::Chars(Split::Unsplit, text) => Step::SplitWhitespace(text),
            tok @ Tok::Chars(Split::Whitespace, _) => return self.in_body(tok),
            Tok::Comment => {
                self.tree.comment(self.html_elem());
                Step::Done
            }
            Tok::Tag(tag) if start_named(&tag, &local_name!("html")) => {
                return self.in_body(Tok::Tag(tag));
            }
            Tok::Tag(tag) if tag.kind == TagKind::EndTag && tag.name == local_name!("html") => {
                self.mode = Mode::AfterAfterBody;
                Step::Done
            }
            Tok::Eof => Step::Done,
            tok => Step::Reprocess(Mode::InBody, tok),
        })
    }

    fn after_after_body(&mut self, tok: Tok) -> Result<Step, Irregular> {
        Ok(match tok {
            Tok::Chars(Split::Unsplit, text) => Step::SplitWhitespace(text),
            tok @ Tok::Chars(Split::Whitespace, _) => return self.in_body(tok),
            Tok::Comment | Tok::Eof => Step::Done,
            Tok::Tag(tag) if start_named(&tag, &local_name!("html")) => {
                return self.in_body(Tok::Tag(tag));
            }
            tok => Step::Reprocess(Mode::InBody, tok),
        })
    }
}

/// Whether html5ever's tree builder answers an element of the head (`<meta>`, `<link>` …) with
/// an encoding: a `charset` attribute, or an `http-equiv` content type whose `content` names one.
fn encoding_hint(tag: &Tag) -> Refeed {
    let has = |name: LocalName| {
        tag.attrs
            .iter()
            .find(|attr| attr.name.ns == ns!() && attr.name.local == name)
    };
    if has(local_name!("charset")).is_some() {
        Refeed::Yes
    } else if has(local_name!("http-equiv"))
        .is_some_and(|attr| attr.value.eq_ignore_ascii_case("content-type"))
        && has(local_name!("content")).is_some()
    {
        Refeed::IfContentNamesEncoding
    } else {
        Refeed::No
    }
}

/// Whether `tag` is the start tag `name`.
pub(super) fn start_named(tag: &Tag, name: &html5ever::LocalName) -> bool {
    tag.kind == TagKind::StartTag && tag.name == *name
}

/// `</head>`, `</body>`, `</html>` and `</br>`: the end tags that the "before" modes do not
/// ignore.
fn ends_head_early(tag: &Tag) -> bool {
    matches!(
        tag.name,
        local_name!("head") | local_name!("body") | local_name!("html") | local_name!("br")
    )
}
