//! `output.dedup`: which items of a page to write, by a key field, across rounds and runs.
//!
//! The writer asks a [`Dedup`] which items of each page are new, and tells it when it commits.
//! One daemon keeps its keys in the seen-set file beside the output ([`SeenSet`]), flushed before
//! each commit record, which names its length; daemons sharing a crawl ask a set they share
//! ([`SharedSet`], kept in Redis by the frontier) and announce their new keys with the commit.
//! The writer does not know which.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use log::warn;

use super::seen::{self, Key, KeySet, SeenSet};
use crate::extract::{Item, Value};

/// A seen-set that other processes share, asked before a page is written.
pub(crate) trait SharedSet: Send {
    /// Which of `keys` some process has written already.
    fn contains(&mut self, keys: &[Key]) -> Result<Vec<bool>>;
}

/// How the writer tells new items from those written before.
pub(crate) enum Dedup {
    /// No `output.dedup`: every item is written.
    Off,
    /// One daemon: the seen-set file beside the output.
    Local {
        /// The set and its file.
        set: SeenSet,
        /// The key field's position among the fields.
        index: usize,
    },
    /// A shared crawl: a set the daemons share, and this daemon's own new keys.
    Shared {
        /// The shared set.
        set: Box<dyn SharedSet>,
        /// The same set on a connection of its own, for the stages before the writer (detail
        /// crawlers, downloaders), when there are any.
        follow_ups: Option<Arc<Mutex<Box<dyn SharedSet>>>>,
        /// The key field's position among the fields.
        index: usize,
        /// The keys this daemon wrote in this crawl (the shared set may not have them yet).
        ours: HashSet<Key>,
        /// The keys written since the last commit, announced with it.
        pending: Vec<Key>,
    },
}

/// What a commit records and announces of the dedup keys.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    /// The seen-set file's length, for the commit record (one daemon).
    pub seen_len: Option<u64>,
    /// The keys written since the last commit, for the listeners (a shared crawl).
    pub keys: Vec<Key>,
}

impl Dedup {
    /// Whether items are deduplicated (and so carry `first_seen`).
    pub fn is_on(&self) -> bool {
        !matches!(self, Dedup::Off)
    }

    /// Which of `items` to write: one flag per item, `true` for a new one, whose key is then
    /// taken as written. All of them with `Dedup::Off`.
    pub fn select(&mut self, items: &[Item]) -> Result<Vec<bool>> {
        match self {
            Dedup::Off => Ok(vec![true; items.len()]),
            Dedup::Local { set, index } => Ok(items
                .iter()
                .map(|item| set.insert(key_of(item, *index)))
                .collect()),
            Dedup::Shared {
                set,
                index,
                ours,
                pending,
                ..
            } => {
                let keys: Vec<Key> = items.iter().map(|item| key_of(item, *index)).collect();
                let known = set.contains(&keys)?;
                Ok(keys
                    .into_iter()
                    .zip(known)
                    .map(|(key, known)| {
                        let new = !known && ours.insert(key);
                        if new {
                            pending.push(key);
                        }
                        new
                    })
                    .collect())
            }
        }
    }

    /// Before a commit record: the keys written since the last one made durable (synced with
    /// `sync`) or handed over for the listeners.
    pub fn flush(&mut self, sync: bool) -> Result<Flushed> {
        match self {
            Dedup::Off => Ok(Flushed::default()),
            Dedup::Local { set, .. } => {
                Ok(Flushed {
                    seen_len: Some(set.flush(sync).with_context(|| {
                        format!("writing seen-set file {}", set.path().display())
                    })?),
                    keys: Vec::new(),
                })
            }
            Dedup::Shared { pending, .. } => Ok(Flushed {
                seen_len: None,
                keys: std::mem::take(pending),
            }),
        }
    }
}

/// The items written before, for the stages before the writer (detail crawlers, downloaders):
/// an item among them will not be written, so its detail page and files need not be fetched.
#[derive(Clone)]
pub(crate) enum AlreadyWritten {
    /// One daemon: the keys of its seen-set file when the round began.
    Local {
        /// The keys.
        keys: Arc<KeySet>,
        /// The key field's position among the fields.
        index: usize,
    },
    /// A shared crawl: the set the daemons share, asked once per page. A key some daemon wrote
    /// stays written, so the writer, which asks again, drops the item too.
    Shared {
        /// The shared set, on a connection of its own that the stages take turns on.
        set: Arc<Mutex<Box<dyn SharedSet>>>,
        /// The key field's position among the fields.
        index: usize,
    },
}

impl std::fmt::Debug for AlreadyWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlreadyWritten::Local { keys, index } => {
                write!(f, "Local({} keys, field {index})", keys.len())
            }
            AlreadyWritten::Shared { index, .. } => write!(f, "Shared(field {index})"),
        }
    }
}

impl AlreadyWritten {
    /// Which of `items` (their list fields at least) were written before: one flag each. An
    /// item without a value in the key field is keyed by all of its fields, which the stages
    /// before the writer do not all have yet: it is never taken as written here. When the
    /// shared set cannot be asked, none is (warned of): the writer still drops what it must.
    pub fn select(&self, items: &[Item]) -> Vec<bool> {
        let index = match self {
            AlreadyWritten::Local { index, .. } | AlreadyWritten::Shared { index, .. } => *index,
        };
        let keyed: Vec<Option<Key>> = items
            .iter()
            .map(|item| match item.get(index) {
                Some(Value::Null) | None => None,
                Some(_) => Some(key_of(item, index)),
            })
            .collect();
        match self {
            AlreadyWritten::Local { keys, .. } => keyed
                .iter()
                .map(|key| key.is_some_and(|key| keys.contains(&key)))
                .collect(),
            AlreadyWritten::Shared { set, .. } => {
                let asked: Vec<Key> = keyed.iter().flatten().copied().collect();
                let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
                let mut known = match set.contains(&asked) {
                    Ok(known) => known.into_iter(),
                    Err(err) => {
                        warn!(
                            "asking the shared seen-set before the follow-ups: {err:#}; the \
                             page's detail pages and files are fetched, the writer drops what \
                             was written before"
                        );
                        Vec::new().into_iter()
                    }
                };
                keyed
                    .iter()
                    .map(|key| key.is_some() && known.next().unwrap_or(false))
                    .collect()
            }
        }
    }
}

impl Dedup {
    /// The items written before this round (one daemon: its seen-set file), or before each
    /// page (a shared crawl: the set in Redis); `None` without dedup, or when the shared
    /// crawl has no connection for the follow-ups.
    pub fn already_written(&self) -> Option<AlreadyWritten> {
        match self {
            Dedup::Local { set, index } => Some(AlreadyWritten::Local {
                keys: Arc::new(set.snapshot()),
                index: *index,
            }),
            Dedup::Shared {
                follow_ups, index, ..
            } => follow_ups.as_ref().map(|set| AlreadyWritten::Shared {
                set: set.clone(),
                index: *index,
            }),
            Dedup::Off => None,
        }
    }
}

/// The dedup key of `item`: its field at `index`, or the whole item when that field is missing.
fn key_of(item: &Item, index: usize) -> Key {
    match item.get(index) {
        Some(
            value @ (Value::String(_)
            | Value::Number(_)
            | Value::Integer(_)
            | Value::Bool(_)
            | Value::List(_)),
        ) => seen::key_of([value.key_text()]),
        _ => seen::key_of(item.iter().map(Value::key_text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared set that knows the keys of the values it was given.
    struct Known(Vec<Key>);

    impl SharedSet for Known {
        fn contains(&mut self, keys: &[Key]) -> Result<Vec<bool>> {
            Ok(keys.iter().map(|k| self.0.contains(k)).collect())
        }
    }

    fn item(values: &[&str]) -> Item {
        values
            .iter()
            .map(|v| Value::String(v.to_string()))
            .collect()
    }

    #[test]
    fn local_keys_are_new_once_and_flushed_with_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let set = SeenSet::open(&dir.path().join("seen")).unwrap();
        let mut dedup = Dedup::Local { set, index: 1 };
        let page = [item(&["a", "x"]), item(&["b", "x"]), item(&["c", "y"])];
        assert_eq!(dedup.select(&page).unwrap(), [true, false, true]);
        assert_eq!(dedup.select(&page).unwrap(), [false, false, false]);
        let flushed = dedup.flush(false).unwrap();
        assert_eq!((flushed.seen_len, flushed.keys.len()), (Some(32), 0));
    }

    #[test]
    fn shared_keys_skip_what_others_wrote_and_are_announced_once() {
        let theirs = key_of(&item(&["x"]), 0);
        let follow_ups: Box<dyn SharedSet> = Box::new(Known(vec![theirs]));
        let mut dedup = Dedup::Shared {
            set: Box::new(Known(vec![theirs])),
            follow_ups: Some(Arc::new(Mutex::new(follow_ups))),
            index: 0,
            ours: HashSet::new(),
            pending: Vec::new(),
        };
        // The follow-ups skip what some daemon wrote before; an item without its key is
        // never skipped.
        let mut keyless = item(&["x"]);
        keyless[0] = Value::Null;
        let page = [item(&["x"]), keyless, item(&["y"]), item(&["x"])];
        let written = dedup.already_written().unwrap();
        assert_eq!(written.select(&page), [true, false, false, true]);
        let page = [item(&["x"]), item(&["y"]), item(&["y"])];
        assert_eq!(dedup.select(&page).unwrap(), [false, true, false]);
        let flushed = dedup.flush(true).unwrap();
        assert_eq!(flushed.seen_len, None);
        assert_eq!(flushed.keys, [key_of(&item(&["y"]), 0)]);
        assert!(dedup.flush(true).unwrap().keys.is_empty());
    }

    /// A shared set that cannot be asked.
    struct Down;

    impl SharedSet for Down {
        fn contains(&mut self, _: &[Key]) -> Result<Vec<bool>> {
            Err(anyhow::anyhow!("connection refused"))
        }
    }

    #[test]
    fn a_shared_set_that_cannot_be_asked_skips_nothing() {
        let down: Box<dyn SharedSet> = Box::new(Down);
        let written = AlreadyWritten::Shared {
            set: Arc::new(Mutex::new(down)),
            index: 0,
        };
        assert_eq!(
            written.select(&[item(&["x"]), item(&["y"])]),
            [false, false]
        );
    }

    #[test]
    fn an_item_without_its_key_field_is_keyed_by_all_of_it() {
        let mut whole = item(&["a", "b"]);
        whole[1] = Value::Null;
        assert_eq!(key_of(&whole, 1), seen::key_of([Some("a"), None]));
        assert_ne!(key_of(&whole, 0), key_of(&whole, 1));
    }
}
