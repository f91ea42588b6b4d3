//! Which URL each file name in `download.dir` holds, so that two files never share a name
//! without a word.
//!
//! A name template such as `"{alt}{ext}"` gives two different images with the same `alt` one
//! name. Counting the second as up to date because a file of that name is there would store the
//! first image's bytes for the second item: data lost silently. So every name a download takes
//! is *claimed* for its URL here first, and a file counts as up to date only when its name is
//! claimed by the same URL. Another URL that wants a claimed name gets the next free one of the
//! chain `x.jpg`, `x-2.jpg`, `x-3.jpg` …; claims are never given up, so every later run gives
//! each URL the same name.
//!
//! The claims live in `<download.dir>/.pagecrawl-names.db`, beside the files they name (two
//! crawls that share a folder share its claims), in SQLite: one table, `names (name PRIMARY
//! KEY, url)`. A claim is committed before its file is renamed into place, so a name on disk is
//! always claimed (a `kill -9` between the two leaves a claim without a file, which the next
//! download of that URL fills). WAL with `synchronous = NORMAL`: a commit survives a `kill -9`;
//! a power cut may lose the last claims, and a file whose claim was lost is fetched again under
//! its name rather than trusted.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

/// The registry's file, in `download.dir`.
pub const FILE_NAME: &str = ".pagecrawl-names.db";

/// SQLite's `application_id` of the registry ("pcfn"): another program's database is refused.
const APPLICATION_ID: i32 = 0x7063_666e;

/// The longest chain of suffixes tried for one name: past it, the download fails with a reason
/// (a template that names thousands of files alike is a mistake).
pub const MAX_SUFFIX: u32 = 10_000;

/// The claims of one `download.dir`, shared by the round's downloaders.
#[derive(Debug)]
pub struct FileNames {
    /// The connection; claims are short, so one is enough.
    conn: Mutex<Connection>,
    /// The registry's path, for errors.
    path: PathBuf,
}

impl FileNames {
    /// Opens (or creates) the claims of the folder `dir`, which must exist.
    pub fn open(dir: &Path) -> Result<FileNames> {
        let path = dir.join(FILE_NAME);
        let fail = || format!("the file names registry {}", path.display());
        let conn = Connection::open(&path).with_context(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .with_context(fail)?;
        let id: i32 = conn
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .with_context(|| format!("{}: not an SQLite database", path.display()))?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .with_context(fail)?;
        if id != APPLICATION_ID && (id != 0 || tables != 0) {
            bail!(
                "{}: another program's database (not pagecrawl's file names registry); \
                 move it out of `download.dir`",
                path.display()
            );
        }
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA application_id = {APPLICATION_ID};
             CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, url TEXT NOT NULL);"
        ))
        .with_context(fail)?;
        Ok(FileNames {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The name of `wanted`'s chain that `url` holds, if it has claimed one: the name to look
    /// for its file under.
    pub fn held(&self, wanted: &str, ext: &str, url: &str) -> Result<Option<String>> {
        let conn = self.lock();
        for k in 1..=MAX_SUFFIX {
            let name = suffixed(wanted, ext, k);
            match self.owner(&conn, &name)? {
                None => return Ok(None),
                Some(owner) if owner == url => return Ok(Some(name)),
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// Claims for `url` the first name of `wanted`'s chain that is free or already its own, and
    /// returns it; committed before this returns.
    pub fn claim(&self, wanted: &str, ext: &str, url: &str) -> Result<String> {
        let conn = self.lock();
        for k in 1..=MAX_SUFFIX {
            let name = suffixed(wanted, ext, k);
            match self.owner(&conn, &name)? {
                None => {
                    conn.execute(
                        "INSERT INTO names (name, url) VALUES (?1, ?2)",
                        params![name, url],
                    )
                    .with_context(|| format!("claiming {name:?} in {}", self.path.display()))?;
                    return Ok(name);
                }
                Some(owner) if owner == url => return Ok(name),
                Some(_) => {}
            }
        }
        bail!(
            "{MAX_SUFFIX} files already want the name {wanted:?}: `download.name` names too many \
             files alike"
        )
    }

    fn owner(&self, conn: &Connection, name: &str) -> Result<Option<String>> {
        conn.query_row(
            "SELECT url FROM names WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()
        .with_context(|| format!("reading {}", self.path.display()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `k`th name of `wanted`'s chain: `wanted` itself, then `-k` before its extension `ext`
/// (`x.jpg`, `x-2.jpg`, `x-3.jpg`), or at its end when it has none.
pub fn suffixed(wanted: &str, ext: &str, k: u32) -> String {
    if k == 1 {
        return wanted.to_string();
    }
    match wanted.strip_suffix(ext).filter(|_| !ext.is_empty()) {
        Some(stem) => format!("{stem}-{k}{ext}"),
        None => format!("{wanted}-{k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_url_gets_the_next_free_name_and_keeps_it_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let names = FileNames::open(dir.path()).unwrap();
        assert_eq!(
            names.claim("cat.jpg", ".jpg", "http://a/1").unwrap(),
            "cat.jpg"
        );
        assert_eq!(
            names.claim("cat.jpg", ".jpg", "http://a/2").unwrap(),
            "cat-2.jpg"
        );
        assert_eq!(
            names.claim("cat.jpg", ".jpg", "http://a/1").unwrap(),
            "cat.jpg"
        );
        assert_eq!(names.claim("cat", "", "http://a/3").unwrap(), "cat");
        assert_eq!(names.claim("cat", "", "http://a/4").unwrap(), "cat-2");
        drop(names);
        let names = FileNames::open(dir.path()).unwrap();
        assert_eq!(
            names
                .held("cat.jpg", ".jpg", "http://a/2")
                .unwrap()
                .as_deref(),
            Some("cat-2.jpg")
        );
        assert_eq!(names.held("cat.jpg", ".jpg", "http://a/9").unwrap(), None);
        assert_eq!(
            names.claim("cat.jpg", ".jpg", "http://a/9").unwrap(),
            "cat-3.jpg"
        );
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let err = FileNames::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another program's database"), "{err}");
        std::fs::write(&path, b"not a database at all, just text").unwrap();
        let err = format!("{:#}", FileNames::open(dir.path()).unwrap_err());
        assert!(err.contains(FILE_NAME), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"not a database at all, just text"
        );
    }
}
