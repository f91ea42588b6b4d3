//! The rows that pass between the store and the writer: what the store knows of a key or a
//! page, and what one commit stages for it to write.

use crate::http::Validators;

/// What the store knows of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    /// The values last written, as JSON text, one per field in config order.
    pub fields: Vec<String>,
    /// Whether a complete round found it gone since.
    pub gone: bool,
}

/// A list page as the store knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredPage {
    /// Its items, in order: each key and its values as JSON text, one per field.
    pub items: Vec<(String, Vec<String>)>,
    /// The hash of its items, if it was committed.
    pub hash: Option<u64>,
}

/// A key a complete round did not list, with what the store knew of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gone {
    /// The key.
    pub key: String,
    /// Its last values, as JSON text, one per field.
    pub fields: Vec<String>,
    /// The page it was last on, and that page's URL.
    pub page: u64,
    /// That page's URL.
    pub url: String,
}

/// One item's row as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct ItemRow {
    /// The key.
    pub key: String,
    /// Its values as JSON text, one per field.
    pub fields: Vec<String>,
    /// Its page, its place on it, and the page's URL.
    pub page: u64,
    /// Its place among the page's items.
    pub position: u64,
    /// The page's URL.
    pub url: String,
    /// Whether its values differ from the last written ones (or it is new).
    pub changed: bool,
}

/// One event's row.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    /// `new`, `changed` or `gone`.
    pub event: &'static str,
    /// The key.
    pub key: String,
    /// The page it was on, and its URL.
    pub page: u64,
    /// The page's URL.
    pub url: String,
    /// For `changed`: the names of the fields that changed, as a JSON array.
    pub changed: Option<String>,
    /// For `changed`: their values before, as a JSON object.
    pub previous: Option<String>,
}

/// A list page as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct PageRow {
    /// Its URL.
    pub url: String,
    /// Its number this round.
    pub page: u64,
    /// Its validators, to ask with next round.
    pub validators: Validators,
    /// How many items it listed.
    pub items: u64,
    /// The hash of its items (as the listing's end compares pages).
    pub items_hash: u64,
    /// What it named as the page after it.
    pub next: NamedNext,
}

/// What a list page named as the page after it, as the store keeps it (`pages.next`): on a
/// listing paged by next links, a page that answers 304 next round names it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamedNext {
    /// A numbered listing's page: its number says which comes next (`NULL`).
    Numbered,
    /// The last page of its listing: no next link, `site.has_next` false (`''`).
    Last,
    /// This URL: the next page, or one already crawled (a loop).
    At(String),
}

impl NamedNext {
    /// The column's value.
    pub fn to_column(&self) -> Option<&str> {
        match self {
            NamedNext::Numbered => None,
            NamedNext::Last => Some(""),
            NamedNext::At(url) => Some(url),
        }
    }

    /// What the column's value says.
    pub fn from_column(value: Option<String>) -> NamedNext {
        match value {
            None => NamedNext::Numbered,
            Some(url) if url.is_empty() => NamedNext::Last,
            Some(url) => NamedNext::At(url),
        }
    }
}

/// A detail page as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct DetailRow {
    /// Its URL.
    pub url: String,
    /// Its validators.
    pub validators: Validators,
    /// Its fields as JSON text, one per detail field.
    pub fields: Vec<String>,
}

/// What one commit makes durable.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// The items listed on the committed pages.
    pub items: Vec<ItemRow>,
    /// Keys found gone.
    pub gone: Vec<String>,
    /// The events written.
    pub events: Vec<EventRow>,
    /// The committed list pages.
    pub pages: Vec<PageRow>,
    /// Pages that answered 304: their URL (their keys are listed this round).
    pub not_modified: Vec<String>,
    /// Detail pages fetched anew.
    pub details: Vec<DetailRow>,
}
