//! The stack of open elements itself: element ids, outermost first, with a count of the open
//! HTML elements of a few names. The tree builder's questions about it are in `stack.rs`; this
//! only keeps the ids and the counts in step.

use html5ever::{LocalName, local_name, ns};

use super::tree::Tree;

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
