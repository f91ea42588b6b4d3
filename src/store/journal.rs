//! The crawl state: an append-only journal beside the output that says which pages are committed.
//!
//! A page is committed when all of its items are in the output file (synced, as `output.sync`
//! says) *and* a commit record naming it and the output's length after it is in the journal.
//! Recovery trusts only that: it cuts the output back to the last committed length it can prove,
//! so a torn line or the items of a page whose commit was not recorded disappear, and those pages
//! are fetched again. Every record carries a checksum, so a torn or garbled journal tail is
//! ignored rather than believed. Commit records also carry a checksum of the output bytes they
//! commit, and recovery checks the last one it keeps before it cuts anything (`state/verify.rs`): an
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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::verify;

/// The format version written in the journal header. Version 2 added the checksum of each
/// commit's output bytes (`sum`); version 1 journals are read as they are, their commits
/// unchecked.
const VERSION: u32 = 2;

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
}

impl Fingerprint {
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
        out
    }
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
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
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

/// What a journal says, once checked against the output file's length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Pages whose items are in the output.
    pub committed: BTreeSet<u64>,
    /// Pages that failed in an earlier run, with the reason.
    pub failed: BTreeMap<u64, String>,
    /// The end of the listing, if an earlier run found it.
    pub end: Option<u64>,
    /// The last listing page committed in "until empty" mode, with its items' hash.
    pub tail: Option<(u64, u64)>,
    /// The commits that hold, in output order, each with the bytes it covers.
    pub spans: Vec<Span>,
    /// The length the output must be cut back to.
    pub output_len: u64,
    /// Output bytes that predate this crawl.
    pub base: u64,
    /// Pages that a commit record names but whose bytes are no longer (all) in the output.
    pub lost_pages: Vec<u64>,
    /// The length the seen-set file must be cut back to.
    pub seen_len: u64,
    /// Seen-set bytes that predate this round.
    pub seen_base: u64,
    /// The round these commits belong to.
    pub round: u64,
    /// When that round started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it finished, if it did.
    pub ended_ms: Option<u64>,
}

/// One commit that holds: the output bytes `start..len` are the items of `pages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Where its bytes start: the previous commit's `len`, or the round's base.
    pub start: u64,
    /// As recorded, see [`Record::Commit`].
    pub pages: Vec<u64>,
    /// As recorded.
    pub len: u64,
    /// As recorded.
    pub seen: Option<u64>,
    /// As recorded.
    pub tail: Option<(u64, u64)>,
    /// As recorded; `None` in a version 1 journal.
    pub sum: Option<u64>,
}

impl Span {
    /// The record that commits it again, in a rewritten journal.
    fn record(&self) -> Record {
        Record::Commit {
            pages: self.pages.clone(),
            len: self.len,
            seen: self.seen,
            tail: self.tail,
            sum: self.sum,
        }
    }
}

/// Works out which commits still hold, given the records and the actual lengths of the output
/// and of the seen-set file (0 without `output.dedup`).
///
/// Commits are in output order: the first one that ends past the end of either file, and every
/// one after it, is void, and both files are cut back to the last commit that fits.
pub fn recover(
    records: &[Record],
    actual_len: u64,
    actual_seen_len: u64,
) -> Result<(Fingerprint, Recovery)> {
    let Some(Record::Header {
        v,
        base,
        fp,
        round,
        started_ms,
        seen_base,
    }) = records.first()
    else {
        bail!("the state file does not start with a valid header");
    };
    if !(1..=VERSION).contains(v) {
        bail!(
            "the state file has format version {v}; this pagecrawl reads versions 1 to \
             {VERSION} (it was written by a newer pagecrawl)"
        );
    }
    let mut rec = Recovery {
        output_len: (*base).min(actual_len),
        base: *base,
        seen_len: (*seen_base).min(actual_seen_len),
        seen_base: *seen_base,
        round: *round,
        started_ms: *started_ms,
        ..Recovery::default()
    };
    let mut void = false;
    for record in &records[1..] {
        match record {
            Record::Header { .. } => bail!("the state file has a second header"),
            Record::Commit {
                pages,
                len,
                seen,
                tail,
                sum,
            } => {
                let seen_fits =
                    seen.is_none_or(|seen| seen <= actual_seen_len && seen >= rec.seen_len);
                if void || *len > actual_len || *len < rec.output_len || !seen_fits {
                    void = true;
                    rec.lost_pages.extend(pages);
                } else {
                    rec.spans.push(Span {
                        start: rec.output_len,
                        pages: pages.clone(),
                        len: *len,
                        seen: *seen,
                        tail: *tail,
                        sum: *sum,
                    });
                    rec.output_len = *len;
                    if let Some(seen) = seen {
                        rec.seen_len = *seen;
                    }
                    if tail.is_some() {
                        rec.tail = *tail;
                    }
                    for page in pages {
                        rec.committed.insert(*page);
                        rec.failed.remove(page);
                    }
                }
            }
            Record::Failed { page, reason } => {
                rec.failed.insert(*page, reason.clone());
            }
            Record::End { page } => rec.end = Some(rec.end.map_or(*page, |e: u64| e.min(*page))),
            Record::RoundEnd { round, at_ms } => {
                if *round == rec.round {
                    rec.ended_ms = Some(*at_ms);
                }
            }
        }
    }
    rec.lost_pages.retain(|p| !rec.committed.contains(p));
    Ok((fp.clone(), rec))
}

/// What a state file says about its round, read without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundMark {
    /// The round number.
    pub round: u64,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it finished, if it did.
    pub ended_ms: Option<u64>,
}

/// Reads the round recorded in the state file at `path`, if there is a readable one.
pub fn last_round(path: &Path) -> Result<Option<RoundMark>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("reading state file {}", path.display()));
        }
    };
    let (records, _) = decode(&bytes);
    // Lengths do not matter here: only the header and the round's end are read.
    Ok(recover(&records, u64::MAX, u64::MAX)
        .ok()
        .map(|(_, rec)| RoundMark {
            round: rec.round,
            started_ms: rec.started_ms,
            ended_ms: rec.ended_ms,
        }))
}

/// What to do with a state file that holds a crawl already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One crawl: resume the recorded round, whether or not it finished (a finished one leaves
    /// nothing to fetch), and refuse a changed config.
    Resume,
    /// A scheduled service: resume an unfinished round; after a finished one, start the next
    /// round. A changed config ends an unfinished round early and starts the next one with it.
    Rounds,
}

/// The files a crawl keeps.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    /// The JSON Lines output.
    pub output: &'a Path,
    /// The journal.
    pub state: &'a Path,
    /// The seen-set file, with `output.dedup`.
    pub seen: Option<&'a Path>,
}

/// The open journal, owned by the writer thread.
#[derive(Debug)]
pub struct Journal {
    /// The journal file, opened for appending.
    file: File,
    /// Its path, for error messages.
    path: PathBuf,
}

/// What opening the state found, for the log and the feeder.
#[derive(Debug)]
pub struct Opened {
    /// The journal, ready for new records.
    pub journal: Journal,
    /// What this round committed before (empty for a new round), and its number.
    pub recovery: Recovery,
}

/// The length of the file at `path`; 0 if it does not exist or is not a regular file.
fn file_len(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Ok(0), // a pipe or device: nothing to recover
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

impl Journal {
    /// Opens the state at `state_path` for the one crawl `fp` ([`Mode::Resume`], no seen-set).
    pub fn open(state_path: &Path, output_path: &Path, fp: &Fingerprint) -> Result<Opened> {
        let files = Files {
            output: output_path,
            state: state_path,
            seen: None,
        };
        Journal::open_round(&files, fp, Mode::Resume)
    }

    /// Opens the state for the crawl `fp`, recovering the output (and the seen-set) to match it,
    /// and decides, as `mode` says, whether this resumes the recorded round or starts a new one.
    /// The journal is rewritten compactly either way.
    pub fn open_round(files: &Files<'_>, fp: &Fingerprint, mode: Mode) -> Result<Opened> {
        let output_len = file_len(files.output)?;
        let seen_len = match files.seen {
            Some(path) => file_len(path)?,
            None => 0,
        };
        let state_path = files.state;
        let bytes = match std::fs::read(state_path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading state file {}", state_path.display()));
            }
        };
        let (records, valid) = decode(&bytes);
        // A round that starts on the files as they are now.
        let new_round = |round: u64, output_len: u64, seen_len: u64| Recovery {
            output_len,
            base: output_len,
            seen_len,
            seen_base: seen_len,
            round,
            started_ms: now_ms(),
            ..Recovery::default()
        };
        let recovery = if records.is_empty() {
            if !bytes.is_empty() {
                bail!(
                    "state file {} is not a pagecrawl state (or its header is damaged); \
                     move it away, or run with --fresh",
                    state_path.display()
                );
            }
            if output_len > 0 {
                // Without the journal nothing in the output counts as committed, and resuming
                // would append every item again.
                bail!(
                    "output {} holds {output_len} bytes, but its state file {} is missing or \
                     empty: resuming would write every item again. Restore the state file \
                     (from a backup), or run with --fresh to move the output aside and start \
                     over",
                    files.output.display(),
                    state_path.display()
                );
            }
            new_round(1, output_len, seen_len)
        } else {
            if valid < bytes.len() {
                warn!(
                    "state file {}: ignoring {} bytes of torn or damaged records at its end",
                    state_path.display(),
                    bytes.len() - valid
                );
            }
            let (old, recovery) = recover(&records, output_len, seen_len)
                .with_context(|| format!("state file {}", state_path.display()))?;
            let changes = old.differences(fp);
            match mode {
                // A finished round's files are left as they are: the output may have been
                // rotated since, and nothing after its last commit is ours to cut.
                Mode::Rounds if recovery.ended_ms.is_some() => {
                    new_round(recovery.round + 1, output_len, seen_len)
                }
                Mode::Rounds if !changes.is_empty() => {
                    repair(files, output_len, seen_len, &recovery)?;
                    warn!(
                        "the config changed during round {} ({}): its remaining pages are \
                         dropped, and round {} starts with the new settings",
                        recovery.round,
                        changes.join("; "),
                        recovery.round + 1
                    );
                    new_round(recovery.round + 1, recovery.output_len, recovery.seen_len)
                }
                // Nothing of the old crawl is in the output: nothing to mix it with. (A
                // listing that ended at its first page, say, before first_page was fixed.)
                Mode::Resume if !changes.is_empty() && recovery.committed.is_empty() => {
                    repair(files, output_len, seen_len, &recovery)?;
                    info!(
                        "the config changed since {} was written ({}), but that crawl committed \
                         nothing: starting afresh with the new settings",
                        state_path.display(),
                        changes.join("; ")
                    );
                    new_round(recovery.round, recovery.output_len, recovery.seen_len)
                }
                Mode::Resume if !changes.is_empty() => bail!(
                    "the config no longer matches the crawl recorded in {} ({}). Mixing two \
                     crawls in one output is refused: restore the old settings to resume, or run \
                     with --fresh to move the old output and state aside and start over",
                    state_path.display(),
                    changes.join("; ")
                ),
                Mode::Resume | Mode::Rounds => {
                    repair(files, output_len, seen_len, &recovery)?;
                    recovery
                }
            }
        };
        // Rewrite the journal compactly: it drops the torn tail and void commits for good. The
        // commits that hold are kept one by one, each with the checksum of its own bytes.
        let mut compact = encode(&Record::Header {
            v: VERSION,
            base: recovery.base,
            fp: fp.clone(),
            round: recovery.round,
            started_ms: recovery.started_ms,
            seen_base: recovery.seen_base,
        });
        for span in &recovery.spans {
            compact.extend(encode(&span.record()));
        }
        for (page, reason) in &recovery.failed {
            compact.extend(encode(&Record::Failed {
                page: *page,
                reason: reason.clone(),
            }));
        }
        if let Some(page) = recovery.end {
            compact.extend(encode(&Record::End { page }));
        }
        if let Some(at_ms) = recovery.ended_ms {
            compact.extend(encode(&Record::RoundEnd {
                round: recovery.round,
                at_ms,
            }));
        }
        write_atomically(state_path, &compact)?;
        let file = OpenOptions::new()
            .append(true)
            .open(state_path)
            .with_context(|| format!("opening state file {}", state_path.display()))?;
        Ok(Opened {
            journal: Journal {
                file,
                path: state_path.to_path_buf(),
            },
            recovery,
        })
    }

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

/// Checks that the output still holds what `recovery` relies on, then cuts it (and the
/// seen-set) back to what is committed.
fn repair(files: &Files<'_>, output_len: u64, seen_len: u64, recovery: &Recovery) -> Result<()> {
    verify::check(files.output, &recovery.spans)?;
    cut_files(files, output_len, seen_len, recovery)
}

/// Cuts the output and the seen-set back to what `recovery` proves committed.
fn cut_files(files: &Files<'_>, output_len: u64, seen_len: u64, recovery: &Recovery) -> Result<()> {
    if recovery.output_len < output_len {
        cut_output(files.output, output_len, recovery)?;
    }
    if let Some(path) = files.seen
        && recovery.seen_len < seen_len
    {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| {
                file.set_len(recovery.seen_len)?;
                file.sync_all()
            })
            .with_context(|| format!("truncating seen-set file {}", path.display()));
        file?;
        info!(
            "recovery: cut {} bytes of uncommitted keys from the end of {}",
            seen_len - recovery.seen_len,
            path.display()
        );
    }
    Ok(())
}

/// Cuts the output back to `recovery.output_len`, saying what goes.
fn cut_output(path: &Path, len: u64, recovery: &Recovery) -> Result<()> {
    let cut = len - recovery.output_len;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {} to repair it", path.display()))?;
    // Which pages the cut lines belonged to, as far as they can be read: only the tail is read.
    let mut tail = Vec::new();
    let read_tail = (|| {
        let mut reader = File::open(path)?;
        reader.seek(SeekFrom::Start(recovery.output_len))?;
        reader.take(cut).read_to_end(&mut tail)
    })();
    if let Err(err) = read_tail {
        warn!(
            "recovery: could not read the cut tail of {}: {err}",
            path.display()
        );
    }
    let mut pages: BTreeSet<u64> = recovery.lost_pages.iter().copied().collect();
    for line in tail.split(|&b| b == b'\n') {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line)
            && let Some(page) = v["page"].as_u64()
        {
            pages.insert(page);
        }
    }
    file.set_len(recovery.output_len)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("truncating {}", path.display()))?;
    info!(
        "recovery: cut {cut} bytes from the end of {} (uncommitted or torn; pages {:?} will be \
         fetched again)",
        path.display(),
        pages
    );
    Ok(())
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
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint {
            url: "http://x/?p={page}".into(),
            first_page: 0,
            last_page: Some(9),
            page_size: 25,
            item: "div".into(),
            fields: vec![("t".into(), "a".into())],
        }
    }

    fn header(base: u64) -> Record {
        Record::Header {
            v: VERSION,
            base,
            fp: fp(),
            round: 1,
            started_ms: 1,
            seen_base: 0,
        }
    }

    fn commit(pages: &[u64], len: u64) -> Record {
        Record::Commit {
            pages: pages.to_vec(),
            len,
            seen: None,
            tail: None,
            sum: None,
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
    fn commits_past_the_output_end_are_void() {
        let records = [
            header(10),
            commit(&[0], 100),
            commit(&[1], 200),
            commit(&[2], 300),
        ];
        let (_, rec) = recover(&records, 250, 0).unwrap();
        assert_eq!(rec.output_len, 200);
        assert_eq!(rec.committed, BTreeSet::from([0, 1]));
        assert_eq!(rec.lost_pages, [2]);
        let (_, rec) = recover(&records, 5, 0).unwrap();
        assert_eq!((rec.output_len, rec.committed.len()), (5, 0));
    }

    #[test]
    fn failed_pages_are_kept_until_committed() {
        let records = [
            header(0),
            Record::Failed {
                page: 4,
                reason: "http status 500".into(),
            },
            Record::Failed {
                page: 5,
                reason: "timed out".into(),
            },
            commit(&[5], 10),
            Record::End { page: 8 },
        ];
        let (_, rec) = recover(&records, 10, 0).unwrap();
        assert_eq!(rec.failed.keys().copied().collect::<Vec<_>>(), [4]);
        assert_eq!(rec.end, Some(8));
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
    }

    #[test]
    fn open_cuts_the_output_and_compacts_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (out, state) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        std::fs::write(&out, b"{\"page\":0}\n{\"page\":1}\n{\"pa").unwrap();
        let records = [
            header(0),
            commit(&[0], 11),
            commit(&[1], 22),
            commit(&[2], 40),
        ];
        let mut bytes: Vec<u8> = records.iter().flat_map(encode).collect();
        bytes.extend_from_slice(b"{\"t\":\"comm"); // a torn record
        std::fs::write(&state, bytes).unwrap();
        let opened = Journal::open(&state, &out, &fp()).unwrap();
        assert_eq!(opened.recovery.committed, BTreeSet::from([0, 1]));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"{\"page\":0}\n{\"page\":1}\n"
        );
        let (again, valid) = decode(&std::fs::read(&state).unwrap());
        assert_eq!(valid, std::fs::metadata(&state).unwrap().len() as usize);
        assert_eq!(again[1..], [commit(&[0], 11), commit(&[1], 22)]);
    }

    #[test]
    fn open_refuses_a_changed_config_once_something_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (out, state) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        drop(Journal::open(&state, &out, &fp()).unwrap());
        let mut new = fp();
        new.item = "li".into();
        // Nothing committed: nothing to mix, the new config starts afresh.
        let opened = Journal::open(&state, &out, &new).unwrap();
        assert!(opened.recovery.committed.is_empty());
        let mut journal = opened.journal;
        std::fs::write(&out, b"{\"page\":0}\n").unwrap();
        journal.append(&commit(&[0], 11), true).unwrap();
        drop(journal);
        let err = format!("{:#}", Journal::open(&state, &out, &fp()).unwrap_err());
        assert!(err.contains("extract.item: \"li\" -> \"div\""), "{err}");
        assert!(err.contains("--fresh"), "{err}");
    }

    #[test]
    fn rounds_follow_the_recorded_end_and_cut_the_seen_set_with_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let (out, state, seen) = (
            dir.path().join("o.jsonl"),
            dir.path().join("o.state"),
            dir.path().join("o.seen"),
        );
        let files = Files {
            output: &out,
            state: &state,
            seen: Some(&seen),
        };
        // Round 1: one page committed with two keys; then a page written, a key flushed, and a
        // crash before its commit record.
        let opened = Journal::open_round(&files, &fp(), Mode::Rounds).unwrap();
        assert_eq!((opened.recovery.round, opened.recovery.ended_ms), (1, None));
        let mut journal = opened.journal;
        std::fs::write(&out, b"{\"page\":0}\n{\"page\":1}\n").unwrap();
        std::fs::write(&seen, [0u8; 48]).unwrap();
        let commit = Record::Commit {
            pages: vec![0],
            len: 11,
            seen: Some(32),
            tail: None,
            sum: None,
        };
        journal.append(&commit, true).unwrap();
        drop(journal);

        // Resumed: both files are cut back to the commit.
        let opened = Journal::open_round(&files, &fp(), Mode::Rounds).unwrap();
        assert_eq!(opened.recovery.round, 1);
        assert_eq!(opened.recovery.committed, BTreeSet::from([0]));
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 11);
        assert_eq!(std::fs::metadata(&seen).unwrap().len(), 32);
        let mut journal = opened.journal;
        let end = Record::RoundEnd { round: 1, at_ms: 5 };
        journal.append(&end, true).unwrap();
        drop(journal);
        let mark = last_round(&state).unwrap().unwrap();
        assert_eq!((mark.round, mark.ended_ms), (1, Some(5)));

        // A single crawl resumes the finished round: nothing left to fetch.
        let opened = Journal::open_round(&files, &fp(), Mode::Resume).unwrap();
        assert_eq!(opened.recovery.committed, BTreeSet::from([0]));
        drop(opened);
        // A service starts round 2 on the files as they are, even a rotated (emptied) output.
        std::fs::write(&out, b"").unwrap();
        let opened = Journal::open_round(&files, &fp(), Mode::Rounds).unwrap();
        let rec = &opened.recovery;
        assert_eq!((rec.round, rec.base, rec.seen_base), (2, 0, 32));
        assert!(rec.committed.is_empty() && rec.ended_ms.is_none());
        drop(opened);

        // A changed config mid-round starts round 3 instead of being refused.
        let mut new = fp();
        new.item = "li".into();
        let opened = Journal::open_round(&files, &new, Mode::Rounds).unwrap();
        assert_eq!(opened.recovery.round, 3);
    }
}
