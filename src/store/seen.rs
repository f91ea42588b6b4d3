//! The seen-set of `output.dedup`: which item keys were already written, across rounds and runs.
//!
//! Each key is stored as its 128-bit XXH3 hash, 16 bytes appended to a file beside the state, so
//! the file grows linearly in the number of *unique* items and never holds item contents. The
//! writer thread owns the set during a round: it adds a key when it writes the item, and flushes
//! the new hashes before each commit record, which then names the file's length. Recovery cuts the
//! file back to the last committed length, exactly like the output, so a key is in the set if and
//! only if its item is in the committed output: a `kill -9` can neither lose an item for good nor
//! let one be written twice.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use log::warn;

/// Bytes per stored key.
const KEY_BYTES: usize = 16;

/// The hash of one item key, as stored.
pub type Key = u128;

/// Hashes an item's dedup key: the value of the dedup field, or all of the item's values when
/// that field is missing from the page (so a field-less item is still written only once).
pub fn key_of<S: AsRef<str>>(values: impl IntoIterator<Item = Option<S>>) -> Key {
    let mut bytes = Vec::with_capacity(128);
    for value in values {
        match value.as_ref().map(AsRef::as_ref) {
            // A tag byte and a length keep ("ab", "c") apart from ("a", "bc") and from None.
            Some(text) => {
                bytes.push(1);
                bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                bytes.extend_from_slice(text.as_bytes());
            }
            None => bytes.push(0),
        }
    }
    xxhash_rust::xxh3::xxh3_128(&bytes)
}

/// Keys are hashes already: the set's own hasher only needs to take 64 of their bits.
#[derive(Debug, Default)]
pub struct KeyHasher(u64);

/// A set of keys, hashed by [`KeyHasher`].
pub type KeySet = HashSet<Key, BuildHasherDefault<KeyHasher>>;

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for types other than u128; fold them in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

/// The set of keys written so far, and the file that keeps it.
#[derive(Debug)]
pub struct SeenSet {
    /// Every key in the file, plus those added since the last flush.
    keys: KeySet,
    /// Keys added since the last flush, encoded.
    pending: Vec<u8>,
    /// The file, opened for appending.
    file: File,
    /// Its path, for error messages.
    path: PathBuf,
    /// Its length after the last flush.
    len: u64,
}

impl SeenSet {
    /// Opens (or creates) the seen-set file at `path` and loads every key in it. Recovery has
    /// already cut it to its committed length; a torn last key (not a multiple of 16 bytes, which
    /// recovery never leaves) is ignored and overwritten.
    pub fn open(path: &Path) -> Result<SeenSet> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening seen-set file {}", path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .with_context(|| format!("reading seen-set file {}", path.display()))?;
        let whole = bytes.len() - bytes.len() % KEY_BYTES;
        if whole < bytes.len() {
            warn!(
                "seen-set file {}: ignoring a torn key at its end ({} bytes)",
                path.display(),
                bytes.len() - whole
            );
            file.set_len(whole as u64)
                .with_context(|| format!("truncating seen-set file {}", path.display()))?;
        }
        let mut keys = HashSet::with_capacity_and_hasher(whole / KEY_BYTES, Default::default());
        for chunk in bytes[..whole].chunks_exact(KEY_BYTES) {
            keys.insert(u128::from_le_bytes(chunk.try_into().expect("16 bytes")));
        }
        Ok(SeenSet {
            keys,
            pending: Vec::new(),
            file,
            path: path.to_path_buf(),
            len: whole as u64,
        })
    }

    /// Adds `key`; true if it was not in the set (its item is new and must be written).
    pub fn insert(&mut self, key: Key) -> bool {
        let new = self.keys.insert(key);
        if new {
            self.pending.extend_from_slice(&key.to_le_bytes());
        }
        new
    }

    /// A copy of every key in the set now.
    pub fn snapshot(&self) -> KeySet {
        self.keys.clone()
    }

    #[cfg(test)]
    /// Keys in the set.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Writes the keys added since the last flush (synced with `sync`) and returns the file's
    /// new length, for the commit record.
    pub fn flush(&mut self, sync: bool) -> io::Result<u64> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.len += self.pending.len() as u64;
            self.pending.clear();
            if sync {
                self.file.sync_data()?;
            }
        }
        Ok(self.len)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_values_apart() {
        assert_ne!(
            key_of([Some("ab"), Some("c")]),
            key_of([Some("a"), Some("bc")])
        );
        assert_ne!(key_of([Some("")]), key_of([None::<&str>]));
        assert_eq!(key_of([Some("x")]), key_of([Some("x")]));
    }

    #[test]
    fn keys_persist_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen");
        let mut set = SeenSet::open(&path).unwrap();
        assert!(set.insert(1) && set.insert(2) && !set.insert(1));
        assert_eq!(set.flush(true).unwrap(), 32);
        drop(set);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[7; 5]);
        std::fs::write(&path, bytes).unwrap();
        let mut set = SeenSet::open(&path).unwrap();
        assert_eq!(set.len(), 2);
        assert!(!set.insert(2) && set.insert(3));
        assert_eq!(set.flush(false).unwrap(), 48);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 48);
    }
}
