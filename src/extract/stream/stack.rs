//! The tree builder's questions about the stack of open elements (scopes, implied end tags), as
//! html5ever 0.40 asks them, and the pops they lead to. The stack itself is in
//! `open_elements.rs`; nothing here inserts an element.

use html5ever::{LocalName, QualName, local_name};

use super::builder::Builder;
use super::tags::{self, is_html};

impl Builder<'_> {
    /// The current node.
    pub(super) fn current(&self) -> u32 {
        *self.open.last().expect("no current element")
    }

    /// The current node's name.
    pub(super) fn current_name(&self) -> &QualName {
        &self.tree.node(self.current()).name
    }

    /// Whether the current node is in `set`.
    pub(super) fn current_in(&self, set: impl Fn(&QualName) -> bool) -> bool {
        set(self.current_name())
    }

    /// Whether the current node is the HTML element `local`.
    pub(super) fn current_is(&self, local: &LocalName) -> bool {
        is_html(self.current_name(), local)
    }

    /// Whether an open element satisfies `pred` before one in `scope` does, from the top.
    pub(super) fn in_scope(
        &self,
        scope: impl Fn(&QualName) -> bool,
        pred: impl Fn(u32, &QualName) -> bool,
    ) -> bool {
        for &id in self.open.iter().rev() {
            let name = &self.tree.node(id).name;
            if pred(id, name) {
                return true;
            }
            if scope(name) {
                return false;
            }
        }
        false
    }

    /// Whether the HTML element `local` is in `scope`.
    pub(super) fn in_scope_named(
        &self,
        scope: impl Fn(&QualName) -> bool,
        local: &LocalName,
    ) -> bool {
        // Most such questions are about a `<p>` or a `<select>` when none is open.
        self.open.may_have(local) && self.in_scope(scope, |_, name| is_html(name, local))
    }

    /// Pops the current node.
    pub(super) fn pop(&mut self) -> u32 {
        self.open.pop(&self.tree).expect("no current element")
    }

    /// Pops until an element satisfying `pred` is popped; returns how many were popped.
    pub(super) fn pop_until(&mut self, pred: impl Fn(&QualName) -> bool) -> usize {
        let mut count = 0;
        while let Some(id) = self.open.pop(&self.tree) {
            count += 1;
            if pred(&self.tree.node(id).name) {
                break;
            }
        }
        count
    }

    /// Pops until the HTML element `local` is popped.
    pub(super) fn pop_until_named(&mut self, local: &LocalName) -> usize {
        self.pop_until(|name| is_html(name, local))
    }

    /// Pops until the current node is in `set`.
    pub(super) fn pop_until_current(&mut self, set: impl Fn(&QualName) -> bool) {
        while !self.current_in(&set) {
            self.open.pop(&self.tree);
        }
    }

    /// Pops while the current node is in `set`.
    pub(super) fn generate_implied_end(&mut self, set: impl Fn(&QualName) -> bool) {
        while self
            .open
            .last()
            .is_some_and(|&id| set(&self.tree.node(id).name))
        {
            self.open.pop(&self.tree);
        }
    }

    /// Pops the cursory implied-end elements other than `except`.
    pub(super) fn generate_implied_end_except(&mut self, except: &LocalName) {
        self.generate_implied_end(|name| !is_html(name, except) && tags::cursory_implied_end(name));
    }

    pub(super) fn close_p_element(&mut self) {
        self.generate_implied_end(|name| {
            !is_html(name, &local_name!("p")) && tags::cursory_implied_end(name)
        });
        self.pop_until_named(&local_name!("p"));
    }

    pub(super) fn close_p_element_in_button_scope(&mut self) {
        if self.in_scope_named(tags::button_scope, &local_name!("p")) {
            self.close_p_element();
        }
    }

    /// Removes `id` from the stack of open elements, wherever it is.
    pub(super) fn remove_from_stack(&mut self, id: u32) {
        if let Some(at) = self.open.iter().rposition(|&open| open == id) {
            self.open.remove(at, &self.tree);
        }
    }

    /// The html element (the root).
    pub(super) fn html_elem(&self) -> u32 {
        self.open[0]
    }

    /// The body element, if the second open element is one.
    pub(super) fn body_elem(&self) -> Option<u32> {
        let body = *self.open.get(1)?;
        is_html(&self.tree.node(body).name, &local_name!("body")).then_some(body)
    }
}
