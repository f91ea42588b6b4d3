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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::http::Validators;

/// `PRAGMA application_id` of a pagecrawl store ("pgcw"): a file with another id is another
/// program's, and is not touched.
const APPLICATION_ID: i32 = 0x7067_6377;
/// `PRAGMA user_version`: the schema's version. Version 1 had no `pages.fetched_round` (a
/// page that answered 304 rewrote every item it listed) and is upgraded in place.
const SCHEMA_VERSION: i32 = 2;

/// Upgrades a store of version 1: every page's items were read in its `round`.
const UPGRADE_FROM_1: &str = "
    ALTER TABLE pages ADD COLUMN fetched_round INTEGER NOT NULL DEFAULT 0;
    UPDATE pages SET fetched_round = round;
    DROP INDEX items_listed;
    CREATE INDEX items_on_page ON items (url, last_round) WHERE gone_round IS NULL;
";

/// How many items the page `?1` lists as the store knows it: those read from its body when it
/// was last read, and not found gone since.
const LISTED_ON: &str = "SELECT count(*) FROM items WHERE url = ?1 AND gone_round IS NULL \
     AND +last_round = (SELECT fetched_round FROM pages WHERE url = ?1)";

/// The view of what is listed, made by every version.
const VIEW: &str = "
    CREATE VIEW items_now AS
        SELECT items.*,
            CASE WHEN pages.fetched_round = items.last_round AND pages.round > items.last_round
                THEN pages.round ELSE items.last_round END AS listed_round
        FROM items LEFT JOIN pages ON pages.url = items.url;
";

/// The schema of a new store.
const SCHEMA: &str = "
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE items (
        key TEXT PRIMARY KEY,
        fields TEXT NOT NULL,
        page INTEGER NOT NULL,
        position INTEGER NOT NULL,
        url TEXT NOT NULL,
        first_round INTEGER NOT NULL,
        last_round INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        last_changed TEXT NOT NULL,
        gone_round INTEGER
    ) STRICT;
    CREATE INDEX items_by_url ON items (url, position);
    CREATE INDEX items_on_page ON items (url, last_round) WHERE gone_round IS NULL;
    CREATE TABLE pages (
        url TEXT PRIMARY KEY,
        page INTEGER NOT NULL,
        etag TEXT,
        last_modified TEXT,
        items INTEGER NOT NULL,
        items_hash INTEGER NOT NULL,
        round INTEGER NOT NULL,
        fetched TEXT NOT NULL,
        fetched_round INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE TABLE details (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        fields TEXT NOT NULL,
        fetched TEXT NOT NULL
    ) STRICT;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        round INTEGER NOT NULL,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        key TEXT NOT NULL,
        page INTEGER NOT NULL,
        url TEXT NOT NULL,
        changed TEXT,
        previous TEXT
    ) STRICT;
    CREATE INDEX events_by_key ON events (key);
    CREATE TABLE commits (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        round INTEGER NOT NULL,
        record TEXT NOT NULL
    ) STRICT;
";

/// What the store knows of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    /// The values last written, as JSON text, one per field in config order.
    pub fields: Vec<String>,
    /// Whether a complete round found it gone since.
    pub gone: bool,
}

/// A list page as the store knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredPage {
    /// Its items, in order: each key and its values as JSON text, one per field.
    pub items: Vec<(String, Vec<String>)>,
    /// The hash of its items, if it was committed.
    pub hash: Option<u64>,
}

/// A key a complete round did not list, with what the store knew of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gone {
    /// The key.
    pub key: String,
    /// Its last values, as JSON text, one per field.
    pub fields: Vec<String>,
    /// The page it was last on, and that page's URL.
    pub page: u64,
    /// That page's URL.
    pub url: String,
}

/// One item's row as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct ItemRow {
    /// The key.
    pub key: String,
    /// Its values as JSON text, one per field.
    pub fields: Vec<String>,
    /// Its page, its place on it, and the page's URL.
    pub page: u64,
    /// Its place among the page's items.
    pub position: u64,
    /// The page's URL.
    pub url: String,
    /// Whether its values differ from the last written ones (or it is new).
    pub changed: bool,
}

/// One event's row.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    /// `new`, `changed` or `gone`.
    pub event: &'static str,
    /// The key.
    pub key: String,
    /// The page it was on, and its URL.
    pub page: u64,
    /// The page's URL.
    pub url: String,
    /// For `changed`: the names of the fields that changed, as a JSON array.
    pub changed: Option<String>,
    /// For `changed`: their values before, as a JSON object.
    pub previous: Option<String>,
}

/// A list page as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct PageRow {
    /// Its URL.
    pub url: String,
    /// Its number this round.
    pub page: u64,
    /// Its validators, to ask with next round.
    pub validators: Validators,
    /// How many items it listed.
    pub items: u64,
    /// The hash of its items (as the listing's end compares pages).
    pub items_hash: u64,
}

/// A detail page as a commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct DetailRow {
    /// Its URL.
    pub url: String,
    /// Its validators.
    pub validators: Validators,
    /// Its fields as JSON text, one per detail field.
    pub fields: Vec<String>,
}

/// What one commit makes durable.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// The items listed on the committed pages.
    pub items: Vec<ItemRow>,
    /// Keys found gone.
    pub gone: Vec<String>,
    /// The events written.
    pub events: Vec<EventRow>,
    /// The committed list pages.
    pub pages: Vec<PageRow>,
    /// Pages that answered 304: their URL (their keys are listed this round).
    pub not_modified: Vec<String>,
    /// Detail pages fetched anew.
    pub details: Vec<DetailRow>,
}

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

/// Opens the database at `path` for reading and writing, creating it (and only it) if
/// missing: a file that is not SQLite, or another program's database, is refused untouched.
fn connect(path: &Path, sync: bool) -> Result<(Connection, bool)> {
    let existed = path.exists();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", named(path)))?;
    let id: i32 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .with_context(|| {
            format!(
                "{} is not an SQLite database (or it is damaged); move it away, or run with \
                 --fresh",
                named(path)
            )
        })?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if existed && tables > 0 && id != APPLICATION_ID {
        bail!(
            "{} is a database of another program (application id {id:#x}), not a pagecrawl \
             store: it is left as it is. Set `output.store` to another file, or move it away",
            named(path)
        );
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL syncs the WAL at every commit: the commit point of a keyed crawl must survive a
    // power cut as the output does; NORMAL would only survive kill -9.
    conn.pragma_update(None, "synchronous", if sync { "FULL" } else { "OFF" })?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok((conn, tables == 0))
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

/// Brings a store of an older schema version to this one, in one transaction; a newer one is
/// left for [`check_made_for`] to refuse.
fn upgrade(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != 1 {
        return Ok(());
    }
    let tx = conn.transaction()?;
    tx.execute_batch(UPGRADE_FROM_1)
        .and_then(|()| tx.execute_batch(VIEW))
        .with_context(|| format!("upgrading {} from schema version 1", named(path)))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
        .with_context(|| format!("upgrading {} from schema version 1", named(path)))?;
    Ok(())
}

/// Refuses a store made for another key or other fields.
fn check_made_for(conn: &Connection, path: &Path, key: &str, fields: &str) -> Result<()> {
    let version: i32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        bail!(
            "{} has schema version {version}; this pagecrawl reads version {SCHEMA_VERSION}",
            named(path)
        );
    }
    let meta = |name: &str| -> Result<String> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .with_context(|| format!("{}: no `{name}` in its meta table", named(path)))
    };
    let (was_key, was_fields) = (meta("key")?, meta("fields")?);
    if was_key != key || was_fields != fields {
        bail!(
            "{} was made for another crawl (output.key {was_key:?}, fields {was_fields}; this \
             config has {key:?}, {fields}): comparing items across the change would report \
             every one as changed. Restore the old settings, or run with --fresh to move the \
             output, its state and the store aside and start over",
            named(path)
        );
    }
    Ok(())
}

/// `fields` (JSON text per field) as one JSON object, by `names`.
fn object(names: &[String], fields: &[String]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in names.iter().zip(fields).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(name.as_str()).to_string());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// Writes what one commit staged, within its transaction; returns how many items the pages
/// that answered 304 list again (counted here: within the transaction, a query costs no lock).
fn write_staged(
    tx: &rusqlite::Transaction<'_>,
    round: u64,
    staged: &Staged,
    names: &[String],
    now: &str,
) -> rusqlite::Result<u64> {
    let round = round as i64;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO items (key, fields, page, position, url, first_round, last_round, \
         first_seen, last_seen, last_changed, gone_round) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7, ?7, NULL) \
         ON CONFLICT (key) DO UPDATE SET fields = ?2, page = ?3, position = ?4, url = ?5, \
         last_round = ?6, last_seen = ?7, gone_round = NULL, \
         last_changed = CASE WHEN ?8 THEN ?7 ELSE last_changed END",
    )?;
    for item in &staged.items {
        upsert.execute(params![
            item.key,
            object(names, &item.fields),
            item.page as i64,
            item.position as i64,
            item.url,
            round,
            now,
            item.changed,
        ])?;
    }
    // A page that answered 304 lists again what it listed when last committed: its `round`
    // moves, and its items are left as they are (see the module's comment). Rewriting them
    // would cost an unchanged round of 4,000 pages a write of every item it lists.
    let mut page_seen = tx.prepare_cached("UPDATE pages SET round = ?1 WHERE url = ?2")?;
    let mut listed = tx.prepare_cached(LISTED_ON)?;
    let mut relisted = 0;
    for url in &staged.not_modified {
        let count: i64 = listed.query_row([url], |row| row.get(0))?;
        relisted += count as u64;
        page_seen.execute(params![round, url])?;
    }
    let mut gone = tx.prepare_cached("UPDATE items SET gone_round = ?1 WHERE key = ?2")?;
    for key in &staged.gone {
        gone.execute(params![round, key])?;
    }
    let mut page = tx.prepare_cached(
        "INSERT INTO pages (url, page, etag, last_modified, items, items_hash, round, fetched, \
         fetched_round) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7) \
         ON CONFLICT (url) DO UPDATE SET page = ?2, etag = ?3, last_modified = ?4, items = ?5, \
         items_hash = ?6, round = ?7, fetched = ?8, fetched_round = ?7",
    )?;
    for row in &staged.pages {
        page.execute(params![
            row.url,
            row.page as i64,
            row.validators.etag,
            row.validators.last_modified,
            row.items as i64,
            row.items_hash as i64,
            round,
            now,
        ])?;
    }
    let mut detail = tx.prepare_cached(
        "INSERT INTO details (url, etag, last_modified, fields, fetched) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (url) DO UPDATE SET etag = ?2, last_modified = ?3, fields = ?4, fetched = ?5",
    )?;
    for row in &staged.details {
        let fields = serde_json::to_string(&row.fields).expect("JSON texts to JSON");
        detail.execute(params![
            row.url,
            row.validators.etag,
            row.validators.last_modified,
            fields,
            now,
        ])?;
    }
    let mut event = tx.prepare_cached(
        "INSERT INTO events (round, at, event, key, page, url, changed, previous) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for row in &staged.events {
        event.execute(params![
            round,
            now,
            row.event,
            row.key,
            row.page as i64,
            row.url,
            row.changed,
            row.previous,
        ])?;
    }
    Ok(relisted)
}

/// Now, as the store writes times: RFC 3339, whole seconds, UTC.
fn now_text() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A detail crawler's view of the store: each detail page's validators and fields from the
/// rounds before, on a connection of its own.
pub(crate) struct DetailReader {
    /// A read-only connection.
    conn: Connection,
}

/// A detail page as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownDetail {
    /// Its validators.
    pub validators: Validators,
    /// Its fields as JSON text, one per detail field.
    pub fields: Vec<String>,
}

impl DetailReader {
    /// A reader of the store at `path` (which the writer has opened, and so created).
    pub fn open(path: &Path) -> Result<DetailReader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} to read", named(path)))?;
        Ok(DetailReader { conn })
    }

    /// What the store knows of the detail page at `url`.
    pub fn get(&self, url: &str) -> Result<Option<KnownDetail>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT etag, last_modified, fields FROM details WHERE url = ?1")?;
        let row = stmt
            .query_row([url], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional()?;
        let Some((etag, last_modified, fields)) = row else {
            return Ok(None);
        };
        let fields: Vec<String> = serde_json::from_str(&fields).context("a damaged details row")?;
        Ok(Some(KnownDetail {
            validators: Validators {
                etag,
                last_modified,
            },
            fields,
        }))
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;
