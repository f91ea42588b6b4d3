//! Foreign content (`<svg>`, `<math>`): html5ever 0.40's `is_foreign`, `step_foreign` and the
//! name adjustments, transcribed for the stream engine's tree builder (see `super::builder`).
//! Insertions go through the builder's, which refuses any that would move a node.

use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{LocalName, Namespace, local_name, ns};

use super::Irregular;
use super::builder::{Builder, Step, Tok};
use super::tags;

impl Builder<'_> {
    /// Whether the token goes to the rules for foreign content.
    pub(super) fn is_foreign(&self, tok: &Tok) -> bool {
        if matches!(tok, Tok::Eof) || self.open.is_empty() {
            return false;
        }
        let name = self.current_name();
        if name.ns == ns!(html) {
            return false;
        }
        let start = match tok {
            Tok::Tag(tag) if tag.kind == TagKind::StartTag => Some(&tag.name),
            _ => None,
        };
        let text = matches!(tok, Tok::Chars(..) | Tok::Null);
        if tags::mathml_text_integration_point(name)
            && (text
                || start.is_some_and(|n| {
                    !matches!(*n, local_name!("mglyph") | local_name!("malignmark"))
                }))
        {
            return false;
        }
        if tags::svg_html_integration_point(name) && (text || start.is_some()) {
            return false;
        }
        if name.ns == ns!(mathml) && name.local == local_name!("annotation-xml") {
            if start == Some(&local_name!("svg")) {
                return false;
            }
            // scraper's tree sink never calls an annotation-xml an integration point.
            return true;
        }
        true
    }

    /// The rules for parsing tokens in foreign content.
    pub(super) fn step_foreign(&mut self, tok: Tok) -> Result<Step, Irregular> {
        match tok {
            Tok::Null => self.append_text("\u{fffd}")?,
            Tok::Chars(_, text) => self.append_text(&text)?,
            Tok::Comment => self.append_comment()?,
            Tok::Tag(tag) => {
                let start = tag.kind == TagKind::StartTag;
                let breaks_out = match tag.name {
                    local_name!("br") | local_name!("p") => true,
                    local_name!("font") if start => tag.attrs.iter().any(|a| {
                        a.name.ns == ns!()
                            && matches!(
                                a.name.local,
                                local_name!("color") | local_name!("face") | local_name!("size")
                            )
                    }),
                    _ => start && breaks_out_of_foreign_content(&tag.name),
                };
                if breaks_out {
                    while !self.current_in(|n| {
                        n.ns == ns!(html)
                            || tags::mathml_text_integration_point(n)
                            || tags::svg_html_integration_point(n)
                    }) {
                        self.pop();
                    }
                    return self.step(self.mode, Tok::Tag(tag));
                }
                if start {
                    return self.foreign_start_tag(tag);
                }
                let mut at = self.open.len() - 1;
                let mut first = true;
                loop {
                    if at == 0 {
                        break;
                    }
                    let name = &self.tree.node(self.open[at]).name;
                    let html = name.ns == ns!(html);
                    if !first && html {
                        return self.step(self.mode, Tok::Tag(tag));
                    }
                    if name.local.eq_ignore_ascii_case(&tag.name) {
                        self.open.truncate(at, &self.tree);
                        break;
                    }
                    first = false;
                    at -= 1;
                }
            }
            Tok::Eof => unreachable!("end of file is never foreign content"),
        }
        Ok(Step::Done)
    }

    fn foreign_start_tag(&mut self, mut tag: Tag) -> Result<Step, Irregular> {
        let ns = self.current_name().ns.clone();
        if ns == ns!(svg)
            && let Some(name) = tags::adjust_svg_tag_name(&tag.name)
        {
            tag.name = name;
        }
        self.insert_foreign(tag, ns)
    }

    /// `<svg>` or `<math>` in HTML content, or any tag inside them: adjusted attribute names,
    /// and no push for a self-closing tag.
    pub(super) fn insert_foreign(
        &mut self,
        mut tag: Tag,
        ns: Namespace,
    ) -> Result<Step, Irregular> {
        for attr in &mut tag.attrs {
            let adjusted = match ns {
                ns!(svg) => tags::adjust_svg_attribute(&attr.name.local),
                ns!(mathml) => tags::adjust_mathml_attribute(&attr.name.local),
                _ => None,
            };
            if let Some(name) = adjusted {
                attr.name = name;
            }
            if let Some(name) = tags::adjust_foreign_attribute(&attr.name.local) {
                attr.name = name;
            }
        }
        self.insert_element(!tag.self_closing, ns, tag.name, tag.attrs)?;
        Ok(Step::Done)
    }
}

/// HTML start tags that end foreign content (`<font>` only with certain attributes).
fn breaks_out_of_foreign_content(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("b")
            | local_name!("big")
            | local_name!("blockquote")
            | local_name!("body")
            | local_name!("br")
            | local_name!("center")
            | local_name!("code")
            | local_name!("dd")
            | local_name!("div")
            | local_name!("dl")
            | local_name!("dt")
            | local_name!("em")
            | local_name!("embed")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("head")
            | local_name!("hr")
            | local_name!("i")
            | local_name!("img")
            | local_name!("li")
            | local_name!("listing")
            | local_name!("menu")
            | local_name!("meta")
            | local_name!("nobr")
            | local_name!("ol")
            | local_name!("p")
            | local_name!("pre")
            | local_name!("ruby")
            | local_name!("s")
            | local_name!("small")
            | local_name!("span")
            | local_name!("strong")
            | local_name!("strike")
            | local_name!("sub")
            | local_name!("sup")
            | local_name!("table")
            | local_name!("tt")
            | local_name!("u")
            | local_name!("ul")
            | local_name!("var")
    )
}
