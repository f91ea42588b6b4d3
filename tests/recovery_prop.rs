//! Property tests of crash recovery: whatever a crash leaves behind (a torn or garbled journal
//! tail, an output cut anywhere), recovery keeps exactly the commits it can prove, cuts the output
//! back to them, and is idempotent.

use std::collections::BTreeSet;

use pagecrawl::testing::{Files, Mode};
use pagecrawl::testing::{Fingerprint, Journal, Record, decode, encode, output_sum};
use proptest::prelude::*;

fn fingerprint() -> Fingerprint {
    Fingerprint {
        url: "http://127.0.0.1/top250?start={offset}".into(),
        first_page: 0,
        last_page: Some(999),
        page_size: 25,
        item: "div.pl2".into(),
        fields: vec![("title".into(), "a".into())],
        follow_ups: Vec::new(),
        next: Vec::new(),
    }
}

/// What a writer produced before the crash: the full output, the full journal, and each
/// commit's `(pages, len)` in order.
struct Written {
    output: Vec<u8>,
    journal: Vec<u8>,
    commits: Vec<(Vec<u64>, u64)>,
}

/// Simulates the writer: batches of pages, each page a few whole JSON lines, one commit record
/// per batch with the checksum of its bytes; failed and end records sprinkled between.
fn write(batches: &[Vec<u8>], noise: &[bool]) -> Written {
    let mut output = Vec::new();
    let mut journal = encode(&Record::Header {
        v: 2,
        base: 0,
        fp: fingerprint(),
        round: 1,
        started_ms: 0,
        seen_base: 0,
    });
    let mut commits = Vec::new();
    let mut page = 0u64;
    for (i, batch) in batches.iter().enumerate() {
        let mut pages = Vec::new();
        let start = output.len();
        for &lines in batch {
            for item in 0..lines {
                output.extend_from_slice(
                    format!("{{\"page\":{page},\"title\":\"书 {item}\"}}\n").as_bytes(),
                );
            }
            pages.push(page);
            page += 1;
        }
        if noise.get(i).copied().unwrap_or(false) {
            journal.extend(encode(&Record::Failed {
                page: 10_000 + i as u64,
                reason: "http status 500".into(),
            }));
        }
        journal.extend(encode(&Record::Commit {
            pages: pages.clone(),
            len: output.len() as u64,
            seen: None,
            tail: None,
            sum: Some(output_sum(&output[start..])),
            store: None,
            chain: None,
            gone: Vec::new(),
        }));
        commits.push((pages, output.len() as u64));
    }
    Written {
        output,
        journal,
        commits,
    }
}

/// The commits recovery must keep: those whose record survived the damage, in order, up to the
/// first one that does not fit the damaged output.
fn expected(written: &Written, journal: &[u8], output_len: u64) -> (BTreeSet<u64>, u64) {
    let surviving = decode(journal)
        .0
        .into_iter()
        .filter(|r| matches!(r, Record::Commit { .. }))
        .count();
    let mut committed = BTreeSet::new();
    let mut len = 0;
    for (pages, commit_len) in written.commits.iter().take(surviving) {
        if *commit_len > output_len {
            break;
        }
        committed.extend(pages);
        len = *commit_len;
    }
    (committed, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn recovery_keeps_exactly_the_provable_commits(
        batches in prop::collection::vec(prop::collection::vec(0u8..4, 1..5), 1..12),
        noise in prop::collection::vec(any::<bool>(), 0..12),
        journal_cut in any::<prop::sample::Index>(),
        flip in prop::option::of((any::<prop::sample::Index>(), 1u8..=255)),
        output_cut in any::<prop::sample::Index>(),
    ) {
        let written = write(&batches, &noise);
        // Damage: a torn journal tail, perhaps a flipped byte, and an output cut anywhere.
        let mut journal = written.journal[..journal_cut.index(written.journal.len() + 1)].to_vec();
        if let Some((at, mask)) = flip
            && !journal.is_empty()
        {
            let at = at.index(journal.len());
            journal[at] ^= mask;
        }
        let output_len = output_cut.index(written.output.len() + 1);
        let output = &written.output[..output_len];

        let dir = tempfile::tempdir().unwrap();
        let (out_path, state_path) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        std::fs::write(&out_path, output).unwrap();
        std::fs::write(&state_path, &journal).unwrap();

        let opened = Journal::open(&state_path, &out_path, &fingerprint());
        let header_survived = matches!(decode(&journal).0.first(), Some(Record::Header { .. }));
        if !header_survived {
            // A state whose header is gone is refused when it has bytes. An empty one is a new
            // crawl only beside an empty output: beside items it would append them all again.
            prop_assert_eq!(opened.is_ok(), journal.is_empty() && output.is_empty());
            return Ok(());
        }
        let opened = opened.unwrap();
        let (want_pages, want_len) = expected(&written, &journal, output_len as u64);
        prop_assert_eq!(&opened.recovery.committed, &want_pages);
        prop_assert_eq!(opened.recovery.output_len, want_len);
        let repaired = std::fs::read(&out_path).unwrap();
        prop_assert_eq!(&repaired[..], &written.output[..want_len as usize]);
        // Every line left is whole and belongs to a committed page.
        for line in repaired.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let value: serde_json::Value = serde_json::from_slice(line).unwrap();
            prop_assert!(want_pages.contains(&value["page"].as_u64().unwrap()));
        }
        drop(opened);

        // Opening again changes nothing.
        let state_before = std::fs::read(&state_path).unwrap();
        let again = Journal::open(&state_path, &out_path, &fingerprint()).unwrap();
        prop_assert_eq!(&again.recovery.committed, &want_pages);
        prop_assert_eq!(std::fs::read(&out_path).unwrap(), repaired);
        prop_assert_eq!(std::fs::read(&state_path).unwrap(), state_before);
    }

    #[test]
    fn decode_never_panics_and_keeps_a_valid_prefix(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (records, valid) = decode(&bytes);
        prop_assert!(valid <= bytes.len());
        let reencoded: Vec<u8> = records.iter().flat_map(encode).collect();
        prop_assert_eq!(&reencoded[..], &bytes[..valid]);
    }

    #[test]
    fn any_prefix_of_a_journal_decodes_to_a_prefix_of_its_records(
        batches in prop::collection::vec(prop::collection::vec(0u8..3, 1..4), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let written = write(&batches, &[]);
        let all = decode(&written.journal).0;
        prop_assert_eq!(all.len(), 1 + batches.len());
        let prefix = decode(&written.journal[..cut.index(written.journal.len() + 1)]).0;
        prop_assert_eq!(&all[..prefix.len()], &prefix[..]);
    }

    #[test]
    fn bytes_that_predate_the_round_are_never_cut(
        before in prop::collection::vec(any::<u8>(), 1..512),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (out_path, state_path) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        let files = Files { output: &out_path, state: &state_path, seen: None };
        // A finished round wrote `before` (an older journal, without checksums).
        std::fs::write(&out_path, &before).unwrap();
        let mut journal = encode(&Record::Header {
            v: 1, base: 0, fp: fingerprint(), round: 1, started_ms: 0, seen_base: 0,
        });
        journal.extend(encode(&Record::Commit {
            pages: vec![0], len: before.len() as u64, seen: None, tail: None, sum: None,
            store: None, chain: None, gone: Vec::new(),
        }));
        journal.extend(encode(&Record::RoundEnd { round: 1, at_ms: 1 }));
        std::fs::write(&state_path, journal).unwrap();
        // The next round adopts what is there as its base...
        let opened = Journal::open_round(&files, &fingerprint(), Mode::Rounds).unwrap();
        prop_assert_eq!(opened.recovery.base, before.len() as u64);
        prop_assert_eq!(opened.recovery.round, 2);
        drop(opened);
        // ...and uncommitted bytes after it are cut back to it, never further.
        let mut grown = before.clone();
        grown.extend_from_slice(&tail);
        std::fs::write(&out_path, &grown).unwrap();
        let again = Journal::open_round(&files, &fingerprint(), Mode::Rounds).unwrap();
        prop_assert_eq!(again.recovery.output_len, before.len() as u64);
        prop_assert_eq!(std::fs::read(&out_path).unwrap(), before);
    }

    #[test]
    fn an_output_edited_by_hand_is_refused_or_left_consistent(
        batches in prop::collection::vec(prop::collection::vec(1u8..4, 1..4), 2..10),
        line in any::<prop::sample::Index>(),
        insert in any::<bool>(),
    ) {
        let written = write(&batches, &[]);
        let lines: Vec<&[u8]> = written.output.split_inclusive(|&b| b == b'\n').collect();
        let at = line.index(lines.len());
        let offset: usize = lines[..at].iter().map(|l| l.len()).sum();
        let mut edited: Vec<u8> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if i == at && insert {
                edited.extend_from_slice(b"{\"page\":999,\"title\":\"added by hand\"}\n");
            }
            if i != at || insert {
                edited.extend_from_slice(l);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let (out_path, state_path) = (dir.path().join("o.jsonl"), dir.path().join("o.state"));
        std::fs::write(&out_path, &edited).unwrap();
        std::fs::write(&state_path, &written.journal).unwrap();

        match Journal::open(&state_path, &out_path, &fingerprint()) {
            // Refused: nothing is touched, and the commit named starts at or before the edit.
            Err(err) => {
                let err = format!("{err:#}");
                prop_assert_eq!(std::fs::read(&out_path).unwrap(), edited.clone());
                let named: usize = err.split("from offset ").nth(1).unwrap()
                    .split(' ').next().unwrap().parse().unwrap();
                prop_assert!(named <= offset, "{} > {}: {}", named, offset, err);
            }
            // Accepted: only when the edit lies in commits that no longer fit, which are cut
            // away; what is left is exactly what was committed.
            Ok(opened) => {
                let len = opened.recovery.output_len as usize;
                prop_assert!(len <= offset, "kept {} bytes, edited at {}", len, offset);
                prop_assert_eq!(&std::fs::read(&out_path).unwrap()[..], &written.output[..len]);
            }
        }
    }
}
