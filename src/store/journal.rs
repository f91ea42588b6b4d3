//! The crawl state: an append-only journal beside the output that says which pages are committed.
//!
//! A page is committed when all of its items are in the output file (synced, as `output.sync`
//! says) *and* a commit record naming it and the output's length after it is in the journal.
//! Recovery trusts only that: it cuts the output back to the last committed length it can prove,
//! so a torn line or the items of a page whose commit was not recorded disappear, and those pages
//! are fetched again. Every record carries a checksum, so a torn or garbled journal tail is
//! ignored rather than believed. Commit records also carry a checksum of the output bytes they
//! commit, and recovery checks the last one it keeps before it cuts anything (`verify.rs`): an
//! output changed underneath (a line deleted by hand) is refused, naming where. A missing state
//! beside a non-empty output is refused too, since resuming would append every item again. The
//! writer thread is this module's only user during a crawl; this module never decides what to
//! crawl.
//!
//! A scheduled service crawls the same range again and again: each crawl is a *round*. The header
//! names the round and when it started; a `roundend` record says it finished. A new round rewrites
//! the journal with a fresh header (so the journal never grows past one round), while the output
//! stays append-only. With `output.dedup`, commits also record the length of the seen-set file
//! (see [`crate::store::seen`]), which recovery cuts back exactly like the output, so that an item is in
//! the seen-set only if it is in the committed output.
//!
//! This file is the journal's format (its records, their encoding, the open journal the writer
//! appends to); `recovery.rs` works out what a journal proves, and `resume.rs` opens the state for
//! a round, repairing the files to match.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The format version written in the journal header. Version 2 added the checksum of each
/// commit's output bytes (`sum`); version 1 journals are read as they are, their commits
/// unchecked.
pub(super) const VERSION: u32 = 2;

/// What identifies a crawl: if any of it changes, old output and new output must not be mixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `site.url`.
    pub url: String,
    /// `site.first_page`.
    pub first_page: u64,
    /// `site.last_page`.
    pub last_page: Option<u64>,
    /// `site.page_size`.
    pub page_size: u64,
    /// `extract.item`.
    pub item: String,
    /// `extract.fields`, in order.
    pub fields: Vec<(String, String)>,
    /// What `[follow]` and `[download]` add to each line: `(key, value)` of the follow field,
    /// each `follow.fields.<name>`, the download field and name. Empty without them (and in
    /// the state of a crawl older than them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<(String, String)>,
    /// `site.next` and `site.next_url` (empty when unset): how a listing paged by next links
    /// goes from page to page. Empty in the state of a crawl older than them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<(String, String)>,
}

impl Fingerprint {
    /// What identifies the crawl of `config`: its site, range and extraction rules.
    pub fn of(config: &Config) -> Fingerprint {
        Fingerprint {
            url: config.site.url.as_str().to_string(),
            first_page: config.site.first_page,
            last_page: config.site.last_page,
            page_size: config.site.page_size,
            item: config.extract.item_selector().to_string(),
            fields: config
                .extract
                .field_specs()
                .map(|(n, s)| (n.to_string(), s.source.clone()))
                .collect(),
            follow_ups: follow_ups(config),
            next: [
                ("site.next", config.site.next.clone()),
                (
                    "site.next_url",
                    config
                        .site
                        .next_url
                        .as_ref()
                        .map(|t| t.as_str().to_string()),
                ),
            ]
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?)))
            .collect(),
        }
    }

    /// One line per difference, naming the config key, old value first.
    pub fn differences(&self, new: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |key: &str, old: String, new: String| {
            if old != new {
                out.push(format!("{key}: {old} -> {new}"));
            }
        };
        cmp(
            "site.url",
            format!("{:?}", self.url),
            format!("{:?}", new.url),
        );
        cmp(
            "site.first_page",
            self.first_page.to_string(),
            new.first_page.to_string(),
        );
        let last = |l: Option<u64>| l.map_or("unset".to_string(), |l| l.to_string());
        cmp("site.last_page", last(self.last_page), last(new.last_page));
        cmp(
            "site.page_size",
            self.page_size.to_string(),
            new.page_size.to_string(),
        );
        cmp(
            "extract.item",
            format!("{:?}", self.item),
            format!("{:?}", new.item),
        );
        cmp(
            "extract.fields",
            format!("{:?}", self.fields),
            format!("{:?}", new.fields),
        );
        cmp(
            "[follow] and [download]",
            format!("{:?}", self.follow_ups),
            format!("{:?}", new.follow_ups),
        );
        cmp(
            "site.next and site.next_url",
            format!("{:?}", self.next),
            format!("{:?}", new.next),
        );
        out
    }
}

/// The settings of `[follow]` and `[download]` that shape an output line.
fn follow_ups(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(follow) = &config.follow {
        out.push(("follow.field".to_string(), follow.field.clone()));
        for (name, spec) in follow.extract.field_specs() {
            out.push((format!("follow.fields.{name}"), spec.source.clone()));
        }
        if let Some(parts) = &follow.parts {
            out.push(("follow.next".to_string(), parts.next.clone()));
            out.push(("follow.max_pages".to_string(), parts.max_pages.to_string()));
        }
    }
    if let Some(download) = &config.download {
        out.push(("download.field".to_string(), download.field.clone()));
        if let Some(name) = &download.name {
            out.push(("download.name".to_string(), name.to_string()));
        }
    }
    out
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum Record {
    /// First record: what crawl this is, and how long the output was when it began.
    Header {
        /// Format version.
        v: u32,
        /// Output bytes that predate this round and are never cut.
        base: u64,
        /// The crawl's identity.
        fp: Fingerprint,
        /// The round number, from 1.
        #[serde(default = "first_round")]
        round: u64,
        /// When the round started, in milliseconds since the Unix epoch.
        #[serde(default)]
        started_ms: u64,
        /// Seen-set bytes that predate this round and are never cut.
        #[serde(default)]
        seen_base: u64,
    },
    /// These pages' items are in the output, which is `len` bytes long after them.
    Commit {
        /// The pages committed by this record.
        pages: Vec<u64>,
        /// The output's length once they were written.
        len: u64,
        /// The seen-set file's length once their keys were added (with `output.dedup`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seen: Option<u64>,
        /// In "until empty" mode, the last page of the listing written so far and the hash of
        /// its items, so that a resumed crawl can tell a next page that merely repeats it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<(u64, u64)>,
        /// XXH3-64 of the output bytes this record commits (from the previous commit's `len`,
        /// or the header's `base`, to `len`): recovery checks them before it trusts `len`.
        /// Absent in version 1 journals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sum: Option<u64>,
        /// With `output.key`: the sequence number of the same record in the store, whose
        /// transaction is the commit point; a journal that lacks a later one is completed from
        /// the store when it is opened.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store: Option<u64>,
        /// On a listing paged by next links (`site.next`): the URL of each page committed and
        /// the next page's, so that a resumed crawl goes on where this one stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chain: Option<ChainMark>,
        /// With `output.key` on a shared frontier: the batches of gone keys whose events this
        /// record writes (numbered by Redis), so that a daemon restarted after a kill writes
        /// the batches it committed in Redis but not here, and only those.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gone: Vec<u64>,
    },
    /// A page failed after its retries; the next run tries it again.
    Failed {
        /// The page.
        page: u64,
        /// Why, in one line.
        reason: String,
    },
    /// "Until empty" mode found the end of the listing at this page.
    End {
        /// The first page with no items.
        page: u64,
    },
    /// The round finished: every page was crawled (or failed, in a scheduled service).
    #[serde(rename = "roundend")]
    RoundEnd {
        /// The round that finished.
        round: u64,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
}

/// What a commit record says of a listing paged by next links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMark {
    /// The URL of each page the record commits, in page order: a later next link to one of
    /// them is a loop.
    pub urls: Vec<String>,
    /// The URL of the page after the last of them; `None` when that page named none (it was
    /// the last page of the listing).
    pub next: Option<String>,
}

fn first_round() -> u64 {
    1
}

/// The checksum a commit record carries for the output bytes it commits (XXH3-64; the writer
/// computes the same while it writes them).
pub fn output_sum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// FNV-1a, 64 bits: enough to tell a torn or garbled line from a record.
fn checksum(bytes: &[u8]) -> u64 {
    crate::hash::fnv1a(bytes.iter().copied())
}

/// Encodes one record as a journal line: `<json> <checksum>\n`.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("records serialize");
    let sum = checksum(&line);
    line.extend_from_slice(format!(" {sum:016x}\n").as_bytes());
    line
}

/// Decodes a journal: every record up to the first line that is torn, garbled or unparsable.
/// Returns the records and the byte length of the valid prefix.
pub fn decode(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut valid = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            break; // a torn last line
        };
        let Some(split) = body.len().checked_sub(17).filter(|&i| body[i] == b' ') else {
            break;
        };
        let (json, sum) = (&body[..split], &body[split + 1..]);
        let ok = std::str::from_utf8(sum)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            == Some(checksum(json));
        let Some(record) = ok
            .then(|| serde_json::from_slice::<Record>(json).ok())
            .flatten()
        else {
            break;
        };
        records.push(record);
        valid += line.len();
    }
    (records, valid)
}

/// The open journal, owned by the writer thread.
#[derive(Debug)]
pub struct Journal {
    /// The journal file, opened for appending.
    pub(super) file: File,
    /// Its path, for error messages.
    pub(super) path: PathBuf,
}

impl Journal {
    /// Appends `record`; with `sync`, waits until it is on disk.
    pub fn append(&mut self, record: &Record, sync: bool) -> io::Result<()> {
        self.file.write_all(&encode(record))?;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Replaces `path` with `bytes`: temp file, sync, rename, sync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.with_context(|| format!("writing state file {}", path.display()))
}

/// Moves `path` aside to `<path>.<stamp>.old` if it exists; returns where it went.
pub fn move_aside(path: &Path, stamp: u64) -> Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{stamp}.old"));
    let to = PathBuf::from(name);
    std::fs::rename(path, &to)
        .with_context(|| format!("moving {} aside to {}", path.display(), to.display()))?;
    Ok(Some(to))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fp() -> Fingerprint {
        Fingerprint {
            url: "http://x/?p={page}".into(),
            first_page: 0,
            last_page: Some(9),
            page_size: 25,
            item: "div".into(),
            fields: vec![("t".into(), "a".into())],
            follow_ups: Vec::new(),
            next: Vec::new(),
        }
    }

    pub(crate) fn header(base: u64) -> Record {
        Record::Header {
            v: VERSION,
            base,
            fp: fp(),
            round: 1,
            started_ms: 1,
            seen_base: 0,
        }
    }

    pub(crate) fn commit(pages: &[u64], len: u64) -> Record {
        Record::Commit {
            pages: pages.to_vec(),
            len,
            seen: None,
            tail: None,
            sum: None,
            store: None,
            chain: None,
            gone: Vec::new(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let records = vec![header(0), commit(&[1, 2], 100), commit(&[3], 150)];
        let bytes: Vec<u8> = records.iter().flat_map(encode).collect();
        assert_eq!(decode(&bytes), (records.clone(), bytes.len()));
        for cut in 0..bytes.len() {
            let (got, valid) = decode(&bytes[..cut]);
            assert!(
                got.len() <= 3 && got[..] == records[..got.len()],
                "cut {cut}"
            );
            assert!(valid <= cut);
        }
        let mut garbled = bytes.clone();
        let at = garbled.len() - 20;
        garbled[at] ^= 1;
        assert_eq!(decode(&garbled).0, records[..2]);
    }

    #[test]
    fn differences_name_the_keys() {
        let mut new = fp();
        new.url = "http://y/?p={page}".into();
        new.last_page = None;
        let diff = fp().differences(&new);
        assert_eq!(diff.len(), 2);
        assert!(diff[0].starts_with("site.url: "));
        assert_eq!(diff[1], "site.last_page: 9 -> unset");
        // A crawl gains a detail field: its lines change shape.
        let mut followed = fp();
        followed.follow_ups = vec![("follow.fields.rating".into(), "strong".into())];
        let diff = fp().differences(&followed);
        assert_eq!(
            diff,
            [r#"[follow] and [download]: [] -> [("follow.fields.rating", "strong")]"#]
        );
        // An older state, without follow-ups, reads as none; none are not written.
        let text = serde_json::to_string(&fp()).unwrap();
        assert!(!text.contains("follow_ups"), "{text}");
        assert_eq!(serde_json::from_str::<Fingerprint>(&text).unwrap(), fp());
    }
}
