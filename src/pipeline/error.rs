//! Why a page failed, and why a stage did: one variant per case, each displayed as the one line
//! the log, the state file and the summary show. A page's failure costs that page (the next run
//! fetches it again); a stage's failure stops the round and exits 1.
//!
//! Errors of the layers below ([`FetchError`], an extraction's per-page limit) are carried as
//! they are, so that a caller can tell a timeout from a refused redirect without reading text.

use std::fmt;
use std::sync::Arc;

use crate::extract::OverLimit;
use crate::http::FetchError;

/// Why a page could not be completed. Recorded as failed in the state; the next run tries it
/// again.
#[derive(Debug, Clone)]
pub enum PageError {
    /// Its request failed after its retries (or was refused for good: a redirect elsewhere, a
    /// body over `http.max_body_bytes`).
    Fetch(Arc<FetchError>),
    /// It could not be parsed: over a per-page limit, or the parser panicked.
    Parse(ParseError),
    /// The detail page of one of its items failed; the page fails whole, so that no item is
    /// written without its detail fields.
    Detail {
        /// The detail page's URL.
        url: String,
        /// Why it failed.
        error: DetailError,
    },
    /// A file of one of its items could not be downloaded or stored; the page fails whole.
    File {
        /// The file's URL.
        url: String,
        /// Why.
        error: FileError,
    },
    /// `download.dir` could not be synced, so the page's files might not survive a power cut.
    SyncDir {
        /// The folder.
        dir: String,
        /// The system's error.
        error: Arc<std::io::Error>,
    },
}

/// Why a page's HTML gave no items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The URL the page came from, after redirects, is not a URL.
    BadUrl {
        /// The URL as the client reported it.
        url: String,
        /// Why it does not parse.
        reason: url::ParseError,
    },
    /// The page is over a per-page limit (`extract.max_items_per_page`,
    /// `extract.max_bytes_per_page`).
    Limit(OverLimit),
    /// The HTML parser panicked on the page; the panic's message.
    Panicked(String),
    /// The page's next link (`site.next`) could not be read: why, naming the key.
    NextLink(String),
}

/// Why a detail page failed.
#[derive(Debug, Clone)]
pub enum DetailError {
    /// Its request failed after its retries.
    Fetch(Arc<FetchError>),
    /// It could not be parsed.
    Parse(ParseError),
}

/// Why a file could not be stored.
#[derive(Debug, Clone)]
pub enum FileError {
    /// Its request failed after its retries.
    Fetch(Arc<FetchError>),
    /// It is larger than `download.max_bytes` (the limit given).
    TooLarge(u64),
    /// The file already stored under its name could not be read to check it.
    Read {
        /// Its path.
        path: String,
        /// The system's error.
        error: Arc<std::io::Error>,
    },
    /// The downloaded file could not be moved to its name.
    Store {
        /// Its path.
        path: String,
        /// The system's error.
        error: Arc<std::io::Error>,
    },
    /// The file names registry of `download.dir` could not be read or written, or gave no
    /// free name: what went wrong, naming the registry's file or the name.
    Names(Arc<anyhow::Error>),
}

/// Why a stage of a round failed: the round stops, and the process exits 1.
#[derive(Debug, Clone)]
pub enum StageFailure {
    /// A stage thread panicked.
    Panicked {
        /// The thread's name (`crawler-3`).
        thread: String,
        /// The panic's message.
        message: String,
    },
    /// The writer could not write the output or the state, or its listener is gone.
    Writer(Arc<anyhow::Error>),
    /// A thread could not be spawned.
    Spawn(Arc<std::io::Error>),
    /// The end of the round could not be recorded in the state file.
    RoundEnd {
        /// The state file.
        path: String,
        /// The system's error.
        error: Arc<std::io::Error>,
    },
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Fetch(err) => write!(f, "{err}"),
            PageError::Parse(err) => write!(f, "{err}"),
            PageError::Detail { url, error } => write!(f, "detail page {url}: {error}"),
            PageError::File { url, error } => write!(f, "file {url}: {error}"),
            PageError::SyncDir { dir, error } => write!(f, "syncing download.dir {dir}: {error}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadUrl { url, reason } => write!(f, "bad page URL {url:?}: {reason}"),
            ParseError::Limit(over) => write!(f, "{over}"),
            ParseError::Panicked(message) => write!(f, "the HTML parser panicked: {message}"),
            ParseError::NextLink(reason) => write!(f, "{reason}"),
        }
    }
}

impl fmt::Display for DetailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailError::Fetch(err) => write!(f, "{err}"),
            DetailError::Parse(err) => write!(f, "{err}"),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Fetch(err) => write!(f, "{err}"),
            FileError::TooLarge(limit) => {
                write!(f, "larger than download.max_bytes ({limit} bytes)")
            }
            FileError::Read { path, error } => write!(f, "reading {path}: {error}"),
            FileError::Store { path, error } => write!(f, "storing {path}: {error}"),
            FileError::Names(error) => write!(f, "{error:#}"),
        }
    }
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageFailure::Panicked { thread, message } => write!(f, "{thread} panicked: {message}"),
            StageFailure::Writer(err) => write!(f, "{err:#}"),
            StageFailure::Spawn(err) => write!(f, "spawning a thread: {err}"),
            StageFailure::RoundEnd { path, error } => {
                write!(f, "writing state file {path}: {error}")
            }
        }
    }
}

impl std::error::Error for PageError {}
impl std::error::Error for StageFailure {}

impl PageError {
    /// The page's request failed with `err`.
    pub(crate) fn fetch(err: FetchError) -> PageError {
        PageError::Fetch(Arc::new(err))
    }

    /// The fetch error behind this failure, if it is one (of the page, a detail page or a
    /// file).
    pub fn fetch_error(&self) -> Option<&FetchError> {
        match self {
            PageError::Fetch(err)
            | PageError::Detail {
                error: DetailError::Fetch(err),
                ..
            }
            | PageError::File {
                error: FileError::Fetch(err),
                ..
            } => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_they_always_have() {
        let status = PageError::fetch(FetchError::Status {
            code: 500,
            retry_after: None,
        });
        assert_eq!(status.to_string(), "http status 500");
        let detail = PageError::Detail {
            url: "http://x/d/1".into(),
            error: DetailError::Parse(ParseError::Panicked("boom".into())),
        };
        assert_eq!(
            detail.to_string(),
            "detail page http://x/d/1: the HTML parser panicked: boom"
        );
        let file = PageError::File {
            url: "http://x/a.png".into(),
            error: FileError::TooLarge(100),
        };
        assert_eq!(
            file.to_string(),
            "file http://x/a.png: larger than download.max_bytes (100 bytes)"
        );
        let panic = StageFailure::Panicked {
            thread: "writer".into(),
            message: "injected writer panic".into(),
        };
        assert_eq!(panic.to_string(), "writer panicked: injected writer panic");
    }
}
