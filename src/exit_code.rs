//! The process exit codes, one per way a run can end.

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
