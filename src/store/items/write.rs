//! One commit's staged rows, written within its transaction: the items, the pages, the detail
//! pages and the events.

use rusqlite::params;

use super::rows::Staged;

/// How many items the page `?1` lists as the store knows it: those read from its body when it
/// was last read, and not found gone since.
const LISTED_ON: &str = "SELECT count(*) FROM items WHERE url = ?1 AND gone_round IS NULL \
     AND +last_round = (SELECT fetched_round FROM pages WHERE url = ?1)";

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
pub(super) fn write_staged(
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
         fetched_round, next) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9) \
         ON CONFLICT (url) DO UPDATE SET page = ?2, etag = ?3, last_modified = ?4, items = ?5, \
         items_hash = ?6, round = ?7, fetched = ?8, fetched_round = ?7, next = ?9",
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
            row.next.to_column(),
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
