//! Every key of the config file, defined once: its path, its default as the docs show it, what
//! it means, what `pagecrawl check` notes when it is unset, and the bounds its value is held to.
//!
//! The typed sections (`sections.rs`, `follow.rs`) say how a key is read and what type it
//! becomes; this table says everything else about it. `check_bounds` holds the file to the
//! bounds before it is deserialized (so a message names the key, its bound and the value),
//! `describe.rs` prints the keys in this order with these notes, and `docs.rs` makes the
//! reference table of `docs/configuration.md` from it. Nothing here reads a file or a network.

use std::time::Duration;

use anyhow::{Result, bail};

/// What a bound measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A whole number (a count, a capacity, milliseconds, whole seconds).
    Number,
    /// A number of seconds, fractions allowed, above 0.
    Seconds,
    /// The length of a piece of text, in bytes.
    Bytes,
    /// How many entries a table holds.
    Entries,
    /// The size of the file the key names, in bytes (checked when the file is read).
    FileBytes,
}

/// The bounds of one setting, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
    /// What the bound measures.
    pub measure: Measure,
}

/// One key of the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// `table.key` as in the file; `table.*` for each entry of a table (`extract.fields.*`).
    pub path: &'static str,
    /// The default, as the docs show it: a value, "required", "unset", or words.
    pub default: &'static str,
    /// What the key means, for the docs' reference table.
    pub doc: &'static str,
    /// What `pagecrawl check` notes when the key is unset (optional keys without a default).
    pub unset: Option<&'static str>,
    /// The bounds its value is held to, if any.
    pub bound: Option<Bound>,
}

/// A key without bounds or note.
const fn key(path: &'static str, default: &'static str, doc: &'static str) -> Key {
    Key {
        path,
        default,
        doc,
        unset: None,
        bound: None,
    }
}

impl Key {
    /// The key with `bound`.
    const fn bounded(self, min: u64, max: u64, measure: Measure) -> Key {
        Key {
            bound: Some(Bound { min, max, measure }),
            ..self
        }
    }

    /// The key with the note `check` prints when it is unset.
    const fn unset(self, note: &'static str) -> Key {
        Key {
            unset: Some(note),
            ..self
        }
    }

    /// The table the key is in (`http` for `http.timeout_secs`).
    pub fn table(&self) -> &'static str {
        self.path.rsplit_once('.').map_or("", |(table, _)| table)
    }

    /// The key's name within its table (`timeout_secs`).
    pub fn name(&self) -> &'static str {
        self.path
            .rsplit_once('.')
            .map_or(self.path, |(_, name)| name)
    }

    /// The key's bound; a key without one is a bug of this table.
    pub fn bound(&self) -> Bound {
        self.bound
            .unwrap_or_else(|| panic!("`{}` has no bound", self.path))
    }

    /// `value`, if within the key's bounds; else an error naming the key, the bound crossed and
    /// the value.
    pub fn check(&self, value: u64) -> Result<u64> {
        check_number(self.path, self.bound(), i128::from(value))?;
        Ok(value)
    }

    /// [`Key::check`] for a count that fits in memory (`usize`).
    pub fn check_usize(&self, value: usize) -> Result<usize> {
        // usize is at most 64 bits on every platform Rust supports.
        self.check(value as u64).map(|v| v as usize)
    }

    /// A number of seconds above 0 and at most the bound, as a duration.
    pub fn check_secs(&self, value: f64) -> Result<Duration> {
        check_secs(self.path, self.bound(), value)
    }

    /// A piece of text of at most the bound's bytes; `what` names it in the error.
    pub fn check_len(&self, what: &str, text: &str) -> Result<()> {
        check_len(what, self.bound(), text)
    }
}

fn check_number(path: &str, bound: Bound, value: i128) -> Result<()> {
    if value < i128::from(bound.min) {
        bail!("`{path}` must be at least {}, got {value}", bound.min);
    }
    if value > i128::from(bound.max) {
        bail!("`{path}` must be at most {}, got {value}", bound.max);
    }
    Ok(())
}

fn check_secs(path: &str, bound: Bound, value: f64) -> Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value <= bound.max as f64) {
        bail!(
            "`{path}` must be a number of seconds above 0 and at most {}, got {value}",
            bound.max
        );
    }
    Ok(Duration::from_secs_f64(value))
}

fn check_len(what: &str, bound: Bound, text: &str) -> Result<()> {
    if text.len() as u64 > bound.max {
        // The text itself may be megabytes: it is not repeated in the message.
        bail!(
            "{what} is {} bytes long, over the limit of {} bytes",
            text.len(),
            bound.max
        );
    }
    Ok(())
}

mod crawl_table;
mod output_table;
mod table;

pub use crawl_table::*;
pub use output_table::*;
pub use table::ALL;

/// Holds every bounded key the file sets to its bound, before the file is deserialized: a value
/// out of bounds is refused with its key, the bound and the value. A value of the wrong type is
/// left for deserialization to refuse, with its line.
pub fn check_bounds(file: &toml::Table) -> Result<()> {
    for key in ALL {
        let Some(bound) = key.bound else { continue };
        let Some(table) = table_at(file, key.table()) else {
            continue;
        };
        if key.name() == "*" {
            for (entry, value) in table {
                check_value(&format!("{}.{entry}", key.table()), bound, value)?;
            }
        } else if let Some(value) = table.get(key.name()) {
            check_value(key.path, bound, value)?;
        }
    }
    Ok(())
}

/// The table at `path` (`extract.fields`) in `file`, if the file has it.
pub(super) fn table_at<'a>(file: &'a toml::Table, path: &str) -> Option<&'a toml::Table> {
    path.split('.')
        .try_fold(file, |table, name| table.get(name)?.as_table())
}

/// Holds one value to `bound`; a value of another type than the bound measures is not checked.
fn check_value(path: &str, bound: Bound, value: &toml::Value) -> Result<()> {
    use Measure::{Bytes, Entries, Number, Seconds};
    use toml::Value;
    match (bound.measure, value) {
        (Number, Value::Integer(n)) => check_number(path, bound, i128::from(*n)),
        (Seconds, Value::Integer(n)) => check_secs(path, bound, *n as f64).map(drop),
        (Seconds, Value::Float(x)) => check_secs(path, bound, *x).map(drop),
        (Bytes, Value::String(text)) => check_len(&format!("`{path}`"), bound, text),
        (Entries, Value::Table(table)) => check_number(path, bound, table.len() as i128),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_key_and_the_range() {
        assert_eq!(CRAWLERS.check(512).unwrap(), 512);
        let err = format!("{:#}", CRAWLERS.check(100_000).unwrap_err());
        assert_eq!(err, "`threads.crawlers` must be at most 512, got 100000");
        assert_eq!(
            CRAWLERS.check(0).unwrap_err().to_string(),
            "`threads.crawlers` must be at least 1, got 0"
        );
        assert!(RETRIES.check(0).is_ok());
        assert_eq!(
            DELAY_MS.check(3_600_001).unwrap_err().to_string(),
            "`http.delay_ms` must be at most 3600000, got 3600001"
        );
        assert!(TIMEOUT_SECS.check_secs(3600.0).is_ok());
        for bad in [0.0, -1.0, 3600.5, f64::NAN, f64::INFINITY] {
            let err = TIMEOUT_SECS.check_secs(bad).unwrap_err().to_string();
            assert!(err.contains("`http.timeout_secs`"), "{err}");
        }
        let huge = "a ".repeat(1_000_000);
        let err = ITEM
            .check_len("`extract.item`", &huge)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`extract.item` is 2000000 bytes long, over the limit of 1024 bytes"
        );
    }

    #[test]
    fn the_file_is_held_to_every_bound_by_key() {
        let check = |text: &str| {
            let file: toml::Table = toml::from_str(text).unwrap();
            check_bounds(&file).map_err(|err| err.to_string())
        };
        assert_eq!(
            check("[threads]\ncrawlers = -1\n").unwrap_err(),
            "`threads.crawlers` must be at least 1, got -1"
        );
        assert_eq!(
            check("[http]\ntimeout_secs = 0\n").unwrap_err(),
            "`http.timeout_secs` must be a number of seconds above 0 and at most 3600, got 0"
        );
        assert!(check("[extract.fields]\nt = \"a\"\nlink = { css = \"a\" }\n").is_ok());
        let long = format!("[follow.fields]\nf = \"{}\"\n", "a".repeat(1025));
        assert_eq!(
            check(&long).unwrap_err(),
            "`follow.fields.f` is 1025 bytes long, over the limit of 1024 bytes"
        );
        // A value of the wrong type is deserialization's to refuse, with its line.
        assert!(check("[threads]\ncrawlers = \"three\"\n").is_ok());
    }

    #[test]
    fn every_key_is_listed_once_by_table() {
        let mut seen = std::collections::HashSet::new();
        for key in ALL {
            assert!(seen.insert(key.path), "{} twice", key.path);
            assert!(
                !key.doc.is_empty() && !key.default.is_empty(),
                "{}",
                key.path
            );
            // A key without a default that `check` prints says what unset means.
            if key.default == "unset" && key.path != "site.last_page" {
                assert!(key.unset.is_some(), "{} needs an unset note", key.path);
            }
        }
    }
}
