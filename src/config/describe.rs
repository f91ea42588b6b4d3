//! The effective settings as `pagecrawl check` prints them, and what changed between two configs
//! (the reload log line).
//!
//! Both come from one list of lines: the keys of the key table (`keys.rs`) in its order, each
//! with its value as the typed [`Config`] serializes it, or the key's note when it is unset,
//! and the notes that follow from the values. `describe` prints the list; `changes` compares
//! the pairs of two lists, so no key is spelled here and nothing is read back from printed text.

use std::fmt::Write as _;

use super::{Config, keys};
use crate::extract::Extractor;

/// One line of the printout.
enum Line {
    /// `[name]`, after a blank line unless it is the first line or `tight`.
    Table {
        /// The table's name, such as `http` or `extract.fields`.
        name: &'static str,
        /// No blank line before it (`[extract.fields]` follows `[extract]` at once).
        tight: bool,
    },
    /// `key = value`, the value as the printout shows it (and as a change compares it).
    Set {
        /// The key within its table.
        key: String,
        /// The value, quoted when it is text.
        value: String,
    },
    /// `# note`: what an unset key means, or a consequence worth knowing. Never compared.
    Note(String),
}

fn set(key: impl Into<String>, value: impl ToString) -> Line {
    Line::Set {
        key: key.into(),
        value: value.to_string(),
    }
}

/// Text, quoted the way the printout has always quoted it.
fn quoted(text: impl AsRef<str>) -> String {
    format!("{:?}", text.as_ref())
}

/// A header name as a TOML key: bare when it can be.
fn header_key(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A header's value as `check` shows it: credentials (`Cookie`, `Authorization`) are not
/// printed, only their length and a hash, so that a reload still tells they changed.
fn shown_header(name: &str, value: &str) -> String {
    let secret = ["cookie", "authorization"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
    if secret {
        let hash = crate::hash::fnv1a(value.bytes()) & 0xffff_ffff;
        quoted(format!("<hidden: {} bytes, hash {hash:08x}>", value.len()))
    } else {
        quoted(value)
    }
}

fn note(text: impl Into<String>) -> Line {
    Line::Note(text.into())
}

impl Config {
    /// The effective settings, one `key = value` per line, as `pagecrawl check` prints them.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines().iter().enumerate() {
            // Writing to a String cannot fail.
            let _ = match line {
                Line::Table { name, tight } if i > 0 && !tight => writeln!(out, "\n[{name}]"),
                Line::Table { name, .. } => writeln!(out, "[{name}]"),
                Line::Set { key, value } => writeln!(out, "{key} = {value}"),
                Line::Note(text) => writeln!(out, "# {text}"),
            };
        }
        out
    }

    /// What changed from `self` to `new`, one `table.key: old -> new` line per setting, in the
    /// order `pagecrawl check` prints them. Empty when nothing did.
    pub fn changes(&self, new: &Config) -> Vec<String> {
        let (old, new) = (self.settings(), new.settings());
        let mut out = Vec::new();
        for (key, value) in &old {
            match new.iter().find(|(k, _)| k == key) {
                Some((_, v)) if v == value => {}
                Some((_, v)) => out.push(format!("{key}: {value} -> {v}")),
                None => out.push(format!("{key}: {value} -> unset")),
            }
        }
        for (key, value) in &new {
            if !old.iter().any(|(k, _)| k == key) {
                out.push(format!("{key}: unset -> {value}"));
            }
        }
        out
    }

    /// The `(table.key, value)` pairs of [`Config::lines`], notes left out.
    fn settings(&self) -> Vec<(String, String)> {
        let mut table = "";
        let mut out = Vec::new();
        for line in self.lines() {
            match line {
                Line::Table { name, .. } => table = name,
                Line::Set { key, value } => out.push((format!("{table}.{key}"), value)),
                Line::Note(_) => {}
            }
        }
        out
    }

    /// Every table, setting and note, in the order of the printout: the keys of the key table in
    /// its order, each with its value from the typed config or its note when unset.
    fn lines(&self) -> Vec<Line> {
        let values = toml::Table::try_from(self).expect("a config serializes into TOML");
        let notes = self.notes();
        let mut out = Vec::new();
        let mut table = "";
        for key in keys::ALL {
            let section = key.path.split('.').next().unwrap_or_default();
            if key.name() == "*" || !self.shows(section) {
                continue;
            }
            if key.table() != table {
                table = key.table();
                out.push(Line::Table {
                    name: table,
                    tight: false,
                });
            }
            match key.path {
                "extract.fields" => self.field_lines("extract.fields", &self.extract, &mut out),
                "follow.fields" => {
                    if let Some(follow) = &self.follow {
                        self.field_lines("follow.fields", &follow.extract, &mut out);
                    }
                }
                "http.headers" => self.header_lines(&mut out),
                _ => {
                    let value = keys::table_at(&values, table).and_then(|t| t.get(key.name()));
                    match (value, key.unset) {
                        (Some(value), _) if self.applies(key) => {
                            out.push(set(key.name(), shown(value)));
                        }
                        (None, Some(unset)) => {
                            out.push(note(format!("{} unset: {unset}", key.name())))
                        }
                        _ => {}
                    }
                }
            }
            for (_, text) in notes.iter().filter(|(after, _)| *after == key.path) {
                out.push(note(text.clone()));
            }
        }
        out
    }

    /// Whether `check` prints the table `section`: `[follow]` and `[download]` only when set.
    fn shows(&self, section: &str) -> bool {
        match section {
            "follow" => self.follow.is_some(),
            "download" => self.download.is_some(),
            _ => true,
        }
    }

    /// Whether `key`, which has a value, means anything in this config: the seen-set only
    /// with `output.dedup`, the store and the changes only with `output.key`.
    fn applies(&self, key: &keys::Key) -> bool {
        match key.path {
            "output.seen" => self.output.dedup.is_some(),
            "output.store" | "output.changes" => self.output.key.is_some(),
            _ => true,
        }
    }

    /// The notes that follow from the values, each after the key it is printed after.
    fn notes(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let s = &self.site;
        if s.last_page.is_some() {
            out.push((
                keys::MAX_FAILED_IN_A_ROW.path,
                "max_pages and max_failed_in_a_row apply without last_page only".to_string(),
            ));
        }
        out.push((
            keys::MAX_FAILED_IN_A_ROW.path,
            format!("first url: {}", s.url_of(s.first_page)),
        ));
        if !self.http.robots {
            out.push((
                keys::ROBOTS.path,
                "robots.txt is not read: every page is fetched, Crawl-delay ignored".to_string(),
            ));
        }
        if let Some(ca) = &self.http.ca_file {
            out.push((
                keys::CA_FILE.path,
                format!(
                    "{} certificates trusted besides the built-in roots",
                    ca.len()
                ),
            ));
        }
        if let Some(why) = self.extract.stream_unavailable() {
            out.push((
                keys::MAX_BYTES_PER_PAGE.path,
                format!("every page goes to the DOM engine: the stream cannot match {why}"),
            ));
        }
        out.push((
            keys::FOLLOW_ENGINE.path,
            "detail pages on other hosts than the site's are skipped unless listed".to_string(),
        ));
        out
    }

    /// `[<table>]` right after the table before it, and each field in the form it was written.
    fn field_lines(&self, table: &'static str, extract: &Extractor, out: &mut Vec<Line>) {
        out.push(Line::Table {
            name: table,
            tight: true,
        });
        for (name, spec) in extract.field_specs() {
            out.push(set(name, spec.as_toml()));
        }
    }

    /// `[http.headers]`, when there are any, credentials hidden.
    fn header_lines(&self, out: &mut Vec<Line>) {
        let headers = &self.http.headers;
        if headers.is_empty() {
            return;
        }
        out.push(Line::Table {
            name: "http.headers",
            tight: false,
        });
        out.push(note("sent to the site's origin only (and its robots.txt)"));
        for (name, value) in headers.iter() {
            out.push(set(header_key(name), shown_header(name, value)));
        }
    }
}

/// A value as the printout shows it (and as a change compares it): text quoted, numbers and
/// seconds as they read best (`30`, `2.5`), lists in brackets.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => quoted(text),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(shown).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn describe_lists_effective_settings() {
        let text = Config::from_toml(crate::config::tests::GOOD)
            .unwrap()
            .describe();
        assert!(text.contains("crawlers = 3"), "{text}");
        assert!(text.contains("link = \"a@href\""), "{text}");
        assert!(text.contains("# first url: http://127.0.0.1:8080/top250?start=0"));
    }

    #[test]
    fn changes_name_each_changed_key() {
        let old = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 4\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n",
        )
        .unwrap();
        let new = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 2\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\nu = \"a@href\"\n\
             [output]\npath = \"o\"\ndedup = \"u\"\n[schedule]\nevery_secs = 60\n",
        )
        .unwrap();
        assert!(old.changes(&old).is_empty());
        assert_eq!(
            old.changes(&new),
            [
                "threads.crawlers: 4 -> 2",
                "extract.fields.u: unset -> \"a@href\"",
                "output.dedup: unset -> \"u\"",
                "output.seen: unset -> \"o.seen\"",
                "schedule.every_secs: unset -> 60",
            ]
        );
    }

    #[test]
    fn table_fields_show_their_form_and_their_changes() {
        let config = |fields: &str| {
            Config::from_toml(&format!(
                "[site]\nurl = \"http://x/?p={{page}}\"\n[extract]\nitem = \"div\"\n\
                 [extract.fields]\n{fields}\n[output]\npath = \"o\"\n"
            ))
            .unwrap()
        };
        let old = config("t = \"a\"\ntags = { all = true, css = \"a.tag\" }");
        let text = old.describe();
        assert!(
            text.contains("\ntags = { css = \"a.tag\", all = true }\n"),
            "{text}"
        );
        let new = config("t = { }\ntags = { css = \"a.tag\", all = true, type = \"integer\" }");
        assert_eq!(
            old.changes(&new),
            [
                "extract.fields.t: \"a\" -> { }",
                "extract.fields.tags: { css = \"a.tag\", all = true } -> { css = \"a.tag\", all = true, type = \"integer\" }",
            ]
        );
    }
}
