//! What changed since the last round, by `output.key`: each item of a page compared with what
//! the store knows of its key (new, changed, unchanged), and, after a complete round, the keys
//! it did not list (gone). The writer asks a [`Watch`] about each page, writes what it says,
//! and commits it with the page.
//!
//! Values are compared as the JSON the output holds, field by field in config order; the
//! `files` of `[download]` by each file's URL and checksum (not its status, which says whether
//! this round downloaded it). This module decides and stages; the store (`items.rs`) keeps.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use super::items::{DetailRow, EventRow, Gone, ItemRow, ItemStore, PageRow, Staged};
use crate::config::FILES_KEY;
use crate::extract::Item;
use crate::http::Validators;
use crate::stats::Stats;

/// What became of one item of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Its key field is null or missing: it cannot be followed across rounds.
    NoKey,
    /// A key never seen before, or back after a round found it gone.
    New,
    /// A key whose values differ from those last written: the fields that differ (their
    /// positions, in config order) and their values before, as JSON.
    Changed {
        /// The positions of the fields that changed.
        fields: Vec<usize>,
        /// Their values last written, as JSON text.
        previous: Vec<String>,
    },
    /// The same values as last written.
    Unchanged,
}

/// One item as the writer writes it: its values as JSON text, and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judged {
    /// The item's values as JSON text, one per field.
    pub fields: Vec<String>,
    /// What became of it.
    pub verdict: Verdict,
}

/// Events counted for the commit that makes them durable.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    new: u64,
    changed: u64,
    unchanged: u64,
    without_key: u64,
    gone: u64,
    not_modified: u64,
}

/// Follows the items of a keyed crawl across rounds, for the writer.
pub(crate) struct Watch {
    /// The store.
    store: ItemStore,
    /// The key field's position among the fields.
    key: usize,
    /// The position of `files`, compared by URL and checksum.
    files: Option<usize>,
    /// The item's field names, in output order.
    names: Vec<String>,
    /// The round.
    round: u64,
    /// What the next commit makes durable.
    staged: Staged,
    /// The values staged since the last commit, by key: a key listed twice before a commit is
    /// compared with the first listing.
    overlay: HashMap<String, Vec<String>>,
    /// The counts of what is staged.
    counts: Counts,
    /// The round's counters, bumped as commits make events durable.
    stats: Arc<Stats>,
}

impl Watch {
    /// Follows items keyed by the field at `key` among `names` (the item's fields in output
    /// order), in round `round`, with `store`.
    pub fn new(
        store: ItemStore,
        key: usize,
        names: Vec<String>,
        round: u64,
        stats: Arc<Stats>,
    ) -> Watch {
        Watch {
            store,
            key,
            files: names.iter().position(|name| name == FILES_KEY),
            names,
            round,
            staged: Staged::default(),
            overlay: HashMap::new(),
            counts: Counts::default(),
            stats,
        }
    }

    /// The round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Judges `items`, listed on the page of `page_row`, stages them, their events, the page,
    /// and the detail pages fetched for it.
    pub fn page(
        &mut self,
        page_row: PageRow,
        items: &[Item],
        details: &[(String, Validators, Item)],
    ) -> Result<Vec<Judged>> {
        let (page, url) = (page_row.page, page_row.url.as_str());
        let mut out = Vec::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            let fields: Vec<String> = item.iter().map(|value| value.to_json()).collect();
            let Some(key) = item.get(self.key).and_then(|v| v.key_text()) else {
                self.counts.without_key += 1;
                out.push(Judged {
                    fields,
                    verdict: Verdict::NoKey,
                });
                continue;
            };
            let key = key.into_owned();
            let verdict = self.judge(&key, &fields)?;
            self.stage_item(&key, &fields, &verdict, page, position as u64, url);
            out.push(Judged { fields, verdict });
        }
        self.staged.pages.push(page_row);
        for (url, validators, fields) in details {
            self.staged.details.push(DetailRow {
                url: url.clone(),
                validators: validators.clone(),
                fields: fields.iter().map(|value| value.to_json()).collect(),
            });
        }
        Ok(out)
    }

    /// A page that answered `304 Not Modified`: each item listed again this round and
    /// unchanged. With `fields`, the items the store knows of it as JSON text per field (what
    /// a crawl that writes every item writes again); without, none (events: nothing to write),
    /// and the commit counts them, within its transaction.
    pub fn not_modified(&mut self, url: &str, fields: bool) -> Result<Vec<Vec<String>>> {
        self.counts.not_modified += 1;
        self.staged.not_modified.push(url.to_string());
        if !fields {
            return Ok(Vec::new());
        }
        let items: Vec<Vec<String>> = self
            .store
            .page_items(url)?
            .items
            .into_iter()
            .map(|(_, fields)| fields)
            .collect();
        Ok(items)
    }

    /// The number and hash of the items the page at `url` listed when it was last committed:
    /// what a page that answers 304 lists again.
    pub fn stored_page(&self, url: &str) -> Result<(usize, Option<u64>)> {
        Ok(match self.store.page_row(url)? {
            Some((items, hash)) => (items as usize, Some(hash)),
            None => (0, None),
        })
    }

    /// What the store says of `key` with `fields` now.
    fn judge(&self, key: &str, fields: &[String]) -> Result<Verdict> {
        let last = match self.overlay.get(key) {
            Some(staged) => Some((staged.clone(), false)),
            None => self
                .store
                .known(key)?
                .map(|known| (known.fields, known.gone)),
        };
        Ok(verdict(
            last.as_ref().map(|(last, gone)| (last.as_slice(), *gone)),
            fields,
            self.files,
        ))
    }

    fn stage_item(
        &mut self,
        key: &str,
        fields: &[String],
        verdict: &Verdict,
        page: u64,
        position: u64,
        url: &str,
    ) {
        let (event, changed, previous) = match verdict {
            Verdict::New => (Some("new"), None, None),
            Verdict::Changed {
                fields: changed,
                previous,
            } => {
                let names: Vec<&str> = changed.iter().map(|&i| self.names[i].as_str()).collect();
                let previous: Vec<(&str, &str)> = names
                    .iter()
                    .copied()
                    .zip(previous.iter().map(String::as_str))
                    .collect();
                (
                    Some("changed"),
                    Some(serde_json::to_string(&names).expect("names to JSON")),
                    Some(json_object(&previous)),
                )
            }
            Verdict::Unchanged | Verdict::NoKey => (None, None, None),
        };
        match verdict {
            Verdict::New => self.counts.new += 1,
            Verdict::Changed { .. } => self.counts.changed += 1,
            Verdict::Unchanged => self.counts.unchanged += 1,
            Verdict::NoKey => {}
        }
        if let Some(event) = event {
            self.staged.events.push(EventRow {
                event,
                key: key.to_string(),
                page,
                url: url.to_string(),
                changed,
                previous,
            });
        }
        self.staged.items.push(ItemRow {
            key: key.to_string(),
            fields: fields.to_vec(),
            page,
            position,
            url: url.to_string(),
            changed: event.is_some(),
        });
        self.overlay.insert(key.to_string(), fields.to_vec());
    }

    /// The next keys, at most `limit`, that this round did not list: gone, once a complete
    /// round asks. Each is staged as gone, with its event, for the next commit.
    pub fn gone(&mut self, limit: usize) -> Result<Vec<Gone>> {
        let gone = self.store.unlisted(self.round, limit)?;
        for item in &gone {
            self.counts.gone += 1;
            self.staged.gone.push(item.key.clone());
            self.staged.events.push(EventRow {
                event: "gone",
                key: item.key.clone(),
                page: item.page,
                url: item.url.clone(),
                changed: None,
                previous: None,
            });
        }
        Ok(gone)
    }

    /// Makes what is staged durable with the journal's commit record `record` (JSON); returns
    /// the record's sequence number in the store.
    pub fn commit(&mut self, record: &str) -> Result<u64> {
        let (seq, relisted) = self.store.commit(self.round, &self.staged, record)?;
        let mut c = std::mem::take(&mut self.counts);
        // The items of the pages that answered 304, counted by the commit.
        c.unchanged += relisted;
        self.stats.watched(
            c.new,
            c.changed,
            c.unchanged,
            c.gone,
            c.without_key,
            c.not_modified,
        );
        self.staged = Staged::default();
        self.overlay.clear();
        Ok(seq)
    }
}

/// What became of an item with `fields` (JSON text, config order) whose key was last written
/// with `last` (its fields, and whether a complete round found it gone), or never: `files`, if
/// any, is the position of the `files` field, compared by URL and checksum.
pub(crate) fn verdict(
    last: Option<(&[String], bool)>,
    fields: &[String],
    files: Option<usize>,
) -> Verdict {
    let Some((last, false)) = last else {
        // Never seen, or back after a round found it gone.
        return Verdict::New;
    };
    let same = |i: usize, new: &str, old: &str| {
        new == old || (Some(i) == files && files_of(new) == files_of(old))
    };
    let changed: Vec<usize> = (0..fields.len())
        .filter(|&i| !same(i, &fields[i], last.get(i).map_or("null", |s| s)))
        .collect();
    if changed.is_empty() {
        return Verdict::Unchanged;
    }
    let previous = changed
        .iter()
        .map(|&i| last.get(i).cloned().unwrap_or_else(|| "null".to_string()))
        .collect();
    Verdict::Changed {
        fields: changed,
        previous,
    }
}

/// The files of a `files` value (JSON text) as its URLs and checksums, in order.
fn files_of(json: &str) -> Option<Vec<(String, String)>> {
    let files: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    files
        .iter()
        .map(|file| {
            let text = |key: &str| file.get(key)?.as_str().map(str::to_string);
            Some((text("url")?, text("checksum")?))
        })
        .collect()
}

/// `pairs` of a name and a JSON text, as one JSON object.
pub(crate) fn json_object(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(*name).to_string());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}
