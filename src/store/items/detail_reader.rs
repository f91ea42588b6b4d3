//! The detail crawlers' view of the store, each on a read-only connection of its own: WAL lets
//! them read while the writer writes.

use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::named;
use crate::http::Validators;

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
