//! What a journal proves: the commits that still hold against the files as they are, the pages
//! they cover, the failed pages and the end of the listing, and the round they belong to. Pure:
//! it reads records and lengths, and changes nothing (`resume.rs` does the cutting).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::journal::{ChainMark, Fingerprint, Record, VERSION, decode};

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
    /// On a listing paged by next links: the URL of every page committed, in page order, and
    /// the next page's after the last of them (see [`ChainMark`]).
    pub chain: Option<ChainMark>,
    /// On a shared frontier with `output.key`: the batches of gone keys whose events the
    /// output holds.
    pub gone: BTreeSet<u64>,
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
    /// As recorded: the record's sequence number in the store of `output.key`.
    pub store: Option<u64>,
    /// As recorded.
    pub chain: Option<ChainMark>,
    /// As recorded: the shared crawl's batches of gone keys it writes.
    pub gone: Vec<u64>,
}

impl Span {
    /// The record that commits it again, in a rewritten journal.
    pub(super) fn record(&self) -> Record {
        Record::Commit {
            pages: self.pages.clone(),
            len: self.len,
            seen: self.seen,
            tail: self.tail,
            sum: self.sum,
            store: self.store,
            chain: self.chain.clone(),
            gone: self.gone.clone(),
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
                store,
                chain,
                gone,
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
                        store: *store,
                        chain: chain.clone(),
                        gone: gone.clone(),
                    });
                    rec.gone.extend(gone);
                    if let Some(mark) = chain {
                        let known = rec.chain.get_or_insert_with(|| ChainMark {
                            urls: Vec::new(),
                            next: None,
                        });
                        known.urls.extend(mark.urls.iter().cloned());
                        known.next = mark.next.clone();
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::tests::{commit, header};

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
}
