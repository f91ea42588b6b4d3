//! The store of `output.key`: an SQLite database that keeps, across rounds, restarts and
//! `kill -9`, the last written values of every key and the page it was on, each list page's
//! and detail page's validators (for conditional requests), every event, and the journal's
//! commit records of the round in progress.
//!
//! One writer: the write stage, which stages a page's updates ([`ItemStore::stage_item`] and
//! its siblings) and makes them durable in one transaction with the commit record that names
//! the page ([`ItemStore::commit`]). That transaction is the commit point of a keyed crawl:
//! the output's bytes are synced before it, the journal's record written after it, and a
//! journal that lacks a record the store holds is completed from it when the state is opened
//! (`resume.rs`), so an event is in the output exactly when the store holds its values. The
//! detail crawlers read validators and fields through connections of their own
//! ([`DetailReader`]); WAL lets them read while the writer writes.
//!
//! The tables (`docs/watch.md` shows how to query them):
//!
//! - `meta (name, value)`: `key`, the key field; `fields`, the item's fields as a JSON array;
//!   `created`.
//! - `items (key, fields, page, position, url, first_round, last_round, first_seen,
//!   last_seen, last_changed, gone_round)`: one row per key; `fields` is a JSON object of
//!   the values last written; `last_round` the last round it was read from its page's body;
//!   `gone_round` the round that found it gone (NULL while listed).
//! - `pages (url, page, etag, last_modified, items, items_hash, round, fetched,
//!   fetched_round)`: `round` the last round the page was listed in (read, or answered 304),
//!   `fetched_round` the last round its body was read. A page that answers 304 lists its
//!   items again without a write to any of them: only its `round` moves. So an item is listed
//!   in round R when its `last_round` is R, or its page answered 304 in R (the page's
//!   `fetched_round` is the item's `last_round` and its `round` is R).
//! - the view `items_now`: every item with `listed_round`, the last round it was listed in,
//!   either way.
//! - `details (url, etag, last_modified, fields, fetched)`: each detail page's fields.
//! - `events (id, round, at, event, key, page, url, changed, previous)`: `changed` the names
//!   of the fields that changed (JSON array), `previous` their values before (JSON object).
//! - `commits (seq, round, record)`: the journal's commit records of the round.
//!
//! Here: the open store and what it answers; `schema.rs` makes, checks and upgrades the file,
//! `write.rs` writes one commit's staged rows, `rows.rs` holds the rows that pass between the
//! store and the writer, `detail_reader.rs` the detail crawlers' view.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::http::Validators;

mod detail_reader;
mod rows;
mod schema;
mod write;

pub(crate) use detail_reader::DetailReader;
pub(crate) use rows::{
    DetailRow, EventRow, Gone, ItemRow, Known, NamedNext, PageRow, Staged, StoredPage,
};
use schema::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION, VIEW, check_made_for, connect, upgrade};
use write::write_staged;

/// The open store, owned by the writer.
pub(crate) struct ItemStore {
    /// The database.
    conn: Connection,
    /// Its path, for messages.
    path: PathBuf,
    /// The item's fields in output order.
    fields: Vec<String>,
}

/// The file's name in messages.
fn named(path: &Path) -> String {
    format!("store {}", path.display())
}

/// Now, as the store writes times: RFC 3339, whole seconds, UTC.
fn now_text() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl ItemStore {
    /// Opens (or creates) the store at `path` of a crawl keyed by `key`, whose items have
    /// `fields` in output order. A store made with another key or other fields is refused with
    /// the `--fresh` hint; `sync` says whether commits are synced to disk.
    pub fn open(path: &Path, key: &str, fields: &[&str], sync: bool) -> Result<ItemStore> {
        let (mut conn, empty) = connect(path, sync)?;
        let fields_json = serde_json::to_string(fields).expect("names to JSON");
        if empty {
            let tx = conn.transaction()?;
            tx.execute_batch(SCHEMA)
                .and_then(|()| tx.execute_batch(VIEW))
                .with_context(|| format!("creating {}", named(path)))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            let now = now_text();
            for (name, value) in [("key", key), ("fields", &fields_json), ("created", &now)] {
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                    params![name, value],
                )?;
            }
            tx.commit()
                .with_context(|| format!("creating {}", named(path)))?;
        } else {
            upgrade(&mut conn, path)?;
            check_made_for(&conn, path, key, &fields_json)?;
        }
        Ok(ItemStore {
            conn,
            path: path.to_path_buf(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        })
    }

    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The list pages' validators by URL, for the crawlers of a round.
    pub fn page_validators(&self) -> Result<HashMap<String, Validators>> {
        let mut stmt = self
            .conn
            .prepare("SELECT url, etag, last_modified FROM pages")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                Validators {
                    etag: row.get(1)?,
                    last_modified: row.get(2)?,
                },
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (url, validators) = row?;
            if !validators.is_empty() {
                out.insert(url, validators);
            }
        }
        Ok(out)
    }

    /// What each list page of a next-link listing named as the page after it when its body
    /// was last read, by URL: a page that answers 304 names it again. Pages of a numbered
    /// listing, or committed before the store kept it (schema version 2), are not in it.
    pub fn named_next(&self) -> Result<HashMap<String, NamedNext>> {
        let mut stmt = self
            .conn
            .prepare("SELECT url, next FROM pages WHERE next IS NOT NULL")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (url, next) = row?;
            out.insert(url, NamedNext::from_column(next));
        }
        Ok(out)
    }

    /// What the store knows of `key`, if anything.
    pub fn known(&self, key: &str) -> Result<Option<Known>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT fields, gone_round FROM items WHERE key = ?1")?;
        let row = stmt
            .query_row([key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((fields, gone)) => Some(Known {
                fields: self.split_fields(&fields)?,
                gone: gone.is_some(),
            }),
            None => None,
        })
    }

    /// The items the page at `url` listed when it was last committed (those it listed that
    /// round, not those it listed once and dropped since), in order; and the hash of its items.
    pub fn page_items(&self, url: &str) -> Result<StoredPage> {
        let hash: Option<i64> = self
            .conn
            .prepare_cached("SELECT items_hash FROM pages WHERE url = ?1")?
            .query_row([url], |row| row.get(0))
            .optional()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, fields FROM items WHERE url = ?1 AND gone_round IS NULL \
             AND +last_round = (SELECT fetched_round FROM pages WHERE url = ?1) \
             ORDER BY position",
        )?;
        let rows = stmt.query_map([url], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
        let mut items = Vec::new();
        for row in rows {
            let (key, fields): (String, String) = row?;
            items.push((key, self.split_fields(&fields)?));
        }
        Ok(StoredPage {
            items,
            hash: hash.map(|h| h as u64),
        })
    }

    /// The number and hash of the items the page at `url` listed when it was last committed,
    /// if it was.
    pub fn page_row(&self, url: &str) -> Result<Option<(u64, u64)>> {
        let row: Option<(i64, i64)> = self
            .conn
            .prepare_cached("SELECT items, items_hash FROM pages WHERE url = ?1")?
            .query_row([url], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        Ok(row.map(|(items, hash)| (items as u64, hash as u64)))
    }

    /// The keys listed (not gone) that round `round` did not list: gone, once the round is
    /// complete. At most `limit` of them, in key order. An item whose page answered 304 in
    /// `round` was listed in it.
    ///
    /// Found page by page: the items of a page `round` did not list at all, and those of a
    /// page it listed that are older than its last read (dropped from it then). Through
    /// `items_on_page`, a round in which every page answered 304 reads no item.
    pub fn unlisted(&self, round: u64, limit: usize) -> Result<Vec<Gone>> {
        // CROSS JOIN keeps the pages outside: each page is one probe of the index.
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, fields, page, url FROM ( \
                 SELECT items.key, items.fields, items.page, items.url \
                 FROM pages CROSS JOIN items INDEXED BY items_on_page \
                 ON items.url = pages.url AND items.last_round < ?1 \
                 WHERE pages.round < ?1 AND items.gone_round IS NULL \
             UNION ALL \
                 SELECT items.key, items.fields, items.page, items.url \
                 FROM pages CROSS JOIN items INDEXED BY items_on_page \
                 ON items.url = pages.url AND items.last_round < pages.fetched_round \
                 WHERE pages.round >= ?1 AND items.gone_round IS NULL \
             ) ORDER BY key LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![round as i64, limit as i64], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, fields, page, url) = row?;
            out.push(Gone {
                key,
                fields: self.split_fields(&fields)?,
                page: page as u64,
                url,
            });
        }
        Ok(out)
    }

    /// The journal's commit records the store holds for round `round`, after `seq`, in order.
    pub fn commits_after(&self, round: u64, seq: u64) -> Result<Vec<(u64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, record FROM commits WHERE round = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![round as i64, seq as i64], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| row.map_err(anyhow::Error::from)).collect()
    }

    /// The sequence number of the last commit the store made, of any round (those of past
    /// rounds forgotten included; numbers are never reused), or 0.
    pub fn last_seq(&self) -> Result<u64> {
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'commits'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Forgets the commit records of the rounds before `round`: their journal is complete.
    pub fn forget_commits_before(&self, round: u64) -> Result<()> {
        self.conn
            .execute("DELETE FROM commits WHERE round < ?1", [round as i64])
            .with_context(|| format!("writing {}", named(&self.path)))?;
        Ok(())
    }

    /// Makes `staged` durable in one transaction with the journal's commit record `record`
    /// (JSON) of round `round`; returns the record's sequence number and how many items the
    /// pages that answered 304 list again.
    pub fn commit(&mut self, round: u64, staged: &Staged, record: &str) -> Result<(u64, u64)> {
        let path = self.path.clone();
        let fields = self.fields.clone();
        let now = now_text();
        let tx = self
            .conn
            .transaction()
            .with_context(|| format!("writing {}", named(&path)))?;
        let relisted = write_staged(&tx, round, staged, &fields, &now)
            .with_context(|| format!("writing {}", named(&path)))?;
        tx.execute(
            "INSERT INTO commits (round, record) VALUES (?1, ?2)",
            params![round as i64, record],
        )?;
        let seq = tx.last_insert_rowid() as u64;
        tx.commit()
            .with_context(|| format!("committing {}", named(&path)))?;
        Ok((seq, relisted))
    }

    /// A JSON object's values, in the order of the store's fields, as JSON text (`null` for
    /// a field it lacks).
    fn split_fields(&self, object: &str) -> Result<Vec<String>> {
        // Raw: each value's text as it was written, a number's digits included.
        let map: HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(object)
                .with_context(|| format!("{}: a damaged row in items", named(&self.path)))?;
        Ok(self
            .fields
            .iter()
            .map(|name| {
                map.get(name)
                    .map_or_else(|| "null".to_string(), |v| v.get().to_string())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
