//! The writer stage: the only owner of the output file.
//!
//! One thread receives whole pages of items, encodes them as JSON Lines and appends them through a
//! `BufWriter`, flushing after each page so the file never holds half a page for long. It ends when
//! the `items` channel is disconnected and drained, then flushes and syncs. Each write happens under
//! the [`OutputLock`], so a forced exit (second Ctrl-C) never cuts a line. No other thread opens,
//! writes or truncates the file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_channel::Receiver;
use log::debug;

use crate::feeder::ListingEnd;
use crate::parse::{Item, PageItems};
use crate::shutdown::{OutputLock, PanicGuard, Shutdown};
use crate::stats::Stats;

/// Opens `path` for appending, creating it and its parent folders.
pub fn open_output(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating output folder {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening output file {}", path.display()))
}

/// Encodes items as JSON lines: `{"page":N,"url":"…","<field>":"…",…}`.
#[derive(Debug, Clone)]
pub struct LineEncoder {
    /// `,"name":` for each field, encoded once.
    keys: Vec<String>,
}

impl LineEncoder {
    /// An encoder for the given field names, in output order.
    pub fn new<'a>(fields: impl IntoIterator<Item = &'a str>) -> LineEncoder {
        let keys = fields
            .into_iter()
            .map(|name| format!(",{}:", serde_json::Value::from(name)))
            .collect();
        LineEncoder { keys }
    }

    /// Appends one line per item of `page` to `out`.
    pub fn encode_page(&self, page: &PageItems, out: &mut Vec<u8>) {
        let mut url = Vec::with_capacity(page.url.len() + 2);
        write_json_str(&mut url, &page.url);
        for item in &page.items {
            self.encode_item(page.page, &url, item, out);
        }
    }

    fn encode_item(&self, page: u64, url_json: &[u8], item: &Item, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"page\":");
        out.extend_from_slice(page.to_string().as_bytes());
        out.extend_from_slice(b",\"url\":");
        out.extend_from_slice(url_json);
        for (key, value) in self.keys.iter().zip(item) {
            out.extend_from_slice(key.as_bytes());
            match value {
                Some(value) => write_json_str(out, value),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

fn write_json_str(out: &mut Vec<u8>, value: &str) {
    // Serialising a &str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("string to JSON");
}

/// The writer thread's state.
pub struct Writer {
    /// The output file, opened by the pipeline before any thread starts.
    pub file: File,
    /// Its path, for error messages.
    pub path: PathBuf,
    /// Encodes items.
    pub encoder: LineEncoder,
    /// Held around each write, see [`OutputLock`].
    pub lock: OutputLock,
    /// Counters.
    pub stats: Arc<Stats>,
    /// In "until empty" mode, pages past the end are not written.
    pub end: Arc<ListingEnd>,
    /// Raised when writing fails, so that the crawl stops taking pages.
    pub shutdown: Shutdown,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl Writer {
    /// Writes pages until the `items` channel is disconnected and drained.
    pub fn run(self, items: Receiver<PageItems>) -> Result<()> {
        let path = self.path.clone();
        let shutdown = self.shutdown.clone();
        let result = self
            .write_all(items)
            .with_context(|| format!("writing output file {}", path.display()));
        if result.is_err() {
            // Nothing more can be written: stop fetching pages that would be lost.
            shutdown.request();
        }
        result
    }

    fn write_all(self, items: Receiver<PageItems>) -> io::Result<()> {
        let mut out = BufWriter::with_capacity(64 * 1024, self.file);
        let mut buf = Vec::with_capacity(16 * 1024);
        for page in items {
            if self.end.is_past(page.page) {
                debug!(
                    "page {}: past the end of the listing, not written",
                    page.page
                );
                continue;
            }
            #[cfg(test)]
            crate::parse::inject_panic(&page.url, "writer");
            buf.clear();
            self.encoder.encode_page(&page, &mut buf);
            {
                let _whole_lines = self.lock.lock();
                out.write_all(&buf)?;
                out.flush()?;
            }
            self.stats.page_written(page.items.len() as u64);
        }
        let _whole_lines = self.lock.lock();
        let file = out.into_inner().map_err(|err| err.into_error())?;
        // Only a regular file can be synced; a pipe or a terminal has nothing to sync.
        if file.metadata()?.is_file() {
            file.sync_all()?;
        }
        drop(self.guard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_json_object_per_item_in_field_order() {
        let encoder = LineEncoder::new(["title", "link"]);
        let page = PageItems {
            page: 3,
            url: "http://x/?start=75".into(),
            items: vec![
                vec![Some("红楼梦 \"1\"".into()), Some("/a".into())],
                vec![None, Some("/b\n".into())],
            ],
        };
        let mut out = Vec::new();
        encoder.encode_page(&page, &mut out);
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
