//! What flows between the stages: the messages on every channel, in pipeline order.
//!
//! ```text
//! feeder ─ToFetch─▶ crawlers ─Fetched─▶ parsers ─Parsed─▶ writer ─Committed─▶ listeners
//!    ▲                                      │
//!    └──────────── Report ("site.next") ◀───┘
//! ```
//!
//! The feeder sends each page's number and URL; on a listing paged by next links, each page's
//! URL is the one the page before it named, which the parsers (or the crawler that dropped it)
//! report back. After the feeder, every message is a [`Page`]: its number and URL, and what the stage before
//! made of it, or the [`NoContent`] that stopped it. A stage handles the pages that carry content
//! and passes the others on unchanged, so a failure found by the crawler reaches the writer as it
//! was found, and a new stage between two others only has to do the same. This file imports no
//! stage: stages import it, never each other.

use std::mem::size_of;
use std::sync::Arc;

pub use super::error::PageError;
pub use crate::extract::Item;
use crate::http::Validators;
use crate::store::seen::Key;

/// A page to fetch, as the feeder sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToFetch {
    /// The page number: its position in the listing.
    pub number: u64,
    /// Its URL: `site.url` filled in, or the link the page before it named (`site.next`).
    pub url: String,
}

/// On a listing paged by next links: what became of a page, for the feeder, which sends the
/// page after it only then. Every page it sends comes back as exactly one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The page.
    pub page: u64,
    /// The URL of the page after it; `None` ends the listing's chain here: the page was the
    /// last, looped back, failed, or was dropped by a stop.
    pub next: Option<String>,
}

/// On a listing paged by next links: what a page says of the page after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// The page after it is at this URL.
    At(String),
    /// It names none: it is the last page.
    None,
    /// It names this URL, a page the listing went through already: it is the last page.
    Loop(String),
}

/// Why a page carries no content past the stage that found it. Every later stage passes it on
/// unchanged; the writer records it.
#[derive(Debug, Clone)]
pub enum NoContent {
    /// The page failed after its retries, or could not be parsed or completed. Recorded as
    /// failed; the next run tries it again.
    Failed(PageError),
    /// "Until empty" mode: the page answered 404 or 410, the status given. It ends the listing,
    /// unless a page before it ends it first. (With a known range, that is a `Failed`.)
    Gone(u16),
    /// robots.txt (`http.robots`) disallows the page, so it was not fetched. Neither failed nor
    /// committed: the writer counts it and records nothing, so a later round or run asks
    /// robots.txt again. It does not end the listing.
    Disallowed,
    /// Asked with last round's validators, the page answered `304 Not Modified`: it lists what
    /// it listed then, which the writer reads from the store (`output.key`). `listed` is how
    /// many items that is and their hash, once the writer has looked (the listing's end
    /// compares pages by it).
    NotModified {
        /// The number and hash of the items the store knows of the page.
        listed: Option<(usize, u64)>,
    },
}

/// One page between two stages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The page number.
    pub number: u64,
    /// The URL it was fetched from.
    pub url: String,
    /// What the stages so far made of it, or why it stopped.
    pub content: Result<T, NoContent>,
    /// What its fetches learned that the store keeps for the next round.
    pub learned: Learned,
}

/// What a page's fetches learned besides its items: what the store of `output.key` keeps for
/// the next round (the list page's validators, the detail pages fetched anew with their
/// fields), and where the detail stage found each file link (for `download.referer`).
#[derive(Debug, Clone, Default)]
pub struct Learned {
    /// The list page's `ETag` and `Last-Modified`.
    pub validators: Validators,
    /// Each detail page fetched with a body (not answered 304): its URL, its validators and
    /// its fields.
    pub details: Vec<(String, Validators, Item)>,
    /// With detail pages in several parts (`follow.next`) and `download.referer` on one of
    /// their fields: per item, the part on which each of its file links was found, in the
    /// order of the links. Empty otherwise: each file's referer is then its item's page.
    pub found_on: Vec<Vec<Arc<str>>>,
    /// On a JSON page with `site.has_next`: whether it says another page follows; `false`
    /// ends an "until empty" listing after it.
    pub has_next: Option<bool>,
    /// On a listing paged by next links, a page with items: what it says of the page after it.
    pub next: Option<NextPage>,
}

impl Learned {
    /// On a listing paged by next links, the URL of the page after this one: the one its next
    /// link names, unless it is the last page all the same (see [`Learned::last_because`]).
    pub fn next_url(&self) -> Option<&str> {
        match &self.next {
            Some(NextPage::At(url)) if self.last_because().is_none() => Some(url),
            _ => None,
        }
    }

    /// Why the page is the last of its listing, though it has items: `site.has_next` is false,
    /// or its next link names no page or one already crawled. `None` if it is not.
    pub fn last_because(&self) -> Option<String> {
        match (&self.next, self.has_next) {
            (_, Some(false)) => Some("whose `site.has_next` is false".to_string()),
            (Some(NextPage::None), _) => Some("which has no next link (`site.next`)".to_string()),
            (Some(NextPage::Loop(url)), _) => Some(format!(
                "whose next link goes back to {url}, a page already crawled"
            )),
            _ => None,
        }
    }
}

/// A fetched page's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html {
    /// The decoded body.
    pub body: String,
    /// The URL the body came from, after redirects: what the page's relative links resolve
    /// against.
    pub final_url: String,
}

/// A fetched page on its way to a parser: its decoded body.
pub type Fetched = Page<Html>;

/// A parsed page on its way to the writer: its items, in document order.
pub type Parsed = Page<Vec<Item>>;

impl Parsed {
    /// About the memory this message holds, in bytes: what the items queue's byte budget
    /// (`queues.items_bytes`) counts. Every item and field costs its heap block besides its text,
    /// so a page of many tiny items weighs what it really takes.
    pub fn weight(&self) -> usize {
        let text = |s: &String| s.capacity();
        size_of::<Parsed>()
            + text(&self.url)
            + match &self.content {
                Ok(items) => {
                    items.capacity() * size_of::<Item>()
                        + items
                            .iter()
                            .map(|item| {
                                item.capacity() * size_of::<crate::extract::Value>()
                                    + item
                                        .iter()
                                        .map(crate::extract::Value::heap_bytes)
                                        .sum::<usize>()
                            })
                            .sum::<usize>()
                }
                // A failure holds a few words and a shared error.
                Err(_) => 0,
            }
    }
}

/// What the writer announces once it is durable in the output and the journal. Whoever needs to
/// act on it (the shared frontier's acker) listens; the writer does not know who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// These pages' items are committed: in the output, and named by a commit record.
    Pages {
        /// The pages.
        pages: Vec<u64>,
        /// The dedup keys of the items written for them that no listener has heard of yet
        /// (with `output.dedup` and a shared seen-set; empty otherwise).
        keys: Vec<Key>,
        /// The batches of gone keys written (with `output.key` on a shared frontier), whose
        /// entries in Redis can go.
        gone: Vec<u64>,
    },
    /// robots.txt disallowed this page: nothing is recorded in the journal, and whoever leased
    /// it out (the shared frontier) must hand it back for a later round to ask again.
    Disallowed {
        /// The page.
        page: u64,
    },
    /// This page failed after its retries, and is recorded as failed in the journal.
    Failed {
        /// The page.
        page: u64,
        /// Why, in one line.
        reason: String,
    },
}
