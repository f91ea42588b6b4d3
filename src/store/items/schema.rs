//! The store's file: its schema, made in a new file, upgraded in place from an older version,
//! and checked on opening (another program's database, or one made for another crawl, is
//! refused untouched).

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

use super::named;

/// `PRAGMA application_id` of a pagecrawl store ("pgcw"): a file with another id is another
/// program's, and is not touched.
pub(super) const APPLICATION_ID: i32 = 0x7067_6377;
/// `PRAGMA user_version`: the schema's version. Version 1 had no `pages.fetched_round` (a
/// page that answered 304 rewrote every item it listed), version 2 no `pages.next` (a
/// next-link listing's pages were asked for in full); both are upgraded in place.
pub(super) const SCHEMA_VERSION: i32 = 3;

/// Upgrades a store of version 1: every page's items were read in its `round`.
pub(super) const UPGRADE_FROM_1: &str = "
    ALTER TABLE pages ADD COLUMN fetched_round INTEGER NOT NULL DEFAULT 0;
    UPDATE pages SET fetched_round = round;
    DROP INDEX items_listed;
    CREATE INDEX items_on_page ON items (url, last_round) WHERE gone_round IS NULL;
";

/// Upgrades a store of version 2: what each page named next is not known (`NULL`), so a
/// next-link listing's pages are asked for in full once more.
pub(super) const UPGRADE_FROM_2: &str = "ALTER TABLE pages ADD COLUMN next TEXT;";

/// The view of what is listed, made by every version.
pub(super) const VIEW: &str = "
    CREATE VIEW items_now AS
        SELECT items.*,
            CASE WHEN pages.fetched_round = items.last_round AND pages.round > items.last_round
                THEN pages.round ELSE items.last_round END AS listed_round
        FROM items LEFT JOIN pages ON pages.url = items.url;
";

/// The schema of a new store.
pub(super) const SCHEMA: &str = "
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
        fetched_round INTEGER NOT NULL DEFAULT 0,
        next TEXT
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

/// Opens the database at `path` for reading and writing, creating it (and only it) if
/// missing: a file that is not SQLite, or another program's database, is refused untouched.
pub(super) fn connect(path: &Path, sync: bool) -> Result<(Connection, bool)> {
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

/// Upgrades a store of an older schema in place, one version at a time, each in a transaction
/// of its own. Another version (a newer pagecrawl's) is left for [`check_made_for`] to refuse.
pub(super) fn upgrade(conn: &mut Connection, path: &Path) -> Result<()> {
    let mut version: i32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    // Version 1 had no view either: it is made with the upgrade.
    let steps: [(i32, &[&str]); 2] = [(1, &[UPGRADE_FROM_1, VIEW]), (2, &[UPGRADE_FROM_2])];
    for (from, batches) in steps {
        if version != from {
            continue;
        }
        let upgrading = || format!("upgrading {} from schema version {from}", named(path));
        let tx = conn.transaction()?;
        for batch in batches {
            tx.execute_batch(batch).with_context(upgrading)?;
        }
        tx.pragma_update(None, "user_version", from + 1)?;
        tx.commit().with_context(upgrading)?;
        version = from + 1;
    }
    Ok(())
}

/// Refuses a store made for another key or other fields.
pub(super) fn check_made_for(
    conn: &Connection,
    path: &Path,
    key: &str,
    fields: &str,
) -> Result<()> {
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
