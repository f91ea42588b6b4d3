//! pagecrawl: a crawler daemon for page-numbered listings.
//!
//! The crawl is a fixed pipeline of threads joined by bounded channels:
//!
//! ```text
//! feeder ─pages─▶ N crawlers ─html─▶ M parsers ─items─▶ 1 writer ─▶ out.jsonl
//! ```
//!
//! with, when configured, detail crawlers (`[follow]`) and downloaders (`[download]`) between
//! the parsers and the writer, which pass on only whole pages.
//!
//! Every stage ends when its input channel is disconnected and drained, so shutdown never loses
//! a fetched page: the [`Shutdown`] flag only stops new pages from being taken.
//!
//! The public surface is small: a [`Config`] (loaded and validated from TOML), [`run`] one crawl
//! (or [`run_with`] as a round of a service, with an [`Observer`]) and read its [`Outcome`]; the
//! [`extract::Extractor`] on its own; and what the binary needs around a crawl (the owner lock,
//! `--fresh`, the last round of a service, `pagecrawl seed`, and the [`preview`] of one page
//! that `pagecrawl try` prints). The layers behind it (`http`, `extract`'s engines, `store`,
//! `frontier`, `round`, `pipeline`) are the crate's own.

pub mod config;
mod exit_code;
pub mod extract;
mod frontier;
mod hash;
mod http;
mod pipeline;
mod round;
mod shutdown;
pub mod stats;
mod store;

pub use config::Config;
pub use exit_code::ExitCode;
pub use frontier::{SeedReport, Seeded, seed};
pub use http::FetchError;
pub use pipeline::{DetailError, FileError, Observer, PageError, ParseError, Silent, StageFailure};
pub use round::{Outcome, Preview, RunOptions, Whole, preview, run, run_with};
pub use shutdown::{OutputLock, Shutdown};
pub use store::file_names::FILE_NAME as NAMES_FILE;
pub use store::owner::OwnerLock;
pub use store::recovery::{RoundMark, last_round};
pub use store::start_fresh;

/// Internals that the integration tests and the fuzz targets drive directly: the journal's
/// format and recovery, the seen-set's key, the body decoder. Not a stable API.
#[doc(hidden)]
pub mod testing {
    pub use crate::http::body::decode_body;
    pub use crate::store::journal::{Fingerprint, Journal, Record, decode, encode, output_sum};
    pub use crate::store::recovery::recover;
    pub use crate::store::resume::{Files, Mode, Opened};
    pub use crate::store::seen::key_of;
}
