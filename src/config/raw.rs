//! The config file as written (serde, every key optional, unknown keys refused) and its
//! validation into the typed [`Config`]: bounds from `limits.rs`, defaults from the sections
//! themselves, and an error that names the key for every value refused.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::follow::{RawDownload, RawFollow};
use super::limits::{self, Bound};
use super::{
    Config, Dedup, FrontierConfig, HttpConfig, LogConfig, OutputConfig, QueuesConfig,
    RedisFrontierConfig, ScheduleConfig, ServiceConfig, SiteConfig, SyncMode, ThreadsConfig,
    UrlTemplate,
};
use crate::extract::{Engine, Extractor, FieldSpec, Limits};
use crate::http::headers::ExtraHeaders;
use crate::http::tls::CaFile;

/// The file as written; every table and key is optional unless validation says otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
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
    follow: Option<RawFollow>,
    download: Option<RawDownload>,
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
    page_size: Option<u64>,
    max_pages: Option<u64>,
    max_failed_in_a_row: Option<u32>,
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
    per_host: Option<usize>,
    robots: Option<bool>,
    ca_file: Option<PathBuf>,
    headers: Option<toml::Table>,
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
fn count(bound: Bound, value: Option<usize>, default: NonZeroUsize) -> Result<NonZeroUsize> {
    let value = bound.check_usize(value.unwrap_or(default.get()))?;
    NonZeroUsize::new(value).with_context(|| format!("`{}` must be at least 1", bound.key))
}

/// A per-page limit within `bound` (whose minimum is 1), or `default` when unset.
fn per_page(bound: Bound, value: Option<usize>, default: usize) -> Result<usize> {
    let value = bound.check_usize(value.unwrap_or(default))?;
    NonZeroUsize::new(value)
        .map(NonZeroUsize::get)
        .with_context(|| format!("`{}` must be at least 1", bound.key))
}

/// A default duration in (fractional) seconds, as the file writes it.
fn secs(default: Duration) -> f64 {
    default.as_secs_f64()
}

/// A default duration in milliseconds, as the file writes it.
fn millis(default: Duration) -> u64 {
    default.as_millis() as u64
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
                let defaults = RedisFrontierConfig::default();
                let url = self.url.unwrap_or(defaults.url);
                if let Err(err) = redis::Client::open(url.as_str()) {
                    bail!(
                        "`frontier.url` must be a Redis URL such as \"redis://127.0.0.1:6379/0\", got {url:?}: {err}"
                    );
                }
                let name = self.name.unwrap_or(defaults.name);
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
                if name.is_empty() || name.len() > 100 || !name.chars().all(valid) {
                    bail!(
                        "`frontier.name` must be 1 to 100 letters, digits, `-`, `_` or `.`, got {name:?}"
                    );
                }
                let lease = positive_secs(
                    limits::LEASE_SECS,
                    self.lease_secs,
                    defaults.lease.as_secs_f64(),
                )?;
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
    /// Checks every key and builds the typed config; unset keys get the sections' defaults.
    pub(super) fn validate(self) -> Result<Config> {
        let site = self
            .site
            .context("missing table `[site]` (with at least `url`)")?;
        let url = UrlTemplate::parse(&site.url).map_err(anyhow::Error::msg)?;
        let page_size = site.page_size.unwrap_or(SiteConfig::DEFAULT_PAGE_SIZE);
        if page_size == 0 {
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
        let max_pages = number(
            limits::MAX_PAGES,
            site.max_pages,
            SiteConfig::DEFAULT_MAX_PAGES,
        )?;
        let max_failed_in_a_row = number(
            limits::MAX_FAILED_IN_A_ROW,
            site.max_failed_in_a_row,
            SiteConfig::DEFAULT_MAX_FAILED_IN_A_ROW,
        )?;
        let site = SiteConfig {
            url,
            first_page: site.first_page,
            last_page: site.last_page,
            page_size,
            max_pages,
            max_failed_in_a_row,
        };

        let (t, d) = (self.threads, ThreadsConfig::default());
        let threads = ThreadsConfig {
            crawlers: count(limits::CRAWLERS, t.crawlers, d.crawlers)?,
            parsers: count(limits::PARSERS, t.parsers, d.parsers)?,
        };
        let (q, d) = (self.queues, QueuesConfig::default());
        let queues = QueuesConfig {
            pages: count(limits::QUEUE_PAGES, q.pages, d.pages)?,
            html: count(limits::QUEUE_HTML, q.html, d.html)?,
            items: count(limits::QUEUE_ITEMS, q.items, d.items)?,
            items_bytes: count(limits::QUEUE_ITEMS_BYTES, q.items_bytes, d.items_bytes)?,
        };

        let (h, d) = (self.http, HttpConfig::default());
        let user_agent = h.user_agent.unwrap_or(d.user_agent);
        limits::USER_AGENT_BYTES.check_len("`http.user_agent`", &user_agent)?;
        if user_agent.trim().is_empty() || user_agent.chars().any(char::is_control) {
            bail!("`http.user_agent` must be non-empty printable text, got {user_agent:?}");
        }
        let http = HttpConfig {
            user_agent,
            timeout: positive_secs(limits::TIMEOUT_SECS, h.timeout_secs, secs(d.timeout))?,
            connect_timeout: positive_secs(
                limits::CONNECT_TIMEOUT_SECS,
                h.connect_timeout_secs,
                secs(d.connect_timeout),
            )?,
            retries: number(limits::RETRIES, h.retries, d.retries)?,
            backoff: Duration::from_millis(number(
                limits::BACKOFF_MS,
                h.backoff_ms,
                millis(d.backoff),
            )?),
            delay: Duration::from_millis(number(limits::DELAY_MS, h.delay_ms, millis(d.delay))?),
            max_body_bytes: number(limits::MAX_BODY_BYTES, h.max_body_bytes, d.max_body_bytes)?,
            shutdown_grace: positive_secs(
                limits::SHUTDOWN_GRACE_SECS,
                h.shutdown_grace_secs,
                secs(d.shutdown_grace),
            )?,
            max_redirects: number(limits::MAX_REDIRECTS, h.max_redirects, d.max_redirects)?,
            follow_offsite_redirects: h
                .follow_offsite_redirects
                .unwrap_or(d.follow_offsite_redirects),
            proxy: match h.proxy {
                Some(proxy) => {
                    ureq::Proxy::new(&proxy)
                        .map_err(|err| anyhow::anyhow!("`http.proxy` {proxy:?}: {err}"))?;
                    Some(proxy)
                }
                None => None,
            },
            per_host: match h.per_host {
                Some(n) => Some(count(limits::PER_HOST, Some(n), NonZeroUsize::MIN)?),
                None => None,
            },
            robots: h.robots.unwrap_or(d.robots),
            headers: match &h.headers {
                Some(table) => {
                    limits::HEADERS.check_usize(table.len())?;
                    ExtraHeaders::from_toml(table).map_err(anyhow::Error::msg)?
                }
                None => d.headers,
            },
            ca_file: match h.ca_file {
                Some(path) => Some(CaFile::load(path)?),
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
            if let Some(short) = value.as_str() {
                limits::SELECTOR_BYTES.check_len(&format!("`extract.fields.{name}`"), short)?;
            }
            let spec = FieldSpec::from_toml(&name, &value).map_err(anyhow::Error::msg)?;
            fields.push((name, spec));
        }
        let defaults = Limits::default();
        let limits = Limits {
            max_items: per_page(
                limits::MAX_ITEMS_PER_PAGE,
                extract.max_items_per_page,
                defaults.max_items,
            )?,
            max_bytes: per_page(
                limits::MAX_BYTES_PER_PAGE,
                extract.max_bytes_per_page,
                defaults.max_bytes,
            )?,
        };
        let extract =
            Extractor::from_specs(&extract.item, fields, extract.engine.unwrap_or_default())?
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
        // `/dev/stdout`, `/dev/null`: the state beside them would be a file created in /dev
        // (as root) or refused there. (A FIFO in a folder of its own keeps its state beside it.)
        let in_dev = crate::store::output::in_dev(&output.path);
        let state = match output.state {
            Some(state) => state,
            None if in_dev => bail!(
                "`output.path` {} is in /dev, where its state cannot be kept (as {}): set \
                 `output.state` to a file elsewhere, or write to a file and follow it (`tail \
                 -F out/items.jsonl | …`). A pipe or a device cannot be resumed: a later run \
                 sends every item again",
                output.path.display(),
                beside(".state").display()
            ),
            None => beside(".state"),
        };
        let seen = match output.seen {
            Some(seen) => seen,
            None if in_dev && output.dedup.is_some() => bail!(
                "`output.path` {} is in /dev, where the seen-set of `output.dedup` cannot be \
                 kept (as {}): set `output.seen` to a file elsewhere",
                output.path.display(),
                beside(".seen").display()
            ),
            None => beside(".seen"),
        };
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
            sync: output.sync.unwrap_or_default(),
            dedup,
            seen,
        };

        let log = LogConfig {
            stats_interval: match number(
                limits::STATS_INTERVAL_SECS,
                self.log.stats_interval_secs,
                LogConfig::default()
                    .stats_interval
                    .map_or(0, |d| d.as_secs()),
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

        let list_fields: Vec<&str> = extract.field_names().collect();
        let first_url = site.url_of(site.first_page);
        let follow = match self.follow {
            Some(follow) => Some(follow.validate(&list_fields, &first_url, threads.crawlers)?),
            None => None,
        };
        let download = match self.download {
            Some(download) => {
                let mut fields = list_fields.clone();
                if let Some(follow) = &follow {
                    fields.extend(follow.extract.field_names());
                }
                Some(download.validate(&fields, &first_url)?)
            }
            None => None,
        };
        drop(list_fields);

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
            follow,
            download,
        })
    }
}
