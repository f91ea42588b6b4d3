//! pagecrawl: a crawler daemon for page-numbered listings.
//!
//! The crawl is a fixed pipeline of threads joined by bounded channels:
//!
//! ```text
//! feeder ─pages─▶ N crawlers ─html─▶ M parsers ─items─▶ 1 writer ─▶ out.jsonl
//! ```
//!
//! Each stage lives in the module named after it; [`pipeline`] wires them together and joins them.
//! Every stage ends when its input channel is disconnected and drained, so shutdown never loses a
//! fetched page: the [`shutdown`] flag only stops new pages from being taken.

pub mod budget;
pub mod config;
pub mod demo;
pub mod demo_site;
pub mod endpoint;
pub mod feeder;
pub mod fetch;
#[allow(dead_code)]
pub(crate) mod field_spec;
#[allow(dead_code)]
pub(crate) mod files;
pub mod frontier;
#[allow(dead_code)]
pub(crate) mod headers;
#[allow(dead_code)]
pub(crate) mod host_list;
#[allow(dead_code)]
pub(crate) mod hosts;
pub mod listing;
pub mod metrics;
pub mod owner;
pub mod parse;
pub mod pipeline;
pub mod policy;
pub mod progress;
#[allow(dead_code)]
pub(crate) mod robots;
pub mod seen;
#[allow(dead_code)]
pub(crate) mod selector_check;
pub mod service;
pub mod shutdown;
#[allow(dead_code)]
pub(crate) mod srcset;
pub mod state;
pub mod stats;
#[allow(dead_code)]
pub(crate) mod url_template;
#[allow(dead_code)]
pub(crate) mod values;
pub mod writer;

/// The process exit codes pagecrawl uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// The crawl finished and every page in it is committed.
    Success = 0,
    /// A config, setup or runtime error, or a stage that panicked.
    Error = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The crawl finished, but some pages failed after their retries; they are recorded in the
    /// state and the next run tries them again.
    PagesFailed = 3,
    /// Stopped by SIGINT or SIGTERM; everything fetched was written.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
