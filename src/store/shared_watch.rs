//! What changed since the last round when several daemons share a crawl (`output.key` with
//! `frontier.kind = "redis"`): the last values of every key live in a store the daemons share
//! ([`SharedKeys`], Redis), not in each daemon's own.
//!
//! A page is judged against the values read from the shared store and committed there in one
//! atomic step that also holds the page's output lines; the step is refused if another daemon
//! changed one of the page's keys since they were read (the page is judged again), or if the
//! page was committed already this round (by a daemon whose lease ran out: the events are that
//! daemon's to write, and this one writes none). Only then are the lines appended to this
//! daemon's output. A daemon killed in between finds its lines in the shared store when it
//! starts again, and writes them then: each event is written once, by one daemon. The step
//! also keeps the page's validators and keys, so that any daemon asks it conditionally next
//! round; a page that answers 304 is committed by a step that lists its keys again.
//!
//! After a round that every daemon completed, the keys no page listed are gone: one daemon at a
//! time takes a batch of them, marks them gone and stores the batch's lines in one atomic step,
//! and writes the lines; a batch another daemon took first is read again.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::changes::{Judged, Verdict, verdict};
use crate::config::FILES_KEY;
use crate::extract::Item;
use crate::http::Validators;
use crate::stats::Stats;

/// How many times a page is judged again when other daemons keep changing its keys first.
pub(crate) const ATTEMPTS: usize = 64;

/// What the shared store keeps of one key, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Known {
    /// The round that last listed it.
    pub r: u64,
    /// Whether a complete round found it gone (its last values are kept).
    #[serde(default)]
    pub g: bool,
    /// The page that last listed it.
    pub p: u64,
    /// That page's URL.
    pub u: String,
    /// Its values, as JSON text, one per field in output order.
    pub f: Vec<String>,
}

impl Known {
    /// `text`, as the shared store holds it.
    fn parse(key: &str, text: &str) -> Result<Known> {
        serde_json::from_str(text).with_context(|| {
            format!("the shared store's value of key {key:?} is not pagecrawl's: {text:.80}")
        })
    }

    /// As the shared store holds it.
    fn text(&self) -> String {
        serde_json::to_string(self).expect("a known key serializes")
    }
}

/// One key's change in an atomic step: its value as read (empty when it had none), which must
/// still be its value, and its value after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Swap {
    /// The key.
    pub key: String,
    /// Its value when it was read, or empty.
    pub read: String,
    /// Its value after the step.
    pub write: String,
}

/// What became of a page's atomic step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed: the lines are this daemon's to write.
    Done,
    /// Another daemon committed the page this round: nothing to write.
    Taken,
    /// Another daemon changed one of the keys since they were read: judge the page again.
    Stale,
    /// `pagecrawl seed` started the next round meanwhile: the page is not this round's.
    RoundOver,
}

/// A list page as a commit tells the shared store of it: its validators and the keys it
/// listed, for a conditional request next round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedPage<'a> {
    /// Its number.
    pub number: u64,
    /// Its URL.
    pub url: &'a str,
    /// Its `ETag` and `Last-Modified`.
    pub validators: &'a Validators,
    /// The keys it listed, each once.
    pub keys: &'a [String],
}

impl SharedPage<'_> {
    /// What the shared store keeps of the page, as JSON.
    pub fn text(&self) -> String {
        serde_json::json!({
            "e": self.validators.etag,
            "m": self.validators.last_modified,
            "k": self.keys,
        })
        .to_string()
    }
}

/// Lines a daemon committed in the shared store and did not write before it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unwritten {
    /// The events of a page.
    Page(u64, Vec<u8>),
    /// A batch of gone keys, by its number.
    Gone(u64, Vec<u8>),
}

/// The store of last values that the daemons of a crawl share.
pub(crate) trait SharedKeys: Send {
    /// The values of `keys` now (`None`: never seen).
    fn read(&mut self, keys: &[String]) -> Result<Vec<Option<String>>>;
    /// Commits `page` of this round: every swap, and `lines` for this daemon to write.
    fn commit_page(
        &mut self,
        page: &SharedPage<'_>,
        swaps: &[Swap],
        lines: &[u8],
    ) -> Result<Outcome>;
    /// Commits page `page`, at `url`, which answered 304: the keys it listed when last read
    /// are listed again this round. Returns how many.
    fn commit_not_modified(&mut self, page: u64, url: &str) -> Result<(Outcome, u64)>;
    /// Whether every page of this round is committed (by any daemon), none failed, and the
    /// gone keys are not written yet.
    fn gone_due(&mut self) -> Result<bool>;
    /// From `cursor` (0 to start), some keys and their values; the next cursor, 0 at the end.
    fn scan(&mut self, cursor: u64) -> Result<(u64, Vec<(String, String)>)>;
    /// Marks keys gone by `swaps`, with `lines` for this daemon to write: the batch's number,
    /// or `None` when another daemon changed one of them first.
    fn commit_gone(&mut self, swaps: &[Swap], lines: &[u8]) -> Result<Option<u64>>;
    /// Records that this round's gone keys are all written.
    fn gone_written(&mut self) -> Result<()>;
}

/// Follows the items of a keyed crawl across rounds and daemons, for the writer.
pub(crate) struct SharedWatch {
    /// The shared store.
    keys: Box<dyn SharedKeys>,
    /// The key field's position among the fields.
    key: usize,
    /// The position of `files`, compared by URL and checksum.
    files: Option<usize>,
    /// The round, numbered by the shared store.
    round: u64,
    /// The round's counters.
    stats: Arc<Stats>,
    /// Lines this daemon committed in the shared store before it was stopped, not yet written.
    pub unwritten: Vec<Unwritten>,
}

/// A batch of gone keys: their last values, and what to change in the shared store.
pub(crate) struct GoneBatch {
    /// The keys' last values.
    pub items: Vec<Known>,
    swaps: Vec<Swap>,
}

impl SharedWatch {
    /// Follows items keyed by the field at `key` among `names` (output order), in round
    /// `round`, through `keys`.
    pub fn new(
        keys: Box<dyn SharedKeys>,
        key: usize,
        names: &[String],
        round: u64,
        stats: Arc<Stats>,
        unwritten: Vec<Unwritten>,
    ) -> SharedWatch {
        SharedWatch {
            keys,
            key,
            files: names.iter().position(|name| name == FILES_KEY),
            round,
            stats,
            unwritten,
        }
    }

    /// The round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Judges the `items` of page `page` (at `url`, answered with `validators`) and commits
    /// them in the shared store with the lines `encode` makes of them into `buf`: how many
    /// lines are there to write (none when another daemon committed the page).
    pub fn page(
        &mut self,
        page: u64,
        url: &str,
        validators: &Validators,
        items: &[Item],
        buf: &mut Vec<u8>,
        mut encode: impl FnMut(&[Judged], &mut Vec<u8>) -> u64,
    ) -> Result<u64> {
        let fields: Vec<Vec<String>> = items
            .iter()
            .map(|item| item.iter().map(|value| value.to_json()).collect())
            .collect();
        let keyed: Vec<Option<String>> = items
            .iter()
            .map(|item| {
                let key = item.get(self.key).and_then(|value| value.key_text());
                key.map(|key| key.into_owned())
            })
            .collect();
        let mut unique: Vec<String> = Vec::new();
        for key in keyed.iter().flatten() {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        for _ in 0..ATTEMPTS {
            let read = self.keys.read(&unique)?;
            let mut last: HashMap<&str, Known> = HashMap::new();
            for (key, text) in unique.iter().zip(&read) {
                if let Some(text) = text {
                    last.insert(key, Known::parse(key, text)?);
                }
            }
            let mut judged = Vec::with_capacity(items.len());
            for (key, fields) in keyed.iter().zip(&fields) {
                let Some(key) = key else {
                    judged.push(Judged {
                        fields: fields.clone(),
                        verdict: Verdict::NoKey,
                    });
                    continue;
                };
                let before = last.get(key.as_str()).map(|k| (k.f.as_slice(), k.g));
                let verdict = verdict(before, fields, self.files);
                // A key listed twice on the page is compared with its first listing.
                last.insert(
                    key,
                    Known {
                        r: self.round,
                        g: false,
                        p: page,
                        u: url.to_string(),
                        f: fields.clone(),
                    },
                );
                judged.push(Judged {
                    fields: fields.clone(),
                    verdict,
                });
            }
            let swaps: Vec<Swap> = unique
                .iter()
                .zip(read)
                .map(|(key, read)| Swap {
                    key: key.clone(),
                    read: read.unwrap_or_default(),
                    write: last[key.as_str()].text(),
                })
                .collect();
            buf.clear();
            let lines = encode(&judged, buf);
            let shared = SharedPage {
                number: page,
                url,
                validators,
                keys: &unique,
            };
            match self.keys.commit_page(&shared, &swaps, buf)? {
                Outcome::Done => {
                    self.count(&judged);
                    return Ok(lines);
                }
                Outcome::Taken => {
                    buf.clear();
                    return Ok(0);
                }
                Outcome::Stale => {}
                Outcome::RoundOver => bail!(
                    "page {page} ({url}): round {} of the crawl ended while this daemon \
                     crawled it (`pagecrawl seed` started the next): start the daemon again \
                     for the new round",
                    self.round
                ),
            }
        }
        bail!(
            "page {page} ({url}): other daemons changed its keys in Redis {ATTEMPTS} times while \
             it was being committed"
        )
    }

    /// Commits page `page` (at `url`), which answered 304: its items are listed again,
    /// unchanged.
    pub fn not_modified(&mut self, page: u64, url: &str) -> Result<()> {
        match self.keys.commit_not_modified(page, url)? {
            (Outcome::Done, listed) => self.stats.watched(0, 0, listed, 0, 0, 1),
            (Outcome::RoundOver, _) => bail!(
                "page {page} ({url}): round {} of the crawl ended while this daemon crawled it \
                 (`pagecrawl seed` started the next): start the daemon again for the new round",
                self.round
            ),
            (Outcome::Taken | Outcome::Stale, _) => {}
        }
        Ok(())
    }

    /// Counts what a committed page's items became.
    fn count(&self, judged: &[Judged]) {
        let (mut new, mut changed, mut unchanged, mut without_key) = (0, 0, 0, 0);
        for judged in judged {
            match judged.verdict {
                Verdict::New => new += 1,
                Verdict::Changed { .. } => changed += 1,
                Verdict::Unchanged => unchanged += 1,
                Verdict::NoKey => without_key += 1,
            }
        }
        self.stats
            .watched(new, changed, unchanged, 0, without_key, 0);
    }

    /// Whether this round is complete across the daemons and its gone keys are still to write.
    pub fn gone_due(&mut self) -> Result<bool> {
        self.keys.gone_due()
    }

    /// The keys this round did not list among those the scan finds at `cursor` (0 to start),
    /// and the cursor after them (0 at the end of the store).
    pub fn gone_at(&mut self, cursor: u64) -> Result<(u64, GoneBatch)> {
        let (next, values) = self.keys.scan(cursor)?;
        let mut batch = GoneBatch {
            items: Vec::new(),
            swaps: Vec::new(),
        };
        for (key, text) in values {
            let known = Known::parse(&key, &text)?;
            if known.g || known.r >= self.round {
                continue;
            }
            let gone = Known {
                g: true,
                ..known.clone()
            };
            batch.swaps.push(Swap {
                key,
                read: text,
                write: gone.text(),
            });
            batch.items.push(known);
        }
        Ok((next, batch))
    }

    /// Commits `batch` as gone, with the lines written for it in `lines`: its number, or
    /// `None` when another daemon took one of its keys first (scan the same cursor again).
    pub fn commit_gone(&mut self, batch: &GoneBatch, lines: &[u8]) -> Result<Option<u64>> {
        let number = self.keys.commit_gone(&batch.swaps, lines)?;
        if number.is_some() {
            self.stats.watched(0, 0, 0, batch.items.len() as u64, 0, 0);
        }
        Ok(number)
    }

    /// Records that this round's gone keys are all written.
    pub fn gone_written(&mut self) -> Result<()> {
        self.keys.gone_written()
    }
}

#[cfg(test)]
#[path = "shared_watch_tests.rs"]
mod tests;
