//! Items and fields, decided as the stream engine's tree builder (`super::builder`) inserts
//! elements and text into its record of the page (`super::tree`).
//!
//! [`Walk`] is told about each element once, when it is inserted: its parent and earlier
//! siblings are final then (the builder refuses every rule that would move a node), so an item
//! or a field match decided at that moment is the DOM's. Text is read only under an element
//! some field takes the text of. It reads no markup and decides nothing about the tree.

use html5ever::ns;

use super::tree::{NONE, Tree, get_attribute};
use super::{Irregular, Outcome, Plan};
use crate::extract::{Budget, PageLimits, RawValue, Scraped, push_words};

/// A field's value for one item, as far as it is known.
#[derive(Debug, Clone)]
enum Value {
    /// No element has matched yet.
    Pending,
    /// Decided: an attribute's value, or nothing.
    Fixed(Option<String>),
    /// The text of a captured element, still being read.
    Text(u32),
    /// An `all = true` field: every match so far, in document order.
    List(Vec<Part>),
}

/// One match of an `all = true` field.
#[derive(Debug, Clone)]
enum Part {
    /// An attribute's value.
    Attr(String),
    /// The text of a captured element.
    Text(u32),
}

/// One item being extracted.
#[derive(Debug)]
struct ItemState {
    /// The innermost item this one is inside, or [`NONE`].
    outer: u32,
    /// One value per field.
    values: Vec<Value>,
}

/// The text of one field element, which may serve several nested items.
#[derive(Debug)]
struct Capture {
    /// The innermost capture this element is inside, or [`NONE`]: its text is theirs too.
    outer: u32,
    /// The text so far, whitespace collapsed.
    text: String,
    /// The text node being read, raw.
    node: String,
    /// Which text node `node` is.
    node_id: u32,
    /// How many items take this text.
    takers: usize,
}

/// Items and fields, decided as elements are created and text is inserted.
pub(super) struct Walk<'p> {
    /// The selectors and fields.
    plan: &'p Plan,
    /// The per-page limits.
    limits: PageLimits,
    /// Items in document order.
    items: Vec<ItemState>,
    /// Captured field elements.
    captures: Vec<Capture>,
    /// Raw bytes captured, counted once per item taking them: past the byte limit the page
    /// goes to the DOM engine, which decides exactly (this bounds the stream's memory).
    raw_bytes: usize,
    /// The `href` of the first HTML `<base>` element that has one. Elements are created in
    /// tree order on the pages the builder follows (it refuses every rule that would insert
    /// an element before one already created), so the first created is the DOM's first.
    base_href: Option<String>,
}

impl<'p> Walk<'p> {
    /// A walk at the start of a page, matching `plan` under `limits`.
    pub(super) fn new(plan: &'p Plan, limits: PageLimits) -> Walk<'p> {
        Walk {
            plan,
            limits,
            items: Vec::new(),
            captures: Vec::new(),
            raw_bytes: 0,
            base_href: None,
        }
    }

    /// Whether a selector or a field may look at an attribute of this name (as the tokenizer
    /// gives it: ASCII lower case, before the tree builder adjusts names on SVG and MathML
    /// elements).
    pub(super) fn reads_attribute(&self, name: &[u8]) -> bool {
        let plan = self.plan;
        let known = |name: &[u8]| {
            name.first()
                .is_some_and(|&b| plan.attribute_starts[usize::from(b.to_ascii_lowercase())])
                && plan
                    .attributes
                    .iter()
                    .any(|known| known.as_bytes().eq_ignore_ascii_case(name))
        };
        known(name)
            || name
                .iter()
                .position(|&b| b == b':')
                .is_some_and(|colon| known(&name[colon + 1..]))
    }

    /// Element `id` was just inserted: it may be the document's base, the first match of a
    /// field of the items it is in, and an item itself.
    pub(super) fn element(&mut self, tree: &mut Tree, id: u32) -> Result<(), Irregular> {
        if self.base_href.is_none() {
            let node = tree.node(id);
            if node.name.ns == ns!(html) && &*node.name.local == "base" {
                let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                self.base_href = get_attribute(&node.name, attrs, "href").map(str::to_string);
            }
        }
        let mut capture = None;
        if tree.node(id).item != NONE {
            self.field_matches(tree, id, &mut capture);
        }
        if tree.matches(&self.plan.item, id) {
            self.start_item(tree, id, &mut capture)?;
        }
        if let Some(c) = capture {
            tree.node_mut(id).capture = c;
        }
        Ok(())
    }

    /// Element `id`, inside an item, as a match of the fields of the items around it; `capture`
    /// is its text's capture once one is made.
    fn field_matches(&mut self, tree: &Tree, id: u32, capture: &mut Option<u32>) {
        let innermost = tree.node(id).item;
        for (field, plan) in self.plan.fields.iter().enumerate() {
            let Some(selector) = &plan.selector else {
                continue;
            };
            // Outer items decide no later than inner ones: when the innermost item has its
            // field, every item around it has too. A list (`all`) is never decided: every
            // match goes to every item it is inside.
            if !plan.all && !matches!(self.items[innermost as usize].values[field], Value::Pending)
                || !tree.matches(selector, id)
            {
                continue;
            }
            let value = match &plan.attr {
                Some(attr) => {
                    let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                    let name = &tree.node(id).name;
                    Value::Fixed(get_attribute(name, attrs, attr).map(str::to_string))
                }
                None => Value::Text(self.capture_for(tree, id, capture)),
            };
            let mut at = innermost;
            while at != NONE {
                let item = &mut self.items[at as usize];
                match &mut item.values[field] {
                    Value::List(parts) => match &value {
                        Value::Fixed(Some(text)) => parts.push(Part::Attr(text.clone())),
                        Value::Text(c) => {
                            parts.push(Part::Text(*c));
                            self.captures[*c as usize].takers += 1;
                        }
                        _ => {}
                    },
                    slot @ Value::Pending => {
                        if let Value::Text(c) = value {
                            self.captures[c as usize].takers += 1;
                        }
                        *slot = value.clone();
                    }
                    _ => break,
                }
                at = item.outer;
            }
        }
    }

    /// Element `id` matches the item selector: a new item, inside the innermost one around it.
    fn start_item(
        &mut self,
        tree: &mut Tree,
        id: u32,
        capture: &mut Option<u32>,
    ) -> Result<(), Irregular> {
        if self.items.len() >= self.limits.max_items {
            return Err(Irregular::TooManyItems);
        }
        let mut values = Vec::with_capacity(self.plan.fields.len());
        for field in &self.plan.fields {
            values.push(match (&field.selector, &field.attr) {
                _ if field.all => Value::List(Vec::new()),
                (None, Some(attr)) => {
                    let node = tree.node(id);
                    let attrs = tree.attrs(id).iter().map(|a| (&a.name, &*a.value));
                    Value::Fixed(get_attribute(&node.name, attrs, attr).map(str::to_string))
                }
                (None, None) => {
                    let c = self.capture_for(tree, id, capture);
                    self.captures[c as usize].takers += 1;
                    Value::Text(c)
                }
                _ => Value::Pending,
            });
        }
        self.items.push(ItemState {
            outer: tree.node(id).item,
            values,
        });
        tree.node_mut(id).item = self.items.len() as u32 - 1;
        Ok(())
    }

    /// The capture of element `id`'s text, created on first use (`capture` holds it).
    fn capture_for(&mut self, tree: &Tree, id: u32, capture: &mut Option<u32>) -> u32 {
        *capture.get_or_insert_with(|| {
            self.captures.push(Capture {
                outer: tree.node(id).capture,
                text: String::new(),
                node: String::new(),
                node_id: NONE,
                takers: 0,
            });
            self.captures.len() as u32 - 1
        })
    }

    /// `text` was inserted into element `parent`.
    pub(super) fn text(
        &mut self,
        tree: &mut Tree,
        parent: u32,
        text: &str,
    ) -> Result<(), Irregular> {
        let mut at = tree.node(parent).capture;
        if at == NONE {
            return Ok(());
        }
        let node_id = tree.text_node(parent);
        while at != NONE {
            let capture = &mut self.captures[at as usize];
            if capture.node_id != node_id {
                push_words(&mut capture.text, &capture.node);
                capture.node.clear();
                capture.node_id = node_id;
            }
            capture.node.push_str(text);
            self.raw_bytes = self
                .raw_bytes
                .saturating_add(text.len().saturating_mul(capture.takers));
            at = capture.outer;
        }
        if self.raw_bytes > self.limits.max_bytes {
            return Err(Irregular::TooMuchText);
        }
        Ok(())
    }

    /// The items, once every token has been read; or the limit they are over.
    pub(super) fn finish(mut self) -> Outcome {
        for capture in &mut self.captures {
            push_words(&mut capture.text, &capture.node);
            capture.node = String::new();
        }
        let text_len = |c: u32| self.captures[c as usize].text.len();
        let value_len = |value: &Value| match value {
            Value::Pending | Value::Fixed(None) => 0,
            Value::Fixed(Some(text)) => text.len(),
            Value::Text(c) => text_len(*c),
            Value::List(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Attr(text) => text.len(),
                    Part::Text(c) => text_len(*c),
                })
                .sum(),
        };
        let mut budget = Budget::new(self.limits);
        for item in &self.items {
            let bytes = item.values.iter().map(value_len).sum();
            if let Err(reason) = budget.add_item().and_then(|()| budget.add_bytes(bytes)) {
                return Outcome::TooBig(reason);
            }
        }
        let captures = &self.captures;
        let text = |c: u32| captures[c as usize].text.clone();
        let items = self
            .items
            .into_iter()
            .map(|item| {
                item.values
                    .into_iter()
                    .map(|value| match value {
                        Value::Pending => RawValue::One(None),
                        Value::Fixed(value) => RawValue::One(value),
                        Value::Text(c) => RawValue::One(Some(text(c))),
                        Value::List(parts) => RawValue::All(
                            parts
                                .into_iter()
                                .map(|part| match part {
                                    Part::Attr(value) => value,
                                    Part::Text(c) => text(c),
                                })
                                .collect(),
                        ),
                    })
                    .collect()
            })
            .collect();
        let items = Scraped {
            items,
            base_href: self.base_href,
        };
        Outcome::Items(items)
    }
}
