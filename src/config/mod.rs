//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! This module owns the file format (key names, defaults, types) and every check that can be made
//! before a single thread starts: zero counts, bad templates, selectors that do not parse. It does
//! not touch the network or the output file; the pipeline reports those errors when it opens them.
//!
//! Here: the typed sections and their defaults (each defined once, as the sections' `Default`
//! or constants, and used by the validation). `raw.rs` is the file as written (serde) and its
//! validation into these types, `describe.rs` the printout of `pagecrawl check` and the diff of
//! a reload, `limits.rs` the bounds of every setting.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::extract::Extractor;
use crate::http::headers::ExtraHeaders;
use crate::http::tls::CaFile;

pub use follow::{DownloadConfig, FILES_KEY, FollowConfig};

mod describe;
mod follow;
pub mod limits;
mod raw;
#[cfg(test)]
mod tests;
pub(crate) mod url_template;

pub use url_template::UrlTemplate;

/// A validated configuration, ready for [`crate::run`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Which pages to crawl.
    pub site: SiteConfig,
    /// How many threads each stage gets.
    pub threads: ThreadsConfig,
    /// Capacities of the bounded channels between the stages.
    pub queues: QueuesConfig,
    /// HTTP client settings.
    pub http: HttpConfig,
    /// The compiled item and field selectors.
    pub extract: Extractor,
    /// Where items go.
    pub output: OutputConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// Re-crawl every so often; `None` crawls once and exits.
    pub schedule: Option<ScheduleConfig>,
    /// The metrics and health endpoint.
    pub service: ServiceConfig,
    /// Where page numbers come from: this process's range, or a frontier shared in Redis.
    pub frontier: FrontierConfig,
    /// Each item's detail page, fetched and merged into the item; `None` fetches none.
    pub follow: Option<FollowConfig>,
    /// The files each item names, downloaded; `None` downloads none.
    pub download: Option<DownloadConfig>,
}

/// The `[frontier]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FrontierConfig {
    /// This process crawls the range on its own (the default).
    #[default]
    Local,
    /// Several daemons share the range through a Redis stream.
    Redis(RedisFrontierConfig),
}

/// `[frontier] kind = "redis"`: the shared frontier's address and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisFrontierConfig {
    /// The server, as a `redis://host:port/db` URL.
    pub url: String,
    /// The crawl's name: every key is `pagecrawl:<name>:…`.
    pub name: String,
    /// How long a daemon may hold a page it took before the others take it over.
    pub lease: Duration,
}

impl Default for RedisFrontierConfig {
    fn default() -> Self {
        RedisFrontierConfig {
            url: "redis://127.0.0.1:6379/0".to_string(),
            name: "pagecrawl".to_string(),
            lease: Duration::from_secs(60),
        }
    }
}

/// The `[schedule]` table: a long-lived service re-crawls the range in rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// From the start of one round to the start of the next (rounds never overlap).
    pub every: Duration,
}

/// The `[service]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Where `/metrics` and `/healthz` are served; `None` serves nothing.
    pub listen: Option<SocketAddr>,
}

/// The `[site]` table: the listing and its page range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// The page URL with `{page}` and/or `{offset}` placeholders (and `{{`, `}}` for braces).
    pub url: UrlTemplate,
    /// The first page number to crawl.
    pub first_page: u64,
    /// The last page number to crawl, inclusive; `None` crawls until a page yields no items.
    pub last_page: Option<u64>,
    /// Items per page, used to compute `{offset}`.
    pub page_size: u64,
    /// "Until empty" mode: the most pages crawled from `first_page` before giving up on
    /// finding the end of the listing.
    pub max_pages: u64,
    /// "Until empty" mode: this many failed pages in a row stop the crawl.
    pub max_failed_in_a_row: u32,
}

impl SiteConfig {
    /// `site.page_size` when unset: Douban's 25 items per page.
    pub const DEFAULT_PAGE_SIZE: u64 = 25;
    /// `site.max_pages` when unset.
    pub const DEFAULT_MAX_PAGES: u64 = 100_000;
    /// `site.max_failed_in_a_row` when unset.
    pub const DEFAULT_MAX_FAILED_IN_A_ROW: u32 = 20;
}

/// The `[threads]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadsConfig {
    /// Threads that fetch pages.
    pub crawlers: NonZeroUsize,
    /// Threads that parse HTML into items.
    pub parsers: NonZeroUsize,
}

impl Default for ThreadsConfig {
    fn default() -> Self {
        ThreadsConfig {
            crawlers: nonzero(3),
            // One per core, since parsing is CPU-bound; but a machine of more cores than the
            // bound still starts.
            parsers: std::thread::available_parallelism()
                .unwrap_or(NonZeroUsize::MIN)
                .min(nonzero(limits::PARSERS.max as usize)),
        }
    }
}

/// The `[queues]` table: bounded channel capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuesConfig {
    /// Page numbers waiting for a crawler.
    pub pages: NonZeroUsize,
    /// Fetched pages waiting for a parser.
    pub html: NonZeroUsize,
    /// Parsed pages (each with all of its items) waiting for the writer.
    pub items: NonZeroUsize,
    /// What the pages waiting for the writer may weigh together, in bytes of items; a single
    /// page heavier than this still passes, alone.
    pub items_bytes: NonZeroUsize,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        QueuesConfig {
            pages: nonzero(20),
            html: nonzero(16),
            items: nonzero(1024),
            items_bytes: nonzero(16 << 20),
        }
    }
}

/// The `[http]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The User-Agent header sent with every request.
    pub user_agent: String,
    /// Budget for a whole request, from connect to the last body byte.
    pub timeout: Duration,
    /// Budget for establishing the connection.
    pub connect_timeout: Duration,
    /// Extra attempts after a connect error, a timeout, a 5xx or a 429.
    pub retries: u32,
    /// Base of the exponential backoff between attempts.
    pub backoff: Duration,
    /// Minimum gap between two request starts to one host, across all threads.
    pub delay: Duration,
    /// A response body larger than this fails the page.
    pub max_body_bytes: u64,
    /// After a stop is requested, how long requests in flight may take before they are abandoned.
    pub shutdown_grace: Duration,
    /// Redirects followed per request before the page fails.
    pub max_redirects: u32,
    /// Follow redirects to another host than `site.url`'s.
    pub follow_offsite_redirects: bool,
    /// The proxy to use (`http://`, `socks5://` …); `None` uses none, whatever the environment says.
    pub proxy: Option<String>,
    /// Requests in flight to one host (scheme, host and port) at once, by every stage together;
    /// `None` caps them only by the thread counts.
    pub per_host: Option<NonZeroUsize>,
    /// Obey each origin's robots.txt (`http.robots`): skip the pages it disallows and honour
    /// its `Crawl-delay`.
    pub robots: bool,
    /// `[http.headers]`: extra headers sent with every request to the site's origin.
    pub headers: ExtraHeaders,
    /// `http.ca_file`: certificates trusted in addition to the built-in roots.
    pub ca_file: Option<CaFile>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: concat!("pagecrawl/", env!("CARGO_PKG_VERSION")).to_string(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(500),
            delay: Duration::ZERO,
            max_body_bytes: 10 << 20,
            shutdown_grace: Duration::from_secs(30),
            max_redirects: 5,
            follow_offsite_redirects: false,
            proxy: None,
            per_host: None,
            robots: true,
            headers: ExtraHeaders::default(),
            ca_file: None,
        }
    }
}

/// The `[output]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The JSON Lines file items are appended to.
    pub path: PathBuf,
    /// The journal of committed pages, used to resume.
    pub state: PathBuf,
    /// When the output and the journal are synced to disk.
    pub sync: SyncMode,
    /// Write only items whose key was never written before, with a `first_seen` time.
    pub dedup: Option<Dedup>,
    /// The seen-set file of `dedup`.
    pub seen: PathBuf,
}

/// `output.dedup`: which field identifies an item across rounds and runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    /// The field's name, as in `[extract.fields]`.
    pub field: String,
    /// Its position among the fields.
    pub index: usize,
}

/// `output.sync`: how often committed pages are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync the output, then the journal, after every page.
    Page,
    /// Group commits: fsync at most every 250 ms or 64 pages (the default).
    #[default]
    Batch,
    /// Never fsync: a `kill -9` loses nothing committed, a power cut may lose anything unsynced.
    Never,
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncMode::Page => "page",
            SyncMode::Batch => "batch",
            SyncMode::Never => "never",
        })
    }
}

/// The `[log]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Gap between progress lines; `None` turns them off.
    pub stats_interval: Option<Duration>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            stats_interval: Some(Duration::from_secs(60)),
        }
    }
}

impl SiteConfig {
    /// The URL of `page`.
    pub fn url_of(&self, page: u64) -> String {
        self.url.render(page, self.page_size)
    }

    /// How many pages the range holds, or `None` in "until empty" mode.
    pub fn page_count(&self) -> Option<u64> {
        self.last_page.map(|last| last - self.first_page + 1)
    }

    /// The last page `max_pages` lets an "until empty" crawl fetch.
    pub fn max_page(&self) -> u64 {
        self.first_page.saturating_add(self.max_pages - 1)
    }
}

/// `n`, which must not be 0: for the defaults above.
const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("a default count of 0"),
    }
}

/// The demo crawl's config (`config/demo.toml`), filled in: the site's URL template, its last
/// page, and the output file. `pagecrawl demo` crawls with it; the benchmark scripts read the
/// same file.
pub fn demo_toml(url_template: &str, last_page: u64, out: &Path) -> String {
    let string = |text: &str| toml::Value::String(text.to_string()).to_string();
    include_str!("../../config/demo.toml")
        .replace("{url}", &string(url_template))
        .replace("{last_page}", &last_page.to_string())
        .replace("{out}", &string(&out.display().to_string()))
}

impl Config {
    /// The names of an item's fields in output order: the list's, then the detail page's
    /// (without the `files` the download stage adds).
    pub fn item_fields(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.extract.field_names().collect();
        if let Some(follow) = &self.follow {
            names.extend(follow.extract.field_names());
        }
        names
    }

    /// Reads and validates the config file at `path`: a regular file of at most
    /// [`limits::MAX_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<Config> {
        let text = limits::read_config_file(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Config::from_toml(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str) -> Result<Config> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
        raw.validate()
    }
}
