//! The list of active formatting elements (`<a>`, `<b>`, `<font>` …): reopening, the "Noah's
//! Ark" clause, and the adoption agency algorithm as far as it moves no node; transcribed from
//! html5ever 0.40 for the stream engine's tree builder (see `super::builder`).

use html5ever::tokenizer::Tag;
use html5ever::{LocalName, QualName, local_name, ns};

use super::Irregular;
use super::builder::Builder;
use super::tags::{self, is_html};
use super::tree::NONE;

/// Marks the boundaries in the list of active formatting elements.
pub(super) const MARKER: u32 = NONE;

impl Builder<'_> {
    /// Whether `entry` (a formatting list entry) is a marker or an open element.
    fn is_marker_or_open(&self, entry: u32) -> bool {
        entry == MARKER || self.open.contains(&entry)
    }

    /// Whether reconstructing the active formatting elements would reopen none.
    pub(super) fn formatting_settled(&self) -> bool {
        self.formatting
            .last()
            .is_none_or(|&last| self.is_marker_or_open(last))
    }

    /// Reopens formatting elements that were closed while still active: each reopened copy is
    /// an ordinary insertion at the current node.
    pub(super) fn reconstruct_active_formatting_elements(&mut self) -> Result<(), Irregular> {
        let Some(&last) = self.formatting.last() else {
            return Ok(());
        };
        if self.is_marker_or_open(last) {
            return Ok(());
        }
        let mut at = self.formatting.len() - 1;
        while at > 0 {
            at -= 1;
            if self.is_marker_or_open(self.formatting[at]) {
                at += 1;
                break;
            }
        }
        loop {
            let old = self.formatting[at];
            let local = self.tree.node(old).name.local.clone();
            let mut attrs = self.tree.spare_attrs();
            attrs.extend_from_slice(self.tree.attrs(old));
            let copy = self.insert_element(true, ns!(html), local, attrs)?;
            self.formatting[at] = copy;
            if at == self.formatting.len() - 1 {
                return Ok(());
            }
            at += 1;
        }
    }

    /// Inserts a formatting element and records it, keeping at most three equal ones after the
    /// last marker (the "Noah's Ark" clause).
    pub(super) fn create_formatting_element_for(&mut self, tag: Tag) -> Result<(), Irregular> {
        let mut first = None;
        let mut matches = 0;
        for (at, &entry) in self.formatting.iter().enumerate().rev() {
            if entry == MARKER {
                break;
            }
            let old = self.tree.attrs(entry);
            // html5ever compares the attribute lists sorted; names are unique in each (the
            // tokenizer drops repeated ones), so the same set is the same sorted list.
            if self.tree.node(entry).name.local == tag.name
                && old.len() == tag.attrs.len()
                && tag.attrs.iter().all(|attr| old.contains(attr))
            {
                first = Some(at);
                matches += 1;
            }
        }
        if matches >= 3 {
            self.formatting.remove(first.expect("a match has an index"));
        }
        let id = self.insert_element_for(tag)?;
        self.formatting.push(id);
        Ok(())
    }

    pub(super) fn clear_active_formatting_to_marker(&mut self) {
        while let Some(entry) = self.formatting.pop() {
            if entry == MARKER {
                break;
            }
        }
    }

    pub(super) fn push_marker(&mut self) {
        self.formatting.push(MARKER);
    }

    /// The last formatting element after the last marker satisfying `pred`, with its index.
    fn formatting_after_marker(&self, pred: impl Fn(&QualName) -> bool) -> Option<(usize, u32)> {
        self.formatting
            .iter()
            .enumerate()
            .rev()
            .take_while(|(_, entry)| **entry != MARKER)
            .find(|(_, entry)| pred(&self.tree.node(**entry).name))
            .map(|(at, entry)| (at, *entry))
    }

    /// The adoption agency algorithm, as far as it moves no node: the cases where the
    /// formatting element is simply popped, ignored or forgotten. A "furthest block" (a block
    /// opened inside the formatting element) would be moved: the page goes to the tree.
    pub(super) fn adoption_agency(&mut self, subject: LocalName) -> Result<(), Irregular> {
        if self.current_is(&subject) && !self.formatting.contains(&self.current()) {
            self.pop();
            return Ok(());
        }
        let Some((fmt_index, fmt)) = self.formatting_after_marker(|name| name.local == subject)
        else {
            self.process_end_tag_in_body(subject);
            return Ok(());
        };
        let Some(fmt_stack) = self.open.iter().rposition(|&id| id == fmt) else {
            self.formatting.remove(fmt_index);
            return Ok(());
        };
        if !self.in_scope(tags::default_scope, |id, _| id == fmt) {
            return Ok(());
        }
        if self.open[fmt_stack..]
            .iter()
            .any(|&id| tags::special(&self.tree.node(id).name))
        {
            return Err(Irregular::AdoptionAgency);
        }
        self.open.truncate(fmt_stack, &self.tree);
        self.formatting.remove(fmt_index);
        Ok(())
    }

    /// `<a>` while an `<a>` is still active: the adoption agency closes it.
    pub(super) fn handle_misnested_a_tags(&mut self) -> Result<(), Irregular> {
        let Some((_, node)) = self.formatting_after_marker(|name| is_html(name, &local_name!("a")))
        else {
            return Ok(());
        };
        self.adoption_agency(local_name!("a"))?;
        if let Some(at) = self.formatting.iter().position(|&entry| entry == node) {
            self.formatting.remove(at);
        }
        self.remove_from_stack(node);
        Ok(())
    }

    /// "Any other end tag" in body.
    pub(super) fn process_end_tag_in_body(&mut self, name: LocalName) {
        let mut matched = None;
        for (at, &id) in self.open.iter().enumerate().rev() {
            let node = &self.tree.node(id).name;
            if is_html(node, &name) {
                matched = Some(at);
                break;
            }
            if tags::special(node) {
                return;
            }
        }
        let Some(at) = matched else {
            return;
        };
        self.generate_implied_end_except(&name);
        self.open.truncate(at, &self.tree);
    }
}
