//! The output file: opened for appending (its folders created), and the JSON Lines it holds.
//!
//! One line per item, `{"page":N,"url":"…","<field>":"…",…}` with the fields in config order,
//! and `"first_seen":"…"` last when the writer dedups. The writer thread is the only one that
//! writes here.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};

use crate::extract::Item;

/// Creates the folder `path` is in (and its parents), if it has one.
pub(crate) fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating output folder {}", parent.display()))?;
    }
    Ok(())
}

/// Whether `path` is a device or a pipe rather than a file to append to: anything under
/// `/dev` (`/dev/stdout` is a link to whatever stdout is, even a regular file), or a path that
/// exists and is neither a regular file nor a folder (a FIFO, a socket). `--fresh` never moves
/// such a path aside: it is not ours, and holds nothing to keep.
pub(crate) fn is_stream(path: &Path) -> bool {
    path.starts_with("/dev") || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens `path` for appending, creating it and its parent folders.
pub(crate) fn open_output(path: &Path) -> Result<File> {
    create_parent(path)?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening output file {}", path.display()))
}

/// Encodes items as JSON lines.
#[derive(Debug, Clone)]
pub(crate) struct LineEncoder {
    /// `,"name":` for each field, encoded once.
    keys: Vec<String>,
    /// Each field's name.
    names: Vec<String>,
}

impl LineEncoder {
    /// An encoder for the given field names, in output order.
    pub fn new<'a>(fields: impl IntoIterator<Item = &'a str>) -> LineEncoder {
        let names: Vec<String> = fields.into_iter().map(str::to_string).collect();
        let keys = names
            .iter()
            .map(|name| format!(",{}:", serde_json::Value::from(name.as_str())))
            .collect();
        LineEncoder { keys, names }
    }

    /// Appends one line per item of page `page` (fetched from `url`) to `out`; returns how many
    /// lines it wrote.
    pub fn encode_page(&self, page: u64, url: &str, items: &[Item], out: &mut Vec<u8>) -> u64 {
        self.encode_kept(page, url, items, None, |_| true, out)
    }

    /// Appends one line for each item whose index `keep` accepts, each with a `first_seen`
    /// field when one is given. Returns how many lines it wrote.
    pub fn encode_kept(
        &self,
        page: u64,
        url: &str,
        items: &[Item],
        first_seen: Option<&str>,
        mut keep: impl FnMut(usize) -> bool,
        out: &mut Vec<u8>,
    ) -> u64 {
        let mut url_json = Vec::with_capacity(url.len() + 2);
        write_json_str(&mut url_json, url);
        let mut written = 0;
        for (i, item) in items.iter().enumerate() {
            if keep(i) {
                self.encode_item(page, &url_json, item, first_seen, out);
                written += 1;
            }
        }
        written
    }

    fn encode_item(
        &self,
        page: u64,
        url_json: &[u8],
        item: &Item,
        first_seen: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"page\":");
        out.extend_from_slice(page.to_string().as_bytes());
        out.extend_from_slice(b",\"url\":");
        out.extend_from_slice(url_json);
        for (key, value) in self.keys.iter().zip(item) {
            out.extend_from_slice(key.as_bytes());
            value.write_json(out);
        }
        if let Some(first_seen) = first_seen {
            out.extend_from_slice(b",\"first_seen\":");
            write_json_str(out, first_seen);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// An event of a keyed crawl (`output.changes`), as a line says it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event<'a> {
    /// A key never seen before, or back after it was gone.
    New,
    /// A key whose values changed: the positions of the fields that did, and their values
    /// before (JSON text).
    Changed {
        /// The positions of the fields that changed, in config order.
        fields: &'a [usize],
        /// Their values before.
        previous: &'a [String],
    },
    /// A key a complete round did not list; the line holds its last values.
    Gone,
}

impl LineEncoder {
    /// Appends one item line from each field's JSON text: `{"page":…,"url":…,<fields>}`.
    pub fn encode_json(&self, page: u64, url: &str, fields: &[String], out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"page\":");
        out.extend_from_slice(page.to_string().as_bytes());
        out.extend_from_slice(b",\"url\":");
        write_json_str(out, url);
        self.encode_fields(fields, out);
        out.extend_from_slice(b"}\n");
    }

    /// Appends one event line: `{"event":…,"round":…,"page":…,"url":…,<fields>}`, and for
    /// a change `"changed"` (the names of the fields that changed) and `"previous"` (their
    /// values before).
    pub fn encode_event(
        &self,
        event: &Event<'_>,
        round: u64,
        page: u64,
        url: &str,
        fields: &[String],
        out: &mut Vec<u8>,
    ) {
        let name = match event {
            Event::New => "new",
            Event::Changed { .. } => "changed",
            Event::Gone => "gone",
        };
        out.extend_from_slice(
            format!("{{\"event\":\"{name}\",\"round\":{round},\"page\":{page}").as_bytes(),
        );
        out.extend_from_slice(b",\"url\":");
        write_json_str(out, url);
        self.encode_fields(fields, out);
        if let Event::Changed { fields, previous } = event {
            out.extend_from_slice(b",\"changed\":[");
            for (i, &field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, &self.names[field]);
            }
            out.extend_from_slice(b"],\"previous\":{");
            for (i, (&field, value)) in fields.iter().zip(previous.iter()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, &self.names[field]);
                out.push(b':');
                out.extend_from_slice(value.as_bytes());
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
    }

    /// `,"name":<json>` for each field.
    fn encode_fields(&self, fields: &[String], out: &mut Vec<u8>) {
        for (key, value) in self.keys.iter().zip(fields) {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
}

fn write_json_str(out: &mut Vec<u8>, value: &str) {
    // Serialising a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("string to JSON");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Value;

    #[test]
    fn encodes_one_json_object_per_item_in_field_order() {
        let encoder = LineEncoder::new(["title", "link"]);
        let items = vec![
            vec![
                Value::String("红楼梦 \"1\"".into()),
                Value::String("/a".into()),
            ],
            vec![Value::Null, Value::String("/b\n".into())],
        ];
        let mut out = Vec::new();
        encoder.encode_page(3, "http://x/?start=75", &items, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"page\":3,\"url\":\"http://x/?start=75\",\"title\":\"红楼梦 \\\"1\\\"\",\"link\":\"/a\"}\n\
             {\"page\":3,\"url\":\"http://x/?start=75\",\"title\":null,\"link\":\"/b\\n\"}\n"
        );
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn what_is_a_stream() {
        assert!(is_stream(Path::new("/dev/null")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_stream(dir.path()));
        assert!(!is_stream(&dir.path().join("items.jsonl")));
    }

    #[test]
    fn open_output_creates_folders_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.jsonl");
        open_output(&path).unwrap();
        assert!(path.exists());
        let blocked = dir.path().join("a/b/out.jsonl/under-a-file.jsonl");
        let err = format!("{:#}", open_output(&blocked).unwrap_err());
        assert!(err.contains("out.jsonl"), "{err}");
    }
}
