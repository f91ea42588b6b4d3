//! Opening the state for a round: recover what the journal proves, decide (by [`Mode`]) whether
//! this resumes the recorded round or starts the next, repair the output and the seen-set to
//! match, and rewrite the journal compactly. A missing state beside a non-empty output, a changed
//! config over committed pages, and an output changed underneath are refused here, naming the
//! file and what to do.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, bail};
use log::{info, warn};

use super::items::ItemStore;
use super::journal::{
    Fingerprint, Journal, Record, VERSION, decode, encode, now_ms, write_atomically,
};
use super::recovery::{Recovery, recover};
use super::verify;

/// What to do with a state file that holds a crawl already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One crawl: resume the recorded round, whether or not it finished (a finished one leaves
    /// nothing to fetch), and refuse a changed config.
    Resume,
    /// A scheduled service: resume an unfinished round; after a finished one, start the next
    /// round. A changed config ends an unfinished round early and starts the next one with it.
    Rounds,
    /// A daemon of a shared crawl with `output.key`, whose round Redis numbers: resume this
    /// round if it is the one recorded here, or start it (the round recorded here is over),
    /// and refuse a changed config, as [`Mode::Resume`] does.
    Shared(u64),
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
        Journal::open_keyed_round(files, fp, mode, None)
    }

    /// [`Journal::open_round`] for a keyed crawl whose `store` is the commit point: the
    /// journal is first completed with the commit records the store holds and it lacks (a
    /// `kill -9` between the store's transaction and the journal's record).
    pub(crate) fn open_keyed_round(
        files: &Files<'_>,
        fp: &Fingerprint,
        mode: Mode,
        store: Option<&ItemStore>,
    ) -> Result<Opened> {
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
        let (mut records, valid) = decode(&bytes);
        if let Some(store) = store {
            complete_from_store(&mut records, store, state_path)?;
        }
        let recovery = if records.is_empty() {
            let mut recovery = first_round(files, &bytes, output_len, seen_len)?;
            if let Mode::Shared(round) = mode {
                recovery.round = round;
            }
            recovery
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
            let lens = (output_len, seen_len);
            next_round(files, &old.differences(fp), mode, lens, recovery)?
        };
        write_atomically(state_path, &compact(fp, &recovery))?;
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
}

/// Appends to `records` (a journal's) the commit records of its round that `store` holds after
/// the journal's last one; refuses a store that lacks a commit the journal names (restored from
/// an older backup, say), which would report changes against values never written.
fn complete_from_store(records: &mut Vec<Record>, store: &ItemStore, state: &Path) -> Result<()> {
    let Some(Record::Header { round, .. }) = records.first() else {
        return Ok(());
    };
    let round = *round;
    let last = records
        .iter()
        .filter_map(|record| match record {
            Record::Commit { store, .. } => *store,
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if last > store.last_seq()? {
        bail!(
            "{} lacks commits that state file {} records (it was replaced, or restored from an \
             older copy): its values are not those the output was written against. Restore \
             it, or run with --fresh to move the output, its state and the store aside",
            store.path().display(),
            state.display()
        );
    }
    let missing = store.commits_after(round, last)?;
    if !missing.is_empty() {
        info!(
            "state file {}: {} commits completed from {}, where they were made",
            state.display(),
            missing.len(),
            store.path().display()
        );
    }
    for (seq, text) in missing {
        let mut record: Record = serde_json::from_str(&text)
            .with_context(|| format!("{}: a damaged commit record", store.path().display()))?;
        if let Record::Commit { store, .. } = &mut record {
            *store = Some(seq);
        }
        records.push(record);
    }
    Ok(())
}

/// A round that starts on the files as they are now.
fn new_round(round: u64, output_len: u64, seen_len: u64) -> Recovery {
    Recovery {
        output_len,
        base: output_len,
        seen_len,
        seen_base: seen_len,
        round,
        started_ms: now_ms(),
        ..Recovery::default()
    }
}

/// The first round, in a state file that holds no record (`bytes` of it, if any).
fn first_round(
    files: &Files<'_>,
    bytes: &[u8],
    output_len: u64,
    seen_len: u64,
) -> Result<Recovery> {
    let state_path = files.state;
    if !bytes.is_empty() {
        bail!(
            "state file {} is not a pagecrawl state (or its header is damaged); move it away, \
             or run with --fresh",
            state_path.display()
        );
    }
    if output_len > 0 {
        // Without the journal nothing in the output counts as committed, and resuming would
        // append every item again.
        bail!(
            "output {} holds {output_len} bytes, but its state file {} is missing or empty: \
             resuming would write every item again. Restore the state file (from a backup), \
             or run with --fresh to move the output aside and start over",
            files.output.display(),
            state_path.display()
        );
    }
    Ok(new_round(1, output_len, seen_len))
}

/// What this run does with the round `recovery` proves, as `mode` says: resume it, start the
/// next one, or refuse. `changes` are the differences of the config from the recorded crawl's;
/// `lens` the output's and the seen-set's lengths now.
fn next_round(
    files: &Files<'_>,
    changes: &[String],
    mode: Mode,
    lens: (u64, u64),
    recovery: Recovery,
) -> Result<Recovery> {
    let (output_len, seen_len) = lens;
    let state_path = files.state;
    if let Mode::Shared(round) = mode {
        return shared_round(files, changes, round, lens, recovery);
    }
    Ok(match mode {
        // A finished round's files are left as they are: the output may have been rotated
        // since, and nothing after its last commit is ours to cut.
        Mode::Rounds if recovery.ended_ms.is_some() => {
            new_round(recovery.round + 1, output_len, seen_len)
        }
        Mode::Rounds if !changes.is_empty() => {
            repair(files, output_len, seen_len, &recovery)?;
            warn!(
                "the config changed during round {} ({}): its remaining pages are dropped, and \
                 round {} starts with the new settings",
                recovery.round,
                changes.join("; "),
                recovery.round + 1
            );
            new_round(recovery.round + 1, recovery.output_len, recovery.seen_len)
        }
        // Nothing of the old crawl is in the output: nothing to mix it with. (A listing that
        // ended at its first page, say, before first_page was fixed.)
        Mode::Resume if !changes.is_empty() && recovery.committed.is_empty() => {
            repair(files, output_len, seen_len, &recovery)?;
            info!(
                "the config changed since {} was written ({}), but that crawl committed nothing: \
                 starting afresh with the new settings",
                state_path.display(),
                changes.join("; ")
            );
            new_round(recovery.round, recovery.output_len, recovery.seen_len)
        }
        Mode::Resume if !changes.is_empty() => bail!(
            "the config no longer matches the crawl recorded in {} ({}). Mixing two crawls in \
             one output is refused: restore the old settings to resume, or run with --fresh to \
             move the old output and state aside and start over",
            state_path.display(),
            changes.join("; ")
        ),
        Mode::Resume | Mode::Rounds | Mode::Shared(_) => {
            repair(files, output_len, seen_len, &recovery)?;
            recovery
        }
    })
}

/// [`next_round`] for a daemon of a shared crawl now in round `round`: the round recorded
/// here is resumed if it is that one, and otherwise cut back to its last commit and followed
/// by `round`.
fn shared_round(
    files: &Files<'_>,
    changes: &[String],
    round: u64,
    lens: (u64, u64),
    recovery: Recovery,
) -> Result<Recovery> {
    let (output_len, seen_len) = lens;
    let state_path = files.state;
    if !changes.is_empty() && !recovery.committed.is_empty() {
        bail!(
            "the config no longer matches the crawl recorded in {} ({}). Mixing two crawls in \
             one output is refused: restore the old settings, or run with --fresh to move the \
             old output and state aside and start over",
            state_path.display(),
            changes.join("; ")
        );
    }
    if recovery.round > round {
        bail!(
            "state file {} records round {} of this crawl, but the frontier in Redis is at \
             round {round}: were its keys deleted? Run with --fresh to move this output aside",
            state_path.display(),
            recovery.round
        );
    }
    repair(files, output_len, seen_len, &recovery)?;
    if recovery.round == round {
        return Ok(recovery);
    }
    Ok(new_round(round, recovery.output_len, recovery.seen_len))
}

/// The journal of `recovery`, written compactly: it drops the torn tail and void commits for
/// good. The commits that hold are kept one by one, each with the checksum of its own bytes.
fn compact(fp: &Fingerprint, recovery: &Recovery) -> Vec<u8> {
    let mut out = encode(&Record::Header {
        v: VERSION,
        base: recovery.base,
        fp: fp.clone(),
        round: recovery.round,
        started_ms: recovery.started_ms,
        seen_base: recovery.seen_base,
    });
    for span in &recovery.spans {
        out.extend(encode(&span.record()));
    }
    for (page, reason) in &recovery.failed {
        out.extend(encode(&Record::Failed {
            page: *page,
            reason: reason.clone(),
        }));
    }
    if let Some(page) = recovery.end {
        out.extend(encode(&Record::End { page }));
    }
    if let Some(at_ms) = recovery.ended_ms {
        out.extend(encode(&Record::RoundEnd {
            round: recovery.round,
            at_ms,
        }));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::tests::{commit, fp, header};
    use crate::store::recovery::last_round;

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
            chain: None,
            store: None,
            gone: Vec::new(),
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
