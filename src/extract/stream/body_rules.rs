//! The "in body" insertion mode's start and end tags, transcribed from html5ever 0.40's
//! `tree_builder/rules.rs` like the other modes in `super::rules`. Like them it moves no node:
//! where html5ever would, the arm returns an `Irregular` reason.

use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{local_name, ns};

use super::Irregular;
use super::builder::{Builder, Mode, Step, Tok};
use super::tags;
use super::tree::NONE;

impl Builder<'_> {
    pub(super) fn in_body_start(&mut self, tag: Tag) -> Result<Step, Irregular> {
        match tag.name {
            local_name!("html") => {
                self.add_attrs_if_missing(self.html_elem(), &tag.attrs)?;
            }
            _ if tags::head_content(&tag.name) => return self.in_head(Tok::Tag(tag)),
            local_name!("body") => {
                if let Some(body) = self.body_elem() {
                    self.add_attrs_if_missing(body, &tag.attrs)?;
                }
            }
            local_name!("frameset") => return Err(Irregular::Frameset),
            _ if tags::block_start(&tag.name) => {
                self.close_p_element_in_button_scope();
                self.insert_element_for(tag)?;
            }
            _ if tags::heading_name(&tag.name) => {
                self.close_p_element_in_button_scope();
                if self.current_in(tags::heading) {
                    self.pop();
                }
                self.insert_element_for(tag)?;
            }
            local_name!("pre") | local_name!("listing") => {
                self.close_p_element_in_button_scope();
                self.insert_element_for(tag)?;
                self.ignore_lf = true;
            }
            local_name!("form") => {
                if self.form == NONE {
                    self.close_p_element_in_button_scope();
                    self.form = self.insert_element_for(tag)?;
                }
            }
            local_name!("li") | local_name!("dd") | local_name!("dt") => self.list_item(tag)?,
            local_name!("plaintext") => {
                self.close_p_element_in_button_scope();
                self.insert_element_for(tag)?;
                return Ok(Step::Plaintext);
            }
            local_name!("button") => {
                if self.in_scope_named(tags::default_scope, &local_name!("button")) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    self.pop_until_named(&local_name!("button"));
                }
                self.reconstruct_active_formatting_elements()?;
                self.insert_element_for(tag)?;
            }
            local_name!("a") => {
                self.handle_misnested_a_tags()?;
                self.reconstruct_active_formatting_elements()?;
                self.create_formatting_element_for(tag)?;
            }
            _ if tags::formatting(&tag.name) => {
                self.reconstruct_active_formatting_elements()?;
                self.create_formatting_element_for(tag)?;
            }
            local_name!("nobr") => {
                self.reconstruct_active_formatting_elements()?;
                if self.in_scope_named(tags::default_scope, &local_name!("nobr")) {
                    self.adoption_agency(local_name!("nobr"))?;
                    self.reconstruct_active_formatting_elements()?;
                }
                self.create_formatting_element_for(tag)?;
            }
            local_name!("applet") | local_name!("marquee") | local_name!("object") => {
                self.reconstruct_active_formatting_elements()?;
                self.insert_element_for(tag)?;
                self.push_marker();
            }
            local_name!("table") => {
                if !self.quirks {
                    self.close_p_element_in_button_scope();
                }
                self.insert_element_for(tag)?;
                self.mode = Mode::InTable;
            }
            local_name!("area")
            | local_name!("br")
            | local_name!("embed")
            | local_name!("img")
            | local_name!("keygen")
            | local_name!("wbr") => {
                self.reconstruct_active_formatting_elements()?;
                self.insert_and_pop_element_for(tag)?;
            }
            local_name!("input") => {
                if self.in_scope_named(tags::default_scope, &local_name!("select")) {
                    self.pop_until_named(&local_name!("select"));
                }
                self.reconstruct_active_formatting_elements()?;
                self.insert_and_pop_element_for(tag)?;
            }
            local_name!("param") | local_name!("source") | local_name!("track") => {
                self.insert_and_pop_element_for(tag)?;
            }
            local_name!("hr") => {
                self.close_p_element_in_button_scope();
                if self.in_scope_named(tags::default_scope, &local_name!("select")) {
                    self.generate_implied_end(tags::cursory_implied_end);
                }
                self.insert_and_pop_element_for(tag)?;
            }
            local_name!("image") => {
                let img = Tag {
                    name: local_name!("img"),
                    ..tag
                };
                return self.in_body_start(img);
            }
            local_name!("textarea") => {
                self.ignore_lf = true;
                return self.parse_raw_data(tag, RawKind::Rcdata);
            }
            local_name!("xmp") => {
                self.close_p_element_in_button_scope();
                self.reconstruct_active_formatting_elements()?;
                return self.parse_raw_data(tag, RawKind::Rawtext);
            }
            local_name!("iframe") | local_name!("noembed") | local_name!("noscript") => {
                return self.parse_raw_data(tag, RawKind::Rawtext);
            }
            local_name!("select") => {
                if self.in_scope_named(tags::default_scope, &local_name!("select")) {
                    self.pop_until_named(&local_name!("select"));
                } else {
                    self.reconstruct_active_formatting_elements()?;
                    self.insert_element_for(tag)?;
                }
            }
            local_name!("option") | local_name!("optgroup") => {
                if self.in_scope_named(tags::default_scope, &local_name!("select")) {
                    if tag.name == local_name!("option") {
                        self.generate_implied_end_except(&local_name!("optgroup"));
                    } else {
                        self.generate_implied_end(tags::cursory_implied_end);
                    }
                } else if self.current_is(&local_name!("option")) {
                    self.pop();
                }
                self.reconstruct_active_formatting_elements()?;
                self.insert_element_for(tag)?;
            }
            local_name!("rb") | local_name!("rtc") => {
                if self.in_scope_named(tags::default_scope, &local_name!("ruby")) {
                    self.generate_implied_end(tags::cursory_implied_end);
                }
                self.insert_element_for(tag)?;
            }
            local_name!("rp") | local_name!("rt") => {
                if self.in_scope_named(tags::default_scope, &local_name!("ruby")) {
                    self.generate_implied_end_except(&local_name!("rtc"));
                }
                self.insert_element_for(tag)?;
            }
            local_name!("math") => {
                self.reconstruct_active_formatting_elements()?;
                return self.insert_foreign(tag, ns!(mathml));
            }
            local_name!("svg") => {
                self.reconstruct_active_formatting_elements()?;
                return self.insert_foreign(tag, ns!(svg));
            }
            local_name!("caption")
            | local_name!("col")
            | local_name!("colgroup")
            | local_name!("frame")
            | local_name!("head")
            | local_name!("tbody")
            | local_name!("td")
            | local_name!("tfoot")
            | local_name!("th")
            | local_name!("thead")
            | local_name!("tr") => {}
            _ => {
                self.reconstruct_active_formatting_elements()?;
                self.insert_element_for(tag)?;
            }
        }
        Ok(Step::Done)
    }

    /// `<li>`, `<dd>` or `<dt>`: closes an open one of its kind unless a block is in between.
    fn list_item(&mut self, tag: Tag) -> Result<(), Irregular> {
        let list = tag.name == local_name!("li");
        let mut to_close = None;
        let open = if list {
            self.open.may_have(&local_name!("li"))
        } else {
            self.open.may_have(&local_name!("dd")) || self.open.may_have(&local_name!("dt"))
        };
        for &id in self.open.iter().rev().take_while(|_| open) {
            let name = &self.tree.node(id).name;
            let closes = if list {
                tags::is_html(name, &local_name!("li"))
            } else {
                name.ns == ns!(html) && matches!(name.local, local_name!("dd") | local_name!("dt"))
            };
            if closes {
                to_close = Some(name.local.clone());
                break;
            }
            let extra_special = tags::special(name)
                && !matches!(
                    name.local,
                    local_name!("address") | local_name!("div") | local_name!("p")
                );
            if extra_special {
                break;
            }
        }
        if let Some(name) = to_close {
            self.generate_implied_end_except(&name);
            self.pop_until_named(&name);
        }
        self.close_p_element_in_button_scope();
        self.insert_element_for(tag)?;
        Ok(())
    }

    pub(super) fn in_body_end(&mut self, tag: Tag) -> Result<Step, Irregular> {
        match tag.name {
            local_name!("body") => {
                if self.in_scope_named(tags::default_scope, &local_name!("body")) {
                    self.mode = Mode::AfterBody;
                }
            }
            local_name!("html") => {
                if self.in_scope_named(tags::default_scope, &local_name!("body")) {
                    return Ok(Step::Reprocess(Mode::AfterBody, Tok::Tag(tag)));
                }
            }
            _ if tags::block_end(&tag.name) => {
                if self.in_scope_named(tags::default_scope, &tag.name) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    self.pop_until_named(&tag.name);
                }
            }
            local_name!("form") => {
                let node = std::mem::replace(&mut self.form, NONE);
                if node != NONE && self.in_scope(tags::default_scope, |id, _| id == node) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    // The form may leave the stack from below its children: the tree does not
                    // change, and the record keeps each element's real parent.
                    self.remove_from_stack(node);
                }
            }
            local_name!("p") => {
                if !self.in_scope_named(tags::button_scope, &local_name!("p")) {
                    self.insert_phantom(local_name!("p"))?;
                }
                self.close_p_element();
            }
            local_name!("li") | local_name!("dd") | local_name!("dt") => {
                let in_scope = if tag.name == local_name!("li") {
                    self.in_scope_named(tags::list_item_scope, &tag.name)
                } else {
                    self.in_scope_named(tags::default_scope, &tag.name)
                };
                if in_scope {
                    self.generate_implied_end_except(&tag.name);
                    self.pop_until_named(&tag.name);
                }
            }
            _ if tags::heading_name(&tag.name) => {
                if self.in_scope(tags::default_scope, |_, name| tags::heading(name)) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    self.pop_until(tags::heading);
                }
            }
            local_name!("a") | local_name!("nobr") => self.adoption_agency(tag.name)?,
            _ if tags::formatting(&tag.name) => self.adoption_agency(tag.name)?,
            local_name!("applet") | local_name!("marquee") | local_name!("object") => {
                if self.in_scope_named(tags::default_scope, &tag.name) {
                    self.generate_implied_end(tags::cursory_implied_end);
                    self.pop_until_named(&tag.name);
                    self.clear_active_formatting_to_marker();
                }
            }
            local_name!("br") => {
                let br = Tag {
                    kind: TagKind::StartTag,
                    attrs: Vec::new(),
                    ..tag
                };
                return self.in_body_start(br);
            }
            // No template is ever open on a page the stream follows.
            local_name!("template") => {}
            _ => self.process_end_tag_in_body(tag.name),
        }
        Ok(Step::Done)
    }
}
