//! The crawl state: an append-only journal beside the output that says which pages are committed.
//!
//! A page is committed when all of its items are in the output file (synced, as `output.sync`
//! says) *and* a commit record naming it and the output's length after it is in the journal.
//! Recovery trusts only that: it cuts the output back to the last committed length it can prove,
//! so a torn line or the items of a page whose commit was not recorded disappear, and those pages
//! are fetched again. Every record carries a checksum, so a torn or garbled journal tail is
//! ignored rather than believed. The writer thread is this module's only user during a crawl;
//! this module never decides what to crawl.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use log::{info, warn};
use serde::{Deserialize, Serialize};

/// The format version written in the journal header.
const VERSION: u32 = 1;

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
        /// Output bytes that predate this crawl and are never cut.
        base: u64,
        /// The crawl's identity.
        fp: Fingerprint,
    },
    /// These pages' items are in the output, which is `len` bytes long after them.
    Commit {
        /// The pages committed by this record.
        pages: Vec<u64>,
        /// The output's length once they were written.
        len: u64,
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
    /// The length the output must be cut back to.
    pub output_len: u64,
    /// Output bytes that predate this crawl.
    pub base: u64,
    /// Pages that a commit record names but whose bytes are no longer (all) in the output.
    pub lost_pages: Vec<u64>,
}

/// Works out which commits still hold, given the records and the output's actual length.
///
/// Commits are in output order: the first one that ends past the file's end, and every one after
/// it, is void, and the output is cut back to the last commit that fits.
pub fn recover(records: &[Record], actual_len: u64) -> Result<(Fingerprint, Recovery)> {
    let Some(Record::Header { v, base, fp }) = records.first() else {
        bail!("the state file does not start with a valid header");
    };
    if *v != VERSION {
        bail!("the state file has format version {v}; this pagecrawl reads version {VERSION}");
    }
    let mut rec = Recovery {
        output_len: (*base).min(actual_len),
        base: *base,
        ..Recovery::default()
    };
    let mut void = false;
    for record in &records[1..] {
        match record {
            Record::Header { .. } => bail!("the state file has a second header"),
            Record::Commit { pages, len } => {
                if void || *len > actual_len || *len < rec.output_len {
                    void = true;
                    rec.lost_pages.extend(pages);
                } else {
                    rec.output_len = *len;
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
        }
    }
    rec.lost_pages.retain(|p| !rec.committed.contains(p));
    Ok((fp.clone(), rec))
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
    /// What was committed before.
    pub recovery: Recovery,
}

impl Journal {
    /// Opens the state at `state_path` for the crawl `fp`, recovering `output_path` to match it,
    /// or starts a new state if there is none.
    pub fn open(state_path: &Path, output_path: &Path, fp: &Fingerprint) -> Result<Opened> {
        let output_len = match std::fs::metadata(output_path) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => 0, // a pipe or device: nothing to recover
            Err(err) if err.kind() == io::ErrorKind::NotFound => 0,
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", output_path.display()));
            }
        };
        let bytes = match std::fs::read(state_path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading state file {}", state_path.display()));
            }
        };
        let (records, valid) = decode(&bytes);
        let recovery = if records.is_empty() {
            if !bytes.is_empty() {
                bail!(
                    "state file {} is not a pagecrawl state (or its header is damaged); \
                     move it away, or run with --fresh",
                    state_path.display()
                );
            }
            Recovery {
                output_len,
                base: output_len,
                ..Recovery::default()
            }
        } else {
            if valid < bytes.len() {
                warn!(
                    "state file {}: ignoring {} bytes of torn or damaged records at its end",
                    state_path.display(),
                    bytes.len() - valid
                );
            }
            let (old, recovery) = recover(&records, output_len)
                .with_context(|| format!("state file {}", state_path.display()))?;
            let changes = old.differences(fp);
            if !changes.is_empty() {
                bail!(
                    "the config no longer matches the crawl recorded in {} ({}). Mixing two \
                     crawls in one output is refused: restore the old settings to resume, or run \
                     with --fresh to move the old output and state aside and start over",
                    state_path.display(),
                    changes.join("; ")
                );
            }
            recovery
        };
        if recovery.output_len < output_len {
            cut_output(output_path, output_len, &recovery)?;
        }
        // Rewrite the journal compactly: it drops the torn tail and void commits for good.
        let mut compact = encode(&Record::Header {
            v: VERSION,
            base: recovery.base,
            fp: fp.clone(),
        });
        if !recovery.committed.is_empty() {
            compact.extend(encode(&Record::Commit {
                pages: recovery.committed.iter().copied().collect(),
                len: recovery.output_len,
            }));
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
        }
    }

    fn commit(pages: &[u64], len: u64) -> Record {
        Record::Commit {
            pages: pages.to_vec(),
            len,
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
        let (_, rec) = recover(&records, 250).unwrap();
        assert_eq!(rec.output_len, 200);
        assert_eq!(rec.committed, BTreeSet::from([0, 1]));
        assert_eq!(rec.lost_pages, [2]);
        let (_, rec) = recover(&records, 5).unwrap();
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
        let (_, rec) = recover(&records, 10).unwrap();
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
        assert_eq!(again[1], commit(&[0, 1], 22));
    }

    #[test]
    fn open_refuses_a_changed_config() {
        let dir = tempfile::tempdir().unwrap();
        let (out, state) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        Journal::open(&state, &out, &fp()).unwrap();
        let mut new = fp();
        new.item = "li".into();
        let err = format!("{:#}", Journal::open(&state, &out, &new).unwrap_err());
        assert!(err.contains("extract.item: \"div\" -> \"li\""), "{err}");
        assert!(err.contains("--fresh"), "{err}");
    }
}
