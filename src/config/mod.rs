//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! This module owns the file format (key names, defaults, types) and every check that can be made
//! before a single thread starts: zero counts, bad templates, selectors that do not parse. It does
//! not touch the network or the output file; the pipeline reports those errors when it opens them.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::extract::{Engine, Extractor, Limits};

pub mod limits;

use limits::Bound;

/// A validated configuration, ready for [`crate::pipeline::run`].
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
    /// The page URL with `{page}` and/or `{offset}` placeholders.
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

/// The `[threads]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadsConfig {
    /// Threads that fetch pages.
    pub crawlers: NonZeroUsize,
    /// Threads that parse HTML into items.
    pub parsers: NonZeroUsize,
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
    /// Minimum gap between two request starts, across all crawler threads.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync the output, then the journal, after every page.
    Page,
    /// Group commits: fsync at most every 250 ms or 64 pages.
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

/// A page URL with `{page}` and `{offset}` placeholders, checked to be http(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// Checks that `template` has a placeholder and gives an http(s) URL once filled in.
    pub fn parse(template: &str) -> Result<UrlTemplate> {
        if !template.contains("{page}") && !template.contains("{offset}") {
            bail!("`site.url` must contain `{{page}}` or `{{offset}}`: {template:?}");
        }
        let template = UrlTemplate(template.to_string());
        let sample = template.render(0, 1);
        let uri: ureq::http::Uri = sample
            .parse()
            .with_context(|| format!("`site.url` is not a valid URL: {sample:?}"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => bail!("`site.url` must start with http:// or https://: {sample:?}"),
        }
        if uri.host().is_none_or(str::is_empty) {
            bail!("`site.url` has no host: {sample:?}");
        }
        Ok(template)
    }

    /// The URL of `page`, with `{offset}` = `page * page_size`.
    pub fn render(&self, page: u64, page_size: u64) -> String {
        self.0
            .replace("{page}", &page.to_string())
            .replace("{offset}", &page.saturating_mul(page_size).to_string())
    }

    /// The template as written in the config.
    pub fn as_str(&self) -> &str {
        &self.0
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

/// Built-in default thread count for parsers: one per core, since parsing is CPU-bound.
pub fn default_parsers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

impl Config {
    /// Reads and validates the config file at `path`: a regular file of at most
    /// [`limits::MAX_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<Config> {
        let text = limits::read_config_file(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Config::from_toml(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
        raw.validate()
    }

    /// What identifies this crawl in the state file.
    pub fn fingerprint(&self) -> crate::store::journal::Fingerprint {
        crate::store::journal::Fingerprint {
            url: self.site.url.as_str().to_string(),
            first_page: self.site.first_page,
            last_page: self.site.last_page,
            page_size: self.site.page_size,
            item: self.extract.item_selector().to_string(),
            fields: self
                .extract
                .field_specs()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
        }
    }

    /// The effective settings, one `key = value` per line, as `pagecrawl check` prints them.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) -> fmt::Result {
        let s = &self.site;
        writeln!(out, "[site]")?;
        writeln!(out, "url = {:?}", s.url.as_str())?;
        writeln!(out, "first_page = {}", s.first_page)?;
        match s.last_page {
            Some(last) => writeln!(out, "last_page = {last}")?,
            None => writeln!(out, "# last_page unset: crawl until a page yields no items")?,
        }
        writeln!(out, "page_size = {}", s.page_size)?;
        writeln!(out, "max_pages = {}", s.max_pages)?;
        writeln!(out, "max_failed_in_a_row = {}", s.max_failed_in_a_row)?;
        if s.last_page.is_some() {
            writeln!(
                out,
                "# max_pages and max_failed_in_a_row apply without last_page only"
            )?;
        }
        writeln!(out, "# first url: {}", s.url_of(s.first_page))?;
        writeln!(out, "\n[threads]")?;
        writeln!(out, "crawlers = {}", self.threads.crawlers)?;
        writeln!(out, "parsers = {}", self.threads.parsers)?;
        writeln!(out, "\n[queues]")?;
        writeln!(out, "pages = {}", self.queues.pages)?;
        writeln!(out, "html = {}", self.queues.html)?;
        writeln!(out, "items = {}", self.queues.items)?;
        writeln!(out, "items_bytes = {}", self.queues.items_bytes)?;
        let h = &self.http;
        writeln!(out, "\n[http]")?;
        writeln!(out, "user_agent = {:?}", h.user_agent)?;
        writeln!(out, "timeout_secs = {}", h.timeout.as_secs_f64())?;
        writeln!(
            out,
            "connect_timeout_secs = {}",
            h.connect_timeout.as_secs_f64()
        )?;
        writeln!(out, "retries = {}", h.retries)?;
        writeln!(out, "backoff_ms = {}", h.backoff.as_millis())?;
        writeln!(out, "delay_ms = {}", h.delay.as_millis())?;
        writeln!(out, "max_body_bytes = {}", h.max_body_bytes)?;
        writeln!(
            out,
            "shutdown_grace_secs = {}",
            h.shutdown_grace.as_secs_f64()
        )?;
        writeln!(out, "max_redirects = {}", h.max_redirects)?;
        writeln!(
            out,
            "follow_offsite_redirects = {}",
            h.follow_offsite_redirects
        )?;
        match &h.proxy {
            Some(proxy) => writeln!(out, "proxy = {proxy:?}")?,
            None => writeln!(
                out,
                "# proxy unset: none is used, whatever the environment says"
            )?,
        }
        writeln!(out, "\n[extract]")?;
        writeln!(out, "item = {:?}", self.extract.item_selector())?;
        writeln!(out, "engine = \"{}\"", self.extract.engine().name())?;
        let limits = self.extract.limits();
        writeln!(out, "max_items_per_page = {}", limits.max_items)?;
        writeln!(out, "max_bytes_per_page = {}", limits.max_bytes)?;
        if let Some(why) = self.extract.stream_unavailable() {
            writeln!(
                out,
                "# every page goes to the DOM engine: the stream cannot match {why}"
            )?;
        }
        writeln!(out, "[extract.fields]")?;
        for (name, spec) in self.extract.field_specs() {
            writeln!(out, "{name} = {spec:?}")?;
        }
        writeln!(out, "\n[output]")?;
        writeln!(out, "path = {:?}", self.output.path.display().to_string())?;
        writeln!(out, "state = {:?}", self.output.state.display().to_string())?;
        writeln!(out, "sync = \"{}\"", self.output.sync)?;
        match &self.output.dedup {
            Some(dedup) => {
                writeln!(out, "dedup = {:?}", dedup.field)?;
                writeln!(out, "seen = {:?}", self.output.seen.display().to_string())?;
            }
            None => writeln!(out, "# dedup unset: every item is written, every round")?,
        }
        writeln!(out, "\n[log]")?;
        let secs = self.log.stats_interval.map_or(0.0, |d| d.as_secs_f64());
        writeln!(out, "stats_interval_secs = {secs}")?;
        writeln!(out, "\n[schedule]")?;
        match self.schedule {
            Some(schedule) => writeln!(out, "every_secs = {}", schedule.every.as_secs())?,
            None => writeln!(out, "# every_secs unset: crawl once, then exit")?,
        }
        writeln!(out, "\n[service]")?;
        match self.service.listen {
            Some(addr) => writeln!(out, "listen = \"{addr}\"")?,
            None => writeln!(out, "# listen unset: no /metrics or /healthz")?,
        }
        writeln!(out, "\n[frontier]")?;
        match &self.frontier {
            FrontierConfig::Local => writeln!(out, "kind = \"local\"")?,
            FrontierConfig::Redis(redis) => {
                writeln!(out, "kind = \"redis\"")?;
                writeln!(out, "url = {:?}", redis.url)?;
                writeln!(out, "name = {:?}", redis.name)?;
                writeln!(out, "lease_secs = {}", redis.lease.as_secs_f64())?;
            }
        }
        Ok(())
    }

    /// What changed from `self` to `new`, one `table.key: old -> new` line per setting, in the
    /// order `pagecrawl check` prints them. Empty when nothing did.
    pub fn changes(&self, new: &Config) -> Vec<String> {
        let (old, new) = (settings(&self.describe()), settings(&new.describe()));
        let mut out = Vec::new();
        for (key, value) in &old {
            match new.iter().find(|(k, _)| k == key) {
                Some((_, v)) if v == value => {}
                Some((_, v)) => out.push(format!("{key}: {value} -> {v}")),
                None => out.push(format!("{key}: {value} -> unset")),
            }
        }
        for (key, value) in &new {
            if !old.iter().any(|(k, _)| k == key) {
                out.push(format!("{key}: unset -> {value}"));
            }
        }
        out
    }
}

/// The `(table.key, value)` pairs of a [`Config::describe`] text; comments are skipped.
fn settings(description: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in description.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_string();
        } else if let Some((key, value)) = line.split_once(" = ")
            && !line.starts_with('#')
        {
            out.push((format!("{table}.{key}"), value.to_string()));
        }
    }
    out
}

/// The file as written; every table and key is optional unless validation says otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: Option<RawSite>,
    #[serde(default)]
    threads: RawThreads,
    #[serde(default)]
    queues: RawQueues,
    #[serde(default)]
    http: RawHttp,
    extract: Option<RawExtract>,
    output: Option<RawOutput>,
    #[serde(default)]
    log: RawLog,
    schedule: Option<RawSchedule>,
    #[serde(default)]
    service: RawService,
    #[serde(default)]
    frontier: RawFrontier,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrontier {
    kind: Option<String>,
    url: Option<String>,
    name: Option<String>,
    lease_secs: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    every_secs: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    url: String,
    #[serde(default)]
    first_page: u64,
    last_page: Option<u64>,
    #[serde(default = "default_page_size")]
    page_size: u64,
    max_pages: Option<u64>,
    max_failed_in_a_row: Option<u32>,
}

fn default_page_size() -> u64 {
    25
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreads {
    crawlers: Option<usize>,
    parsers: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueues {
    pages: Option<usize>,
    html: Option<usize>,
    items: Option<usize>,
    items_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    user_agent: Option<String>,
    timeout_secs: Option<f64>,
    connect_timeout_secs: Option<f64>,
    retries: Option<u32>,
    backoff_ms: Option<u64>,
    delay_ms: Option<u64>,
    max_body_bytes: Option<u64>,
    shutdown_grace_secs: Option<f64>,
    max_redirects: Option<u32>,
    follow_offsite_redirects: Option<bool>,
    proxy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtract {
    item: String,
    engine: Option<Engine>,
    max_items_per_page: Option<usize>,
    max_bytes_per_page: Option<usize>,
    fields: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    path: PathBuf,
    state: Option<PathBuf>,
    sync: Option<SyncMode>,
    dedup: Option<String>,
    seen: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    stats_interval_secs: Option<u64>,
}

/// A count or capacity within `bound` (whose minimum is 1), or `default` when unset.
fn count(bound: Bound, value: Option<usize>, default: usize) -> Result<NonZeroUsize> {
    let value = bound.check_usize(value.unwrap_or(default))?;
    NonZeroUsize::new(value).with_context(|| format!("`{}` must be at least 1", bound.key))
}

/// A number within `bound`, or `default` when unset.
fn number<T: Copy + Into<u64>>(bound: Bound, value: Option<T>, default: T) -> Result<T> {
    let value = value.unwrap_or(default);
    bound.check(value.into())?;
    Ok(value)
}

/// Seconds above 0 and within `bound`, as a duration, or `default` when unset.
fn positive_secs(bound: Bound, value: Option<f64>, default: f64) -> Result<Duration> {
    bound.check_secs(value.unwrap_or(default))
}

impl RawFrontier {
    fn validate(self) -> Result<FrontierConfig> {
        match self.kind.as_deref().unwrap_or("local") {
            "local" => {
                let stray = [
                    ("url", self.url.is_some()),
                    ("name", self.name.is_some()),
                    ("lease_secs", self.lease_secs.is_some()),
                ];
                if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
                    bail!("`frontier.{key}` only applies with `frontier.kind = \"redis\"`");
                }
                Ok(FrontierConfig::Local)
            }
            "redis" => {
                let url = self
                    .url
                    .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_string());
                if let Err(err) = redis::Client::open(url.as_str()) {
                    bail!(
                        "`frontier.url` must be a Redis URL such as \"redis://127.0.0.1:6379/0\", got {url:?}: {err}"
                    );
                }
                let name = self.name.unwrap_or_else(|| "pagecrawl".to_string());
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
                if name.is_empty() || name.len() > 100 || !name.chars().all(valid) {
                    bail!(
                        "`frontier.name` must be 1 to 100 letters, digits, `-`, `_` or `.`, got {name:?}"
                    );
                }
                let lease = positive_secs(limits::LEASE_SECS, self.lease_secs, 60.0)?;
                Ok(FrontierConfig::Redis(RedisFrontierConfig {
                    url,
                    name,
                    lease,
                }))
            }
            other => bail!("`frontier.kind` must be \"local\" or \"redis\", got {other:?}"),
        }
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config> {
        let site = self
            .site
            .context("missing table `[site]` (with at least `url`)")?;
        let url = UrlTemplate::parse(&site.url)?;
        if site.page_size == 0 {
            bail!("`site.page_size` must be at least 1, got 0");
        }
        if let Some(last) = site.last_page
            && last < site.first_page
        {
            bail!(
                "`site.last_page` ({last}) is before `site.first_page` ({})",
                site.first_page
            );
        }
        let max_pages = number(limits::MAX_PAGES, site.max_pages, 100_000)?;
        let max_failed_in_a_row =
            number(limits::MAX_FAILED_IN_A_ROW, site.max_failed_in_a_row, 20)?;
        let site = SiteConfig {
            url,
            first_page: site.first_page,
            last_page: site.last_page,
            page_size: site.page_size,
            max_pages,
            max_failed_in_a_row,
        };

        let threads = ThreadsConfig {
            crawlers: count(limits::CRAWLERS, self.threads.crawlers, 3)?,
            parsers: count(
                limits::PARSERS,
                self.threads.parsers,
                // One per core, but a machine of more cores than the bound still starts.
                default_parsers().get().min(limits::PARSERS.max as usize),
            )?,
        };
        let q = self.queues;
        let queues = QueuesConfig {
            pages: count(limits::QUEUE_PAGES, q.pages, 20)?,
            html: count(limits::QUEUE_HTML, q.html, 16)?,
            items: count(limits::QUEUE_ITEMS, q.items, 1024)?,
            items_bytes: count(limits::QUEUE_ITEMS_BYTES, q.items_bytes, 16 << 20)?,
        };

        let h = self.http;
        let user_agent = h
            .user_agent
            .unwrap_or_else(|| concat!("pagecrawl/", env!("CARGO_PKG_VERSION")).to_string());
        limits::USER_AGENT_BYTES.check_len("`http.user_agent`", &user_agent)?;
        if user_agent.trim().is_empty() || user_agent.chars().any(char::is_control) {
            bail!("`http.user_agent` must be non-empty printable text, got {user_agent:?}");
        }
        let http = HttpConfig {
            user_agent,
            timeout: positive_secs(limits::TIMEOUT_SECS, h.timeout_secs, 30.0)?,
            connect_timeout: positive_secs(
                limits::CONNECT_TIMEOUT_SECS,
                h.connect_timeout_secs,
                10.0,
            )?,
            retries: number(limits::RETRIES, h.retries, 3)?,
            backoff: Duration::from_millis(number(limits::BACKOFF_MS, h.backoff_ms, 500)?),
            delay: Duration::from_millis(number(limits::DELAY_MS, h.delay_ms, 0)?),
            max_body_bytes: number(limits::MAX_BODY_BYTES, h.max_body_bytes, 10 << 20)?,
            shutdown_grace: positive_secs(
                limits::SHUTDOWN_GRACE_SECS,
                h.shutdown_grace_secs,
                30.0,
            )?,
            max_redirects: number(limits::MAX_REDIRECTS, h.max_redirects, 5)?,
            follow_offsite_redirects: h.follow_offsite_redirects.unwrap_or(false),
            proxy: match h.proxy {
                Some(proxy) => {
                    ureq::Proxy::new(&proxy)
                        .map_err(|err| anyhow::anyhow!("`http.proxy` {proxy:?}: {err}"))?;
                    Some(proxy)
                }
                None => None,
            },
        };

        let extract = self
            .extract
            .context("missing table `[extract]` (with `item` and `[extract.fields]`)")?;
        limits::SELECTOR_BYTES.check_len("`extract.item`", &extract.item)?;
        limits::FIELDS.check_usize(extract.fields.len())?;
        let mut fields = Vec::with_capacity(extract.fields.len());
        for (name, value) in extract.fields {
            let spec = value.as_str().with_context(|| {
                format!(
                    "`extract.fields.{name}` must be a string like \"a\" or \"a@href\", got {value}"
                )
            })?;
            limits::SELECTOR_BYTES.check_len(&format!("`extract.fields.{name}`"), spec)?;
            fields.push((name, spec.to_string()));
        }
        let defaults = Limits::default();
        let limits = Limits {
            max_items: count(
                limits::MAX_ITEMS_PER_PAGE,
                extract.max_items_per_page,
                defaults.max_items,
            )?
            .get(),
            max_bytes: count(
                limits::MAX_BYTES_PER_PAGE,
                extract.max_bytes_per_page,
                defaults.max_bytes,
            )?
            .get(),
        };
        let extract =
            Extractor::with_engine(&extract.item, &fields, extract.engine.unwrap_or_default())?
                .with_limits(limits);

        let output = self
            .output
            .context("missing table `[output]` (with `path`)")?;
        if output.path.as_os_str().is_empty() {
            bail!("`output.path` must not be empty");
        }
        let beside = |suffix: &str| {
            let mut name = output.path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        let state = output.state.unwrap_or_else(|| beside(".state"));
        let seen = output.seen.unwrap_or_else(|| beside(".seen"));
        if state == output.path {
            bail!("`output.state` must differ from `output.path`");
        }
        if seen == output.path || seen == state {
            bail!("`output.seen` must differ from `output.path` and `output.state`");
        }
        let dedup = match output.dedup {
            Some(field) => {
                let index = extract.field_names().position(|name| name == field);
                let Some(index) = index else {
                    let names: Vec<&str> = extract.field_names().collect();
                    bail!(
                        "`output.dedup` must name one of the `[extract.fields]` ({}), got {field:?}",
                        names.join(", ")
                    );
                };
                Some(Dedup { field, index })
            }
            None => None,
        };
        let output = OutputConfig {
            path: output.path,
            state,
            sync: output.sync.unwrap_or(SyncMode::Batch),
            dedup,
            seen,
        };

        let log = LogConfig {
            stats_interval: match number(
                limits::STATS_INTERVAL_SECS,
                self.log.stats_interval_secs,
                60,
            )? {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
        };

        let schedule = match self.schedule {
            Some(RawSchedule { every_secs }) => Some(ScheduleConfig {
                every: Duration::from_secs(limits::EVERY_SECS.check(every_secs)?),
            }),
            None => None,
        };
        let service = ServiceConfig {
            listen: match self.service.listen {
                Some(text) => Some(text.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "`service.listen` must be an address and port such as \
                         \"127.0.0.1:9187\", got {text:?}"
                    )
                })?),
                None => None,
            },
        };

        let frontier = self.frontier.validate()?;
        if frontier != FrontierConfig::Local && schedule.is_some() {
            bail!(
                "`schedule.every_secs` cannot be used with `frontier.kind = \"redis\"`: a shared \
                 crawl is seeded once (see `pagecrawl seed`)"
            );
        }

        Ok(Config {
            site,
            threads,
            queues,
            http,
            extract,
            output,
            log,
            schedule,
            service,
            frontier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[site]
url = "http://127.0.0.1:8080/top250?start={offset}"
first_page = 0
last_page = 9
page_size = 25

[threads]
crawlers = 3
parsers = 2

[extract]
item = "div.pl2"
[extract.fields]
title = "a"
link = "a@href"

[output]
path = "out/items.jsonl"
"#;

    fn err_of(text: &str) -> String {
        format!("{:#}", Config::from_toml(text).unwrap_err())
    }

    #[test]
    fn good_config_gets_defaults() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.site.page_count(), Some(10));
        assert_eq!(c.site.url_of(2), "http://127.0.0.1:8080/top250?start=50");
        assert_eq!(c.threads.crawlers.get(), 3);
        assert_eq!(c.threads.parsers.get(), 2);
        assert_eq!(c.queues.items.get(), 1024);
        assert_eq!(c.queues.items_bytes.get(), 16 << 20);
        assert_eq!(c.http.timeout, Duration::from_secs(30));
        assert_eq!(c.http.retries, 3);
        assert_eq!(c.log.stats_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.output.state, PathBuf::from("out/items.jsonl.state"));
        assert_eq!(c.output.sync, SyncMode::Batch);
        assert_eq!(c.http.shutdown_grace, Duration::from_secs(30));
        let names: Vec<_> = c
            .extract
            .field_specs()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["title", "link"], "config order is kept");
    }

    #[test]
    fn page_placeholder_and_until_empty() {
        let text = GOOD
            .replace("?start={offset}", "/p/{page}")
            .replace("last_page = 9\n", "");
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.site.last_page, None);
        assert_eq!(c.site.url_of(7), "http://127.0.0.1:8080/top250/p/7");
        assert_eq!(
            (c.site.max_pages, c.site.max_failed_in_a_row),
            (100_000, 20)
        );
        assert_eq!(c.site.max_page(), 99_999);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = GOOD.replace("parsers = 2", "parsers = 2\nparsrs = 4");
        let err = err_of(&text);
        assert!(err.contains("parsrs"), "{err}");
        assert!(err.contains("line 11"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = err_of(&GOOD.replace("crawlers = 3", "crawlers = \"three\""));
        assert!(err.contains("crawlers") || err.contains("line 9"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn zero_counts_and_capacities_are_rejected() {
        let err = err_of(&GOOD.replace("crawlers = 3", "crawlers = 0"));
        assert!(
            err.contains("`threads.crawlers` must be at least 1"),
            "{err}"
        );
        let err = err_of(&GOOD.replace("parsers = 2", "parsers = 0"));
        assert!(
            err.contains("`threads.parsers` must be at least 1"),
            "{err}"
        );
        for key in ["pages", "html", "items"] {
            let err = err_of(&format!("{GOOD}\n[queues]\n{key} = 0\n"));
            assert!(
                err.contains(&format!("`queues.{key}` must be at least 1")),
                "{err}"
            );
        }
        let err = err_of(&GOOD.replace("page_size = 25", "page_size = 0"));
        assert!(err.contains("`site.page_size`"), "{err}");
        for key in ["max_pages", "max_failed_in_a_row"] {
            let err = err_of(&GOOD.replace("page_size = 25", &format!("{key} = 0")));
            assert!(
                err.contains(&format!("`site.{key}` must be at least 1")),
                "{err}"
            );
        }
        for key in ["max_items_per_page", "max_bytes_per_page"] {
            let err = err_of(&GOOD.replace("[extract]\n", &format!("[extract]\n{key} = 0\n")));
            assert!(
                err.contains(&format!("`extract.{key}` must be at least 1")),
                "{err}"
            );
        }
        let text = GOOD.replace("[extract]\n", "[extract]\nmax_items_per_page = 7\n");
        let config = Config::from_toml(&text).unwrap();
        assert_eq!(config.extract.limits().max_items, 7);
        assert_eq!(
            config.extract.limits().max_bytes,
            Limits::default().max_bytes
        );
        assert!(config.describe().contains("max_items_per_page = 7"));
    }

    #[test]
    fn url_needs_a_placeholder_and_http() {
        let err = err_of(&GOOD.replace("?start={offset}", ""));
        assert!(err.contains("must contain `{page}` or `{offset}`"), "{err}");
        let err = err_of(&GOOD.replace("http://127.0.0.1:8080", "ftp://x"));
        assert!(err.contains("http:// or https://"), "{err}");
    }

    #[test]
    fn bad_selector_names_the_field() {
        let err = err_of(&GOOD.replace("link = \"a@href\"", "link = \"a[@@\""));
        assert!(err.contains("extract.fields.link"), "{err}");
        let err = err_of(&GOOD.replace("item = \"div.pl2\"", "item = \"div..pl2\""));
        assert!(err.contains("extract.item"), "{err}");
    }

    #[test]
    fn range_and_durations_are_checked() {
        let err = err_of(&GOOD.replace("first_page = 0", "first_page = 20"));
        assert!(err.contains("before `site.first_page`"), "{err}");
        let err = err_of(&format!("{GOOD}\n[http]\ntimeout_secs = 0\n"));
        assert!(err.contains("`http.timeout_secs`"), "{err}");
        let err = err_of(&format!("{GOOD}\n[http]\nmax_body_bytes = 0\n"));
        assert!(err.contains("`http.max_body_bytes`"), "{err}");
    }

    #[test]
    fn every_bound_is_enforced_on_its_key() {
        let in_http = |line: &str| err_of(&format!("{GOOD}\n[http]\n{line}\n"));
        assert!(in_http("timeout_secs = 3601").contains("`http.timeout_secs`"));
        assert!(in_http("max_redirects = 21").contains("`http.max_redirects` must be at most 20"));
        assert!(in_http("backoff_ms = 60001").contains("`http.backoff_ms` must be at most"));
        assert!(in_http("max_body_bytes = 1073741825").contains("`http.max_body_bytes`"));
        assert!(in_http(&format!("user_agent = \"{}\"", "u".repeat(513))).contains("513 bytes"));
        let err = err_of(&format!("{GOOD}\n[queues]\nitems_bytes = 4294967297\n"));
        assert!(
            err.contains("`queues.items_bytes` must be at most 4294967296"),
            "{err}"
        );
        let err = err_of(&GOOD.replace("parsers = 2", "parsers = 257"));
        assert!(
            err.contains("`threads.parsers` must be at most 256"),
            "{err}"
        );
        let err = err_of(&GOOD.replace(
            "link = \"a@href\"",
            &format!("link = \"{}\"", "a ".repeat(600)),
        ));
        assert!(
            err.contains("`extract.fields.link` is 1200 bytes long"),
            "{err}"
        );
        let many: String = (0..101).map(|i| format!("f{i} = \"a\"\n")).collect();
        let err = err_of(&GOOD.replace("link = \"a@href\"\n", &many));
        assert!(
            err.contains("`extract.fields` must be at most 100, got 102"),
            "{err}"
        );
        let err = err_of(&format!("{GOOD}\n[log]\nstats_interval_secs = 86401\n"));
        assert!(err.contains("`log.stats_interval_secs`"), "{err}");
        // The largest allowed values are accepted.
        let c = Config::from_toml(&format!(
            "{GOOD}\n[http]\ndelay_ms = 3600000\nretries = 20\n[queues]\npages = 65536\n"
        ))
        .unwrap();
        assert_eq!((c.http.retries, c.queues.pages.get()), (20, 65536));
    }

    #[test]
    fn sync_mode_and_state_are_checked() {
        let c = Config::from_toml(&GOOD.replace(
            "path = \"out/items.jsonl\"",
            "path = \"o.jsonl\"\nsync = \"page\"\nstate = \"s\"",
        ))
        .unwrap();
        assert_eq!(
            (c.output.sync, c.output.state),
            (SyncMode::Page, "s".into())
        );
        let err = err_of(&GOOD.replace(
            "path = \"out/items.jsonl\"",
            "path = \"o\"\nsync = \"often\"",
        ));
        assert!(err.contains("unknown variant `often`"), "{err}");
        let err =
            err_of(&GOOD.replace("path = \"out/items.jsonl\"", "path = \"o\"\nstate = \"o\""));
        assert!(err.contains("`output.state` must differ"), "{err}");
    }

    #[test]
    fn missing_tables_are_named() {
        let err = err_of("[output]\npath = \"x\"\n");
        assert!(err.contains("missing table `[site]`"), "{err}");
    }

    #[test]
    fn describe_lists_effective_settings() {
        let text = Config::from_toml(GOOD).unwrap().describe();
        assert!(text.contains("crawlers = 3"), "{text}");
        assert!(text.contains("link = \"a@href\""), "{text}");
        assert!(text.contains("# first url: http://127.0.0.1:8080/top250?start=0"));
    }

    #[test]
    fn changes_name_each_changed_key() {
        let old = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 4\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n",
        )
        .unwrap();
        let new = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 2\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\nu = \"a@href\"\n\
             [output]\npath = \"o\"\ndedup = \"u\"\n[schedule]\nevery_secs = 60\n",
        )
        .unwrap();
        assert!(old.changes(&old).is_empty());
        assert_eq!(
            old.changes(&new),
            [
                "threads.crawlers: 4 -> 2",
                "extract.fields.u: unset -> \"a@href\"",
                "output.dedup: unset -> \"u\"",
                "output.seen: unset -> \"o.seen\"",
                "schedule.every_secs: unset -> 60",
            ]
        );
    }

    #[test]
    fn dedup_must_name_a_field_and_listen_must_be_an_address() {
        let base = "[site]\nurl = \"http://x/?p={page}\"\n[extract]\nitem = \"div\"\n\
                    [extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n";
        let err = format!(
            "{:#}",
            Config::from_toml(&format!("{base}dedup = \"link\"\n")).unwrap_err()
        );
        assert!(
            err.contains("`output.dedup` must name one of the `[extract.fields]` (t)"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            Config::from_toml(&format!("{base}[service]\nlisten = \"localhost\"\n")).unwrap_err()
        );
        assert!(err.contains("`service.listen`"), "{err}");
    }
}
