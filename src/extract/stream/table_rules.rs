//! The table insertion modes, transcribed from html5ever 0.40's `tree_builder/rules.rs` like
//! `super::rules`. Whatever html5ever would foster-parent (move in front of the table) is
//! refused by the insertion itself (`Builder::insertion_parent`), so these rules can follow
//! html5ever's word for word.

use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{local_name, ns};

use super::Irregular;
use super::builder::{Builder, Mode, Split, Step, Tok};
use super::tags;

impl Builder<'_> {
    pub(super) fn in_table(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let tag = match tok {
            tok @ (Tok::Null | Tok::Chars(..)) => return self.process_chars_in_table(tok),
            Tok::Comment => {
                self.append_comment()?;
                return Ok(Step::Done);
            }
            Tok::Eof => return self.in_body(Tok::Eof),
            Tok::Tag(tag) => tag,
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("caption") if start => {
                self.pop_until_current(tags::table_scope);
                self.push_marker();
                self.insert_element_for(tag)?;
                self.mode = Mode::InCaption;
            }
            local_name!("colgroup") if start => {
                self.pop_until_current(tags::table_scope);
                self.insert_element_for(tag)?;
                self.mode = Mode::InColumnGroup;
            }
            local_name!("col") if start => {
                self.pop_until_current(tags::table_scope);
                self.insert_phantom(local_name!("colgroup"))?;
                return Ok(Step::Reprocess(Mode::InColumnGroup, Tok::Tag(tag)));
            }
            local_name!("tbody") | local_name!("tfoot") | local_name!("thead") if start => {
                self.pop_until_current(tags::table_scope);
                self.insert_element_for(tag)?;
                self.mode = Mode::InTableBody;
            }
            local_name!("td") | local_name!("th") | local_name!("tr") if start => {
                self.pop_until_current(tags::table_scope);
                self.insert_phantom(local_name!("tbody"))?;
                return Ok(Step::Reprocess(Mode::InTableBody, Tok::Tag(tag)));
            }
            local_name!("table") => {
                if self.in_scope_named(tags::table_scope, &local_name!("table")) {
                    self.pop_until_named(&local_name!("table"));
                    if start {
                        let mode = self.reset_insertion_mode();
                        return Ok(Step::Reprocess(mode, Tok::Tag(tag)));
                    }
                    self.mode = self.reset_insertion_mode();
                }
            }
            _ if !start && tags::ignored_in_table(&tag.name) => {}
            local_name!("style") | local_name!("script") | local_name!("template") if start => {
                return self.in_head(Tok::Tag(tag));
            }
            local_name!("template") => return self.in_head(Tok::Tag(tag)),
            local_name!("input") if start => {
                let hidden = tag.attrs.iter().any(|attr| {
                    attr.name.ns == ns!()
                        && attr.name.local == local_name!("type")
                        && attr.value.eq_ignore_ascii_case("hidden")
                });
                if !hidden {
                    return self.foster_parent_in_body(Tok::Tag(tag));
                }
                self.insert_and_pop_element_for(tag)?;
            }
            local_name!("form") if start => {
                if self.form == super::tree::NONE {
                    self.form = self.insert_and_pop_element_for(tag)?;
                }
            }
            _ => return self.foster_parent_in_body(Tok::Tag(tag)),
        }
        Ok(Step::Done)
    }

    /// The in-body rules, with insertions into a table part refused (they would be moved in
    /// front of the table).
    fn foster_parent_in_body(&mut self, tok: Tok) -> Result<Step, Irregular> {
        self.foster = true;
        let step = self.in_body(tok)?;
        self.foster = false;
        Ok(step)
    }

    fn process_chars_in_table(&mut self, tok: Tok) -> Result<Step, Irregular> {
        if self.current_in(tags::table_outer) {
            self.orig_mode = Some(self.mode);
            Ok(Step::Reprocess(Mode::InTableText, tok))
        } else {
            self.foster_parent_in_body(tok)
        }
    }

    pub(super) fn in_table_text(&mut self, tok: Tok) -> Result<Step, Irregular> {
        match tok {
            Tok::Null => Ok(Step::Done),
            Tok::Chars(split, text) => {
                self.pending_table_text.push((split, text));
                Ok(Step::Done)
            }
            tok => {
                // Taken and given back, so that its room serves the next run of table text.
                let mut pending = std::mem::take(&mut self.pending_table_text);
                let nonspace = pending.iter().any(|(split, text)| match split {
                    Split::Whitespace => false,
                    Split::NotWhitespace => true,
                    Split::Unsplit => text.chars().any(|c| !c.is_ascii_whitespace()),
                });
                if nonspace {
                    return Err(Irregular::TableText);
                }
                for (_, text) in pending.drain(..) {
                    self.append_text(&text)?;
                }
                self.pending_table_text = pending;
                let mode = self
                    .orig_mode
                    .take()
                    .expect("table text has an original mode");
                Ok(Step::Reprocess(mode, tok))
            }
        }
    }

    pub(super) fn in_caption(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let Tok::Tag(tag) = tok else {
            return self.in_body(tok);
        };
        let start = tag.kind == TagKind::StartTag;
        let closes = match tag.name {
            local_name!("caption") => true,
            local_name!("table") => !start,
            local_name!("td") | local_name!("th") | local_name!("tr") => start,
            _ => start && tags::table_section(&tag.name),
        };
        if closes {
            if !self.in_scope_named(tags::table_scope, &local_name!("caption")) {
                return Ok(Step::Done);
            }
            self.generate_implied_end(tags::cursory_implied_end);
            self.pop_until_named(&local_name!("caption"));
            self.clear_active_formatting_to_marker();
            if !start && tag.name == local_name!("caption") {
                self.mode = Mode::InTable;
                return Ok(Step::Done);
            }
            return Ok(Step::Reprocess(Mode::InTable, Tok::Tag(tag)));
        }
        if !start && tags::ignored_in_caption(&tag.name) {
            return Ok(Step::Done);
        }
        self.in_body(Tok::Tag(tag))
    }

    pub(super) fn in_column_group(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let tag = match self.keep_whitespace_and_comments(tok)? {
            Ok(step) => return Ok(step),
            Err(Tok::Eof) => return self.in_body(Tok::Eof),
            Err(Tok::Tag(tag)) => tag,
            Err(tok) => return self.column_group_anything_else(tok),
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("html") if start => self.in_body(Tok::Tag(tag)),
            local_name!("col") if start => {
                self.insert_and_pop_element_for(tag)?;
                Ok(Step::Done)
            }
            local_name!("colgroup") if !start => {
                if self.current_is(&local_name!("colgroup")) {
                    self.pop();
                    self.mode = Mode::InTable;
                }
                Ok(Step::Done)
            }
            local_name!("col") => Ok(Step::Done),
            local_name!("template") => self.in_head(Tok::Tag(tag)),
            _ => self.column_group_anything_else(Tok::Tag(tag)),
        }
    }

    fn column_group_anything_else(&mut self, tok: Tok) -> Result<Step, Irregular> {
        if self.current_is(&local_name!("colgroup")) {
            self.pop();
            Ok(Step::Reprocess(Mode::InTable, tok))
        } else {
            Ok(Step::Done)
        }
    }

    pub(super) fn in_table_body(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let Tok::Tag(tag) = tok else {
            return self.in_table(tok);
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("tr") if start => {
                self.pop_until_current(tags::table_body_context);
                self.insert_element_for(tag)?;
                self.mode = Mode::InRow;
            }
            local_name!("th") | local_name!("td") if start => {
                self.pop_until_current(tags::table_body_context);
                self.insert_phantom(local_name!("tr"))?;
                return Ok(Step::Reprocess(Mode::InRow, Tok::Tag(tag)));
            }
            local_name!("tbody") | local_name!("tfoot") | local_name!("thead") if !start => {
                if self.in_scope_named(tags::table_scope, &tag.name) {
                    self.pop_until_current(tags::table_body_context);
                    self.pop();
                    self.mode = Mode::InTable;
                }
            }
            _ if start && tags::table_section(&tag.name) => return self.leave_table_body(tag),
            local_name!("table") if !start => return self.leave_table_body(tag),
            _ if !start && tags::ignored_in_table_body(&tag.name) => {}
            _ => return self.in_table(Tok::Tag(tag)),
        }
        Ok(Step::Done)
    }

    /// Closes the row group and reprocesses `tag` in the table (html5ever's scope test names
    /// `table`, `tbody` and `tfoot`, not `thead`).
    fn leave_table_body(&mut self, tag: Tag) -> Result<Step, Irregular> {
        let outer = |name: &html5ever::QualName| {
            name.ns == ns!(html)
                && matches!(
                    name.local,
                    local_name!("table") | local_name!("tbody") | local_name!("tfoot")
                )
        };
        if !self.in_scope(tags::table_scope, |_, name| outer(name)) {
            return Ok(Step::Done);
        }
        self.pop_until_current(tags::table_body_context);
        self.pop();
        Ok(Step::Reprocess(Mode::InTable, Tok::Tag(tag)))
    }

    pub(super) fn in_row(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let Tok::Tag(tag) = tok else {
            return self.in_table(tok);
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("th") | local_name!("td") if start => {
                self.pop_until_current(tags::table_row_context);
                self.insert_element_for(tag)?;
                self.mode = Mode::InCell;
                self.push_marker();
            }
            local_name!("tr") if !start => {
                if self.close_row() {
                    self.mode = Mode::InTableBody;
                }
            }
            _ if start && (tag.name == local_name!("tr") || tags::table_section(&tag.name)) => {
                if self.close_row() {
                    return Ok(Step::Reprocess(Mode::InTableBody, Tok::Tag(tag)));
                }
            }
            local_name!("table") if !start => {
                if self.close_row() {
                    return Ok(Step::Reprocess(Mode::InTableBody, Tok::Tag(tag)));
                }
            }
            local_name!("tbody") | local_name!("tfoot") | local_name!("thead") if !start => {
                if self.in_scope_named(tags::table_scope, &tag.name) && self.close_row() {
                    return Ok(Step::Reprocess(Mode::InTableBody, Tok::Tag(tag)));
                }
            }
            _ if !start && tags::ignored_in_row(&tag.name) => {}
            _ => return self.in_table(Tok::Tag(tag)),
        }
        Ok(Step::Done)
    }

    /// Closes the open row, if a `<tr>` is in table scope; says whether it did.
    fn close_row(&mut self) -> bool {
        if !self.in_scope_named(tags::table_scope, &local_name!("tr")) {
            return false;
        }
        self.pop_until_current(tags::table_row_context);
        self.pop();
        true
    }

    pub(super) fn in_cell(&mut self, tok: Tok) -> Result<Step, Irregular> {
        let Tok::Tag(tag) = tok else {
            return self.in_body(tok);
        };
        let start = tag.kind == TagKind::StartTag;
        match tag.name {
            local_name!("td") | local_name!("th") if !start => {
                if self.in_scope_named(tags::table_scope, &tag.name) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    self.pop_until_named(&tag.name);
                    self.clear_active_formatting_to_marker();
                    self.mode = Mode::InRow;
                }
                Ok(Step::Done)
            }
            _ if start
                && (matches!(
                    tag.name,
                    local_name!("td") | local_name!("th") | local_name!("tr")
                ) || tags::table_section(&tag.name)) =>
            {
                if self.in_scope(tags::table_scope, |_, name| tags::td_th(name)) {
                    self.close_the_cell();
                    return Ok(Step::Reprocess(Mode::InRow, Tok::Tag(tag)));
                }
                Ok(Step::Done)
            }
            _ if !start && tags::ignored_in_cell(&tag.name) => Ok(Step::Done),
            local_name!("table")
            | local_name!("tbody")
            | local_name!("tfoot")
            | local_name!("thead")
            | local_name!("tr")
                if !start =>
            {
                if self.in_scope_named(tags::table_scope, &tag.name) {
                    self.close_the_cell();
                    return Ok(Step::Reprocess(Mode::InRow, Tok::Tag(tag)));
                }
                Ok(Step::Done)
            }
            _ => self.in_body(Tok::Tag(tag)),
        }
    }
}
