//! The stack of open elements, and the tree builder's questions about it (scopes, implied end
//! tags), as html5ever 0.40 asks them.

use html5ever::{LocalName, QualName, local_name, ns};

use super::builder::Builder;
use super::tags::{self, is_html};
use super::tree::Tree;

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

/// Element names whose open elements [`Stack`] counts, so that the frequent "is a `<p>` in
/// button scope?" needs no walk down the stack when none is open.
fn counted(local: &LocalName) -> Option<usize> {
    Some(match *local {
        local_name!("p") => 0,
        local_name!("button") => 1,
        local_name!("select") => 2,
        local_name!("ruby") => 3,
        local_name!("nobr") => 4,
        local_name!("li") => 5,
        local_name!("dd") => 6,
        local_name!("dt") => 7,
        _ => return None,
    })
}

/// The stack of open elements, with a count of the open HTML elements of a few names.
#[derive(Debug, Default)]
pub(super) struct Stack {
    /// Element ids, outermost first.
    ids: Vec<u32>,
    /// Open HTML elements of each [`counted`] name.
    counts: [u32; 8],
}

impl std::ops::Deref for Stack {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        &self.ids
    }
}

impl Stack {
    fn count(&mut self, id: u32, tree: &Tree, delta: i32) {
        let name = &tree.node(id).name;
        if name.ns == ns!(html)
            && let Some(at) = counted(&name.local)
        {
            self.counts[at] = self.counts[at].wrapping_add_signed(delta);
        }
    }

    /// Whether an HTML element `local` may be open (`false` only when it surely is not).
    pub(super) fn may_have(&self, local: &LocalName) -> bool {
        counted(local).is_none_or(|at| self.counts[at] > 0)
    }

    pub(super) fn push(&mut self, id: u32, tree: &Tree) {
        self.count(id, tree, 1);
        self.ids.push(id);
    }

    pub(super) fn pop(&mut self, tree: &Tree) -> Option<u32> {
        let id = self.ids.pop()?;
        self.count(id, tree, -1);
        Some(id)
    }

    pub(super) fn truncate(&mut self, len: usize, tree: &Tree) {
        while self.ids.len() > len {
            self.pop(tree);
        }
    }

    pub(super) fn remove(&mut self, at: usize, tree: &Tree) {
        let id = self.ids.remove(at);
        self.count(id, tree, -1);
    }
}
