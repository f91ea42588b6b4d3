//! The stream engine's record of the elements a page has created so far, and CSS matching on it.
//!
//! The stream keeps no text and no comments, only each element's name, attributes, parent and
//! previous element sibling. On a page the stream trusts, no node is ever moved after it is
//! inserted, so these links are the final document tree's, and an element can be matched the
//! moment it is created: its ancestors and earlier siblings already exist and never change.
//!
//! Matching uses the `selectors` crate, the same version and selector parser that scraper uses,
//! through an [`Element`] implementation that answers every question exactly as scraper's
//! `ElementRef` does. Questions about later siblings or children cannot be answered at creation
//! time; selectors that would ask them are never streamed (see `super::select`).

use std::cell::Cell;
use std::mem::take;

use html5ever::tendril::StrTendril;
use html5ever::{Attribute, Namespace, QualName, ns};
use scraper::selector::{CssLocalName, CssString, NonTSPseudoClass, PseudoElement, Simple};
use selectors::attr::{AttrSelectorOperation, CaseSensitivity, NamespaceConstraint};
use selectors::bloom::BloomFilter;
use selectors::matching::{self, ElementSelectorFlags, MatchingContext};
use selectors::{Element, OpaqueElement};

use super::select::List;

/// "No element": the parent of the root, the sibling of a first child.
pub(super) const NONE: u32 = u32::MAX;

/// One element of the page.
#[derive(Debug)]
pub(super) struct Node {
    /// Its namespace and local name (never a prefix).
    pub(super) name: QualName,
    /// Where its attributes are in [`Tree::attrs`]: `attrs.0..attrs.1`.
    attrs: (u32, u32),
    /// The element it was inserted into; [`NONE`] for the root.
    pub(super) parent: u32,
    /// The element child of the same parent inserted just before it.
    prev_element: u32,
    /// Its last element child so far.
    last_element: u32,
    /// The text node that is its last child, if its last child is text (ids from
    /// [`Tree::text_node`]): more text appended to it joins that node, as in an HTML5 tree.
    pub(super) last_text: u32,
    /// The innermost item this element is, or is inside (`super::stream`'s numbering).
    pub(super) item: u32,
    /// The innermost captured field element this element is, or is inside.
    pub(super) capture: u32,
}

/// The elements of one page, in the order they were created (document order, on a page the
/// stream trusts).
#[derive(Debug)]
pub(super) struct Tree {
    /// Every element, by id.
    nodes: Vec<Node>,
    /// The elements' attributes, each element's together, sorted by name as scraper sorts
    /// them: one buffer for the page instead of a list per element.
    attrs: Vec<Attribute>,
    /// Emptied attribute lists, with their room, for the tokenizer's next tags.
    spare: Vec<Vec<Attribute>>,
    /// Emptied attribute values of earlier pages, with their room, for this page's values.
    values: Vec<StrTendril>,
    /// Text nodes created so far.
    text_nodes: u32,
}

/// The buffers a thread keeps from one page's tree for the next: the elements, the attribute
/// list, and emptied attribute values.
type Spare = (Vec<Node>, Vec<Attribute>, Vec<StrTendril>);

thread_local! {
    /// The emptied buffers of this thread's last tree, for its next page. A page's records
    /// take tens of kilobytes, which glibc would map and unmap for every page (the daemon has
    /// it map every block of 32 KiB or more, src/main.rs), faulting each page of it in anew.
    /// Attribute values are kept too: a page's hundreds of `class` and `href` values were a
    /// malloc and a free each, about a tenth of the crawl's CPU.
    static SPARE: Cell<Spare> = const { Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// The most elements, and attributes, whose buffers a thread keeps between pages: a huge page
/// must not leave its memory with every parser thread.
const KEEP: usize = 32_768;

/// The most attribute values a thread keeps between pages, and the longest one kept: at most
/// 4096 x 256 bytes (1 MiB) per parser thread, and in practice the few kilobytes of a page's
/// short values.
const KEEP_VALUES: usize = 4096;
const KEEP_VALUE_BYTES: usize = 256;

/// The longest value a tendril holds inline, without a buffer of its own: nothing to reuse.
const INLINE_BYTES: usize = 8;

impl Drop for Tree {
    fn drop(&mut self) {
        if self.nodes.capacity() <= KEEP && self.attrs.capacity() <= KEEP {
            let (mut nodes, mut attrs) = (take(&mut self.nodes), take(&mut self.attrs));
            let mut values = take(&mut self.values);
            nodes.clear();
            for attr in attrs.drain(..) {
                let mut value = attr.value;
                let len = value.len();
                if len > INLINE_BYTES && len <= KEEP_VALUE_BYTES && values.len() < KEEP_VALUES {
                    // An owned buffer keeps its room (a shared one becomes an empty tendril,
                    // which the next `value` simply fills anew).
                    value.clear();
                    values.push(value);
                }
            }
            // Not at all while the thread's locals are being destroyed.
            let _ = SPARE.try_with(|spare| spare.set((nodes, attrs, values)));
        }
    }
}

impl Tree {
    /// An empty record with room for the elements of a page of `bytes` bytes (real pages hold
    /// about one element per 60 bytes), so that it seldom grows; bounded, for huge pages of
    /// text.
    pub(super) fn for_page(bytes: usize) -> Tree {
        let (mut nodes, attrs, values) = SPARE.try_with(Cell::take).unwrap_or_default();
        nodes.reserve((bytes / 64).min(16_384));
        Tree {
            nodes,
            attrs,
            spare: Vec::new(),
            values,
            text_nodes: 0,
        }
    }

    /// Appends a new element as the last child of `parent` and returns its id.
    pub(super) fn insert(&mut self, name: QualName, mut attrs: Vec<Attribute>, parent: u32) -> u32 {
        let start = self.attrs.len();
        self.attrs.append(&mut attrs);
        if attrs.capacity() > 0 {
            self.spare.push(attrs);
        }
        // scraper sorts them (its `Element::new`); `id` and `class` are then found the same way.
        self.attrs[start..].sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let attrs = (start as u32, self.attrs.len() as u32);
        let id = self.nodes.len() as u32;
        let (prev_element, item, capture) = match self.nodes.get_mut(parent as usize) {
            Some(parent) => {
                let prev = parent.last_element;
                parent.last_element = id;
                parent.last_text = NONE;
                (prev, parent.item, parent.capture)
            }
            None => (NONE, NONE, NONE),
        };
        self.nodes.push(Node {
            name,
            attrs,
            parent,
            prev_element,
            last_element: NONE,
            last_text: NONE,
            item,
            capture,
        });
        id
    }

    /// The attributes of element `id`, sorted by name.
    pub(super) fn attrs(&self, id: u32) -> &[Attribute] {
        let (start, end) = self.nodes[id as usize].attrs;
        &self.attrs[start as usize..end as usize]
    }

    /// `text` as an attribute value, in the buffer of an earlier page's value when one is
    /// kept (a value that fits inline needs none).
    pub(super) fn value(&mut self, text: &str) -> StrTendril {
        if text.len() > INLINE_BYTES
            && let Some(mut value) = self.values.pop()
        {
            value.push_slice(text);
            return value;
        }
        StrTendril::from_slice(text)
    }

    /// An empty attribute list, with room from an earlier tag when there is one.
    pub(super) fn spare_attrs(&mut self) -> Vec<Attribute> {
        self.spare.pop().unwrap_or_default()
    }

    /// A comment was appended to `parent`: it ends the text node there, if any.
    pub(super) fn comment(&mut self, parent: u32) {
        if let Some(node) = self.nodes.get_mut(parent as usize) {
            node.last_text = NONE;
        }
    }

    /// Text was appended to `parent`: the id of the text node it joins or starts.
    pub(super) fn text_node(&mut self, parent: u32) -> u32 {
        let node = &mut self.nodes[parent as usize];
        if node.last_text == NONE {
            node.last_text = self.text_nodes;
            self.text_nodes += 1;
        }
        node.last_text
    }

    /// The element `id`.
    pub(super) fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// The element `id`, to change its item or capture links right after creating it.
    pub(super) fn node_mut(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    /// Whether `selector` matches element `id`.
    pub(super) fn matches(&self, selector: &List, id: u32) -> bool {
        if let Some(types) = &selector.types
            && !types.contains(&self.node(id).name.local)
        {
            return false;
        }
        let mut caches = matching::SelectorCaches::default();
        let mut context = MatchingContext::new(
            matching::MatchingMode::Normal,
            None,
            &mut caches,
            matching::QuirksMode::NoQuirks,
            matching::NeedsSelectorFlags::No,
            matching::MatchingForInvalidation::No,
        );
        let element = El { tree: self, id };
        selector
            .selectors
            .slice()
            .iter()
            .any(|s| matching::matches_selector(s, 0, None, &element, &mut context))
    }
}

/// An element of a [`Tree`], as the `selectors` crate sees it.
#[derive(Debug, Clone, Copy)]
struct El<'a> {
    tree: &'a Tree,
    id: u32,
}

impl<'a> El<'a> {
    fn node(&self) -> &'a Node {
        self.tree.node(self.id)
    }

    fn at(&self, id: u32) -> Option<El<'a>> {
        (id != NONE).then_some(El {
            tree: self.tree,
            id,
        })
    }

    /// The attributes named `local` in any namespace (scraper's `Element::id`, `classes`).
    fn attrs_named(&self, local: &'a str) -> impl Iterator<Item = &'a Attribute> {
        self.tree
            .attrs(self.id)
            .iter()
            .filter(move |attr| &*attr.name.local == local)
    }
}

/// Each answer is scraper 0.29's `impl Element for ElementRef` (`element_ref/element.rs`), on
/// this tree's links.
impl Element for El<'_> {
    type Impl = Simple;

    fn opaque(&self) -> OpaqueElement {
        OpaqueElement::new(self.node())
    }

    fn parent_element(&self) -> Option<Self> {
        self.at(self.node().parent)
    }

    fn parent_node_is_shadow_root(&self) -> bool {
        false
    }

    fn containing_shadow_host(&self) -> Option<Self> {
        None
    }

    fn is_pseudo_element(&self) -> bool {
        false
    }

    fn prev_sibling_element(&self) -> Option<Self> {
        self.at(self.node().prev_element)
    }

    // Later siblings and children are not known when an element is matched: selectors that
    // ask for them are never streamed (`super::select::streamable`).
    fn next_sibling_element(&self) -> Option<Self> {
        None
    }

    fn first_element_child(&self) -> Option<Self> {
        None
    }

    fn is_empty(&self) -> bool {
        false
    }

    fn is_html_element_in_html_document(&self) -> bool {
        self.node().name.ns == ns!(html)
    }

    fn has_local_name(&self, name: &CssLocalName) -> bool {
        self.node().name.local == name.0
    }

    fn has_namespace(&self, namespace: &Namespace) -> bool {
        self.node().name.ns == *namespace
    }

    fn is_same_type(&self, other: &Self) -> bool {
        self.node().name == other.node().name
    }

    fn attr_matches(
        &self,
        ns: &NamespaceConstraint<&Namespace>,
        local_name: &CssLocalName,
        operation: &AttrSelectorOperation<&CssString>,
    ) -> bool {
        self.tree.attrs(self.id).iter().any(|attr| {
            !matches!(*ns, NamespaceConstraint::Specific(url) if *url != attr.name.ns)
                && local_name.0 == attr.name.local
                && operation.eval_str(&attr.value)
        })
    }

    fn match_non_ts_pseudo_class(
        &self,
        _pc: &NonTSPseudoClass,
        _context: &mut MatchingContext<'_, Self::Impl>,
    ) -> bool {
        false
    }

    fn match_pseudo_element(
        &self,
        _pe: &PseudoElement,
        _context: &mut MatchingContext<Self::Impl>,
    ) -> bool {
        false
    }

    fn apply_selector_flags(&self, _flags: ElementSelectorFlags) {}

    fn is_link(&self) -> bool {
        &*self.node().name.local == "link"
    }

    fn is_html_slot_element(&self) -> bool {
        true
    }

    fn has_id(&self, id: &CssLocalName, case_sensitivity: CaseSensitivity) -> bool {
        match self.attrs_named("id").next() {
            Some(attr) => case_sensitivity.eq(id.0.as_bytes(), attr.value.as_bytes()),
            None => false,
        }
    }

    fn has_class(&self, name: &CssLocalName, case_sensitivity: CaseSensitivity) -> bool {
        self.attrs_named("class").any(|attr| {
            attr.value
                .split_ascii_whitespace()
                .any(|class| case_sensitivity.eq(class.as_bytes(), name.0.as_bytes()))
        })
    }

    fn has_custom_state(&self, _name: &CssLocalName) -> bool {
        false
    }

    fn imported_part(&self, _: &CssLocalName) -> Option<CssLocalName> {
        None
    }

    fn is_part(&self, _name: &CssLocalName) -> bool {
        false
    }

    fn is_root(&self) -> bool {
        self.node().parent == NONE
    }

    fn add_element_unique_hashes(&self, _filter: &mut BloomFilter) -> bool {
        false
    }
}

/// The value of the attribute `name` as the DOM's `getAttribute(name)` gives it: on an HTML
/// element the name is lower-cased first; it is compared with each attribute's qualified name
/// (`prefix:local`, e.g. `xlink:href`, or `viewBox` on SVG elements). Both engines read field
/// attributes through this one function.
pub(crate) fn get_attribute<'a>(
    element: &QualName,
    attrs: impl IntoIterator<Item = (&'a QualName, &'a str)>,
    name: &str,
) -> Option<&'a str> {
    let lowered;
    let name = if element.ns == ns!(html) && name.bytes().any(|b| b.is_ascii_uppercase()) {
        lowered = name.to_ascii_lowercase();
        lowered.as_str()
    } else {
        name
    };
    attrs.into_iter().find_map(|(key, value)| {
        let qualified = match &key.prefix {
            Some(prefix) if !prefix.is_empty() => {
                name.len() == prefix.len() + 1 + key.local.len()
                    && name.starts_with(&**prefix)
                    && name[prefix.len()..].starts_with(':')
                    && name.ends_with(&*key.local)
            }
            _ => *name == *key.local,
        };
        qualified.then_some(value)
    })
}
