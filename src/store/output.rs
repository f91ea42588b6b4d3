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
    /// The last field's value is JSON already (the `files` of `[download]`), written as it is.
    json_last: bool,
}

impl LineEncoder {
    /// An encoder for the given field names, in output order.
    pub fn new<'a>(fields: impl IntoIterator<Item = &'a str>) -> LineEncoder {
        let keys = fields
            .into_iter()
            .map(|name| format!(",{}:", serde_json::Value::from(name)))
            .collect();
        LineEncoder {
            keys,
            json_last: false,
        }
    }

    /// The same encoder, writing the last field's value as the JSON it already is.
    pub fn with_json_last(mut self) -> LineEncoder {
        self.json_last = true;
        self
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
        let last = self.keys.len().saturating_sub(1);
        for (i, (key, value)) in self.keys.iter().zip(item).enumerate() {
            out.extend_from_slice(key.as_bytes());
            match value {
                Some(json) if self.json_last && i == last => out.extend_from_slice(json.as_bytes()),
                Some(value) => write_json_str(out, value),
                None => out.extend_from_slice(b"null"),
            }
        }
        if let Some(first_seen) = first_seen {
            out.extend_from_slice(b",\"first_seen\":");
            write_json_str(out, first_seen);
        }
        out.extend_from_slice(b"}\n");
    }
}

fn write_json_str(out: &mut Vec<u8>, value: &str) {
    // Serialising a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("string to JSON");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_json_object_per_item_in_field_order() {
        let encoder = LineEncoder::new(["title", "link"]);
        let items = vec![
            vec![Some("红楼梦 \"1\"".into()), Some("/a".into())],
            vec![None, Some("/b\n".into())],
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
