//! The typed tables of the config file: each key a field, read by serde with its default and
//! printed back by `check` through the same field. What a key means and its bounds are in
//! `keys.rs`; the rules between keys are in `rules.rs`.
//!
//! `[follow]` and `[download]`, which are checked against the item's fields, are in `follow.rs`.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::forms::{interval_secs, millis, secs, whole_secs};
use super::{CaFile, ExtraHeaders, NextUrl, UrlTemplate, keys};

/// `n`, which must not be 0: for the defaults below.
pub(super) const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("a default count of 0"),
    }
}

/// The `[site]` table: the listing and its page range.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The page URL with `{page}` and/or `{offset}` placeholders (and `{{`, `}}` for braces).
    pub url: UrlTemplate,
    /// The first page number to crawl.
    #[serde(default)]
    pub first_page: u64,
    /// The last page number to crawl, inclusive; `None` crawls until a page yields no items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u64>,
    /// Items per page, used to compute `{offset}`.
    #[serde(default = "SiteConfig::default_page_size")]
    pub page_size: u64,
    /// "Until empty" mode: the most pages crawled from `first_page` before giving up on
    /// finding the end of the listing.
    #[serde(default = "SiteConfig::default_max_pages")]
    pub max_pages: u64,
    /// "Until empty" mode: this many failed pages in a row stop the crawl.
    #[serde(default = "SiteConfig::default_max_failed_in_a_row")]
    pub max_failed_in_a_row: u32,
    /// "Until empty" mode on JSON pages: the JSONPath of each page's "another page follows"
    /// flag (`"$.has_next"`); a page where it is `false` is the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_next: Option<String>,
    /// A listing paged by next links: the short form (`"a[rel=next]@href"`, `"$.next"`) that
    /// finds each page's link to the next; `url` is then the first page, without placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// With `next`: the URL its value goes into when the value is a cursor, not a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url: Option<NextUrl>,
}

impl SiteConfig {
    /// `site.page_size` when unset: Douban's 25 items per page.
    pub const DEFAULT_PAGE_SIZE: u64 = 25;
    /// `site.max_pages` when unset.
    pub const DEFAULT_MAX_PAGES: u64 = 100_000;
    /// `site.max_failed_in_a_row` when unset.
    pub const DEFAULT_MAX_FAILED_IN_A_ROW: u32 = 20;

    fn default_page_size() -> u64 {
        Self::DEFAULT_PAGE_SIZE
    }

    fn default_max_pages() -> u64 {
        Self::DEFAULT_MAX_PAGES
    }

    fn default_max_failed_in_a_row() -> u32 {
        Self::DEFAULT_MAX_FAILED_IN_A_ROW
    }

    /// The URL of `page`.
    pub fn url_of(&self, page: u64) -> String {
        self.url.render(page, self.page_size)
    }

    /// The URL of the page after one whose next link (`site.next`) is `value`: the value
    /// itself, or the cursor in `site.next_url`.
    pub fn next_page_url(&self, value: String) -> String {
        match &self.next_url {
            Some(template) => template.render(&value),
            None => value,
        }
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

/// The `[threads]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
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
                .min(nonzero(keys::PARSERS.bound().max as usize)),
        }
    }
}

/// The `[queues]` table: bounded channel capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The User-Agent header sent with every request.
    pub user_agent: String,
    /// Budget for a whole request, from connect to the last body byte.
    #[serde(rename = "timeout_secs", with = "secs")]
    pub timeout: Duration,
    /// Budget for establishing the connection.
    #[serde(rename = "connect_timeout_secs", with = "secs")]
    pub connect_timeout: Duration,
    /// Extra attempts after a connect error, a timeout, a 5xx or a 429.
    pub retries: u32,
    /// Base of the exponential backoff between attempts.
    #[serde(rename = "backoff_ms", with = "millis")]
    pub backoff: Duration,
    /// Minimum gap between two request starts to one host, across all threads.
    #[serde(rename = "delay_ms", with = "millis")]
    pub delay: Duration,
    /// A response body larger than this fails the page.
    pub max_body_bytes: u64,
    /// After a stop is requested, how long requests in flight may take before they are abandoned.
    #[serde(rename = "shutdown_grace_secs", with = "secs")]
    pub shutdown_grace: Duration,
    /// Redirects followed per request before the page fails.
    pub max_redirects: u32,
    /// Follow redirects to another host than `site.url`'s.
    pub follow_offsite_redirects: bool,
    /// The proxy to use (`http://`, `socks5://` …); `None` uses none, whatever the environment says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Requests in flight to one host (scheme, host and port) at once, by every stage together;
    /// `None` caps them only by the thread counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_host: Option<NonZeroUsize>,
    /// Obey each origin's robots.txt (`http.robots`): skip the pages it disallows and honour
    /// its `Crawl-delay`.
    pub robots: bool,
    /// Ask list and detail pages again with the `ETag` and `Last-Modified` of the last round
    /// (`If-None-Match`, `If-Modified-Since`); a `304` keeps what the store knows of the page.
    /// On by default with `output.key` and `[schedule]` or a Redis frontier (whose daemons
    /// share the list pages' validators).
    pub conditional: bool,
    /// `http.ca_file`: certificates trusted in addition to the built-in roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<CaFile>,
    /// `[http.headers]`: extra headers sent with every request to the site's origin.
    #[serde(skip_serializing)]
    pub headers: ExtraHeaders,
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
            conditional: false,
            ca_file: None,
            headers: ExtraHeaders::default(),
        }
    }
}

/// The `[output]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The JSON Lines file items are appended to.
    pub path: PathBuf,
    /// The journal of committed pages, used to resume (`<path>.state` unless set).
    #[serde(default)]
    pub state: PathBuf,
    /// When the output and the journal are synced to disk.
    #[serde(default)]
    pub sync: SyncMode,
    /// The field whose value names an item across rounds: the store keeps each key's last
    /// values, and tells new, changed, unchanged and gone items apart (with a Redis frontier,
    /// the daemons share them in Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyField>,
    /// With `key`: one line per change (new, changed, gone) instead of every item.
    #[serde(default)]
    pub changes: bool,
    /// The store of `key`, an SQLite database (`<path without its extension>.db` unless set).
    #[serde(default)]
    pub store: PathBuf,
    /// Write only items whose key was never written before, with a `first_seen` time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<KeyField>,
    /// The seen-set file of `dedup` (`<path>.seen` unless set).
    #[serde(default)]
    pub seen: PathBuf,
}

/// `output.key` or `output.dedup`: which field names an item across rounds and runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub struct KeyField {
    /// The field's name, as in `[extract.fields]`.
    pub field: String,
    /// Its position among the fields (found once the fields are known).
    pub index: usize,
}

impl From<String> for KeyField {
    fn from(field: String) -> KeyField {
        KeyField { field, index: 0 }
    }
}

impl From<KeyField> for String {
    fn from(key: KeyField) -> String {
        key.field
    }
}

/// `output.sync`: how often committed pages are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Gap between progress lines; `None` turns them off.
    #[serde(rename = "stats_interval_secs", with = "interval_secs")]
    pub stats_interval: Option<Duration>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            stats_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// The `[schedule]` table: a long-lived service re-crawls the range in rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// From the start of one round to the start of the next (rounds never overlap).
    #[serde(rename = "every_secs", with = "whole_secs")]
    pub every: Duration,
}

/// The `[service]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Where `/metrics` and `/healthz` are served; `None` serves nothing.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "listen_address"
    )]
    pub listen: Option<SocketAddr>,
}

/// `service.listen`, refused in the words of the key.
fn listen_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`service.listen` must be an address and port such as \"127.0.0.1:9187\", got \
             {text:?}"
        ))
    })
}

/// The `[frontier]` table: where page numbers come from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "FrontierTable", into = "FrontierTable")]
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

/// `[frontier]` as the file writes it: one flat table whose `kind` says which of
/// [`FrontierConfig`] it is.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FrontierTable {
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_secs"
    )]
    lease_secs: Option<Duration>,
}

/// `lease_secs`, optional.
mod optional_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

impl TryFrom<FrontierTable> for FrontierConfig {
    type Error = String;

    fn try_from(table: FrontierTable) -> Result<FrontierConfig, String> {
        match table.kind.as_deref().unwrap_or("local") {
            "local" => {
                let stray = [
                    ("url", table.url.is_some()),
                    ("name", table.name.is_some()),
                    ("lease_secs", table.lease_secs.is_some()),
                ];
                if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "`frontier.{key}` only applies with `frontier.kind = \"redis\"`"
                    ));
                }
                Ok(FrontierConfig::Local)
            }
            "redis" => {
                let defaults = RedisFrontierConfig::default();
                let url = table.url.unwrap_or(defaults.url);
                if let Err(err) = redis::Client::open(url.as_str()) {
                    return Err(format!(
                        "`frontier.url` must be a Redis URL such as \"redis://127.0.0.1:6379/0\", \
                         got {url:?}: {err}"
                    ));
                }
                let name = table.name.unwrap_or(defaults.name);
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
                if name.is_empty() || name.len() > 100 || !name.chars().all(valid) {
                    return Err(format!(
                        "`frontier.name` must be 1 to 100 letters, digits, `-`, `_` or `.`, got \
                         {name:?}"
                    ));
                }
                Ok(FrontierConfig::Redis(RedisFrontierConfig {
                    url,
                    name,
                    lease: table.lease_secs.unwrap_or(defaults.lease),
                }))
            }
            other => Err(format!(
                "`frontier.kind` must be \"local\" or \"redis\", got {other:?}"
            )),
        }
    }
}

impl From<FrontierConfig> for FrontierTable {
    fn from(frontier: FrontierConfig) -> FrontierTable {
        match frontier {
            FrontierConfig::Local => FrontierTable {
                kind: Some("local".to_string()),
                ..FrontierTable::default()
            },
            FrontierConfig::Redis(redis) => FrontierTable {
                kind: Some("redis".to_string()),
                url: Some(redis.url),
                name: Some(redis.name),
                lease_secs: Some(redis.lease),
            },
        }
    }
}
