//! Checks that the output still holds the bytes its commit records say, before recovery trusts
//! their offsets and cuts the file at one of them.
//!
//! Each commit record carries the XXH3-64 of the output bytes it committed. A line deleted or
//! inserted by hand shifts every byte after it, so the last commit recovery keeps no longer
//! matches; checking that one commit is cheap (one batch of pages) and catches any such change
//! before it. Only when it fails are the commits checked from the start, to name the first one
//! that changed. A file changed underneath is refused, never cut: cutting it at a recorded
//! offset would leave a torn line in the middle and an item that is never fetched again.
//! This module reads the output and changes nothing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, bail};
use xxhash_rust::xxh3::Xxh3;

use super::recovery::Span;

/// The XXH3-64 of the bytes `start..end` of `file`.
fn sum_of(file: &mut File, start: u64, end: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Xxh3::new();
    let mut left = end - start;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.digest())
}

/// Whether the bytes of `span` are still what was committed (a span without a checksum, from
/// a version 1 journal, is taken on trust).
fn holds(file: &mut File, span: &Span) -> io::Result<bool> {
    match span.sum {
        Some(sum) => Ok(sum_of(file, span.start, span.len)? == sum),
        None => Ok(true),
    }
}

/// Refuses an output whose committed bytes changed since they were written: the last commit
/// that has a checksum is checked, and if it fails, the first commit that fails is named.
pub fn check(path: &Path, spans: &[Span]) -> Result<()> {
    let Some(last) = spans.iter().rev().find(|span| span.sum.is_some()) else {
        return Ok(());
    };
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reading = || format!("reading {} to check it", path.display());
    if holds(&mut file, last).with_context(reading)? {
        return Ok(());
    }
    let mut first_bad = last;
    for span in spans {
        if !holds(&mut file, span).with_context(reading)? {
            first_bad = span;
            break;
        }
    }
    let mut pages: Vec<String> = first_bad.pages.iter().take(5).map(u64::to_string).collect();
    if first_bad.pages.len() > pages.len() {
        pages.push(format!("… ({} pages in all)", first_bad.pages.len()));
    }
    bail!(
        "output {} was changed after pagecrawl wrote it: the bytes from offset {} to {} (the \
         items of pages {}) are no longer what was committed (a line edited, deleted or inserted \
         by hand? `copytruncate` in logrotate?). Recovery would cut it at the wrong place, so \
         it is left as it is: restore it, or run with --fresh to move it and its state aside and \
         start over",
        path.display(),
        first_bad.start,
        first_bad.len,
        pages.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::output_sum as sum;

    fn span(start: u64, len: u64, bytes: &[u8], page: u64) -> Span {
        Span {
            start,
            pages: vec![page],
            len,
            seen: None,
            tail: None,
            chain: None,
            sum: Some(sum(&bytes[start as usize..len as usize])),
            store: None,
            gone: Vec::new(),
        }
    }

    #[test]
    fn a_deleted_line_is_named_by_the_first_commit_it_shifts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        let out = b"{\"page\":0}\n{\"page\":1}\n{\"page\":2}\n{\"page\":3}\n";
        let spans: Vec<Span> = (0..4).map(|p| span(p * 11, p * 11 + 11, out, p)).collect();
        std::fs::write(&path, out).unwrap();
        check(&path, &spans).unwrap();

        // Page 1's line deleted: recovery would keep the commits up to the new length (3
        // pages), and the third no longer holds page 2's bytes.
        let mut edited = out.to_vec();
        edited.drain(11..22);
        std::fs::write(&path, &edited).unwrap();
        let err = format!("{:#}", check(&path, &spans[..3]).unwrap_err());
        assert!(
            err.contains("from offset 11 to 22 (the items of pages 1)"),
            "{err}"
        );
        assert!(err.contains("--fresh"), "{err}");

        // Commits without a checksum (a version 1 journal) are trusted.
        let unchecked: Vec<Span> = spans[..3]
            .iter()
            .cloned()
            .map(|s| Span { sum: None, ..s })
            .collect();
        check(&path, &unchecked).unwrap();
    }
}
