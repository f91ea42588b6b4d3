//! The `[follow]` and `[download]` tables (issue 16): each item's detail page and the files it
//! names, as written (serde) and validated into [`FollowConfig`] and [`DownloadConfig`].
//!
//! Kept apart from `raw.rs` because both tables are checked against the list's fields (the
//! follow field must be one of them, the download field one of them or of the detail page's,
//! the name template may use any) and against the site's host (the host lists).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use url::Url;

use super::limits::{self, Bound};
use crate::extract::{Engine, Extractor, FieldSpec};
use crate::http::host_list::HostList;
use crate::store::files::check_name_template;

/// The item key the download stage adds: the files of the item.
pub const FILES_KEY: &str = "files";

/// `[follow]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFollow {
    field: String,
    crawlers: Option<usize>,
    #[serde(default)]
    hosts: Vec<String>,
    engine: Option<Engine>,
    fields: toml::Table,
}

/// `[download]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDownload {
    field: String,
    dir: PathBuf,
    threads: Option<usize>,
    max_bytes: Option<u64>,
    name: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

/// The `[follow]` table: fetch each item's detail page and add its fields to the item.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// The list field holding the detail page's URL, as named in the config.
    pub field: String,
    /// Its position among the list's fields.
    pub index: usize,
    /// Threads that fetch detail pages (and parse them: a detail page is one item).
    pub crawlers: NonZeroUsize,
    /// Hosts detail pages may be on, besides the site's own.
    pub hosts: HostList,
    /// As written, for `check`.
    pub hosts_listed: Vec<String>,
    /// The detail page's fields, applied to the whole page (item selector `html`).
    pub extract: Extractor,
}

/// The `[download]` table: download the files an item names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadConfig {
    /// The field holding a file's URL (or, with `all = true`, a list of them), as named.
    pub field: String,
    /// Its position in the whole item: the list's fields, then the detail page's.
    pub index: usize,
    /// Where files are stored; created if missing.
    pub dir: PathBuf,
    /// Threads that download.
    pub threads: NonZeroUsize,
    /// The largest file, in bytes after decoding; a larger one fails its page.
    pub max_bytes: u64,
    /// A file name template from the item's fields (`"{alt}{ext}"`); `None` names each file by
    /// the sha1 of its URL, as Scrapy does.
    pub name: Option<String>,
    /// Hosts files may be on, besides the site's own.
    pub hosts: HostList,
    /// As written, for `check`.
    pub hosts_listed: Vec<String>,
}

impl DownloadConfig {
    /// Download threads when unset.
    pub const DEFAULT_THREADS: usize = 4;
    /// `max_bytes` when unset: 20 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 20 << 20;
}

/// A thread count within `bound`, or `default` when unset.
fn threads(bound: Bound, value: Option<usize>, default: NonZeroUsize) -> Result<NonZeroUsize> {
    let value = bound.check_usize(value.unwrap_or(default.get()))?;
    NonZeroUsize::new(value).with_context(|| format!("`{}` must be at least 1", bound.key))
}

/// The site's own URL (its first page), which host lists always allow.
fn site_url(first_url: &str) -> Result<Url> {
    Url::parse(first_url).map_err(|err| anyhow!("`site.url` is not a valid URL: {err}"))
}

impl RawFollow {
    /// Checks `[follow]` against the list's field names and the site's first URL; `crawlers`
    /// is `threads.crawlers`, the default.
    pub(super) fn validate(
        self,
        list_fields: &[&str],
        first_url: &str,
        crawlers: NonZeroUsize,
    ) -> Result<FollowConfig> {
        let Some(index) = list_fields.iter().position(|name| *name == self.field) else {
            bail!(
                "`follow.field` must name one of the `[extract.fields]` ({}), got {:?}",
                list_fields.join(", "),
                self.field
            );
        };
        let crawlers = threads(limits::FOLLOW_CRAWLERS, self.crawlers, crawlers)?;
        let hosts = HostList::from_config("follow.hosts", &self.hosts, &site_url(first_url)?)
            .map_err(|err| anyhow!(err))?;
        limits::FOLLOW_FIELDS.check_usize(self.fields.len())?;
        let mut fields = Vec::with_capacity(self.fields.len());
        for (name, value) in self.fields {
            if list_fields.contains(&name.as_str()) || name == FILES_KEY {
                bail!(
                    "`follow.fields.{name}`: the name {name:?} is already taken (by \
                     `[extract.fields]`, or \"files\" of `[download]`); detail fields are added \
                     to the item beside the list's"
                );
            }
            if let Some(short) = value.as_str() {
                limits::SELECTOR_BYTES.check_len(&format!("`follow.fields.{name}`"), short)?;
            }
            let spec = FieldSpec::from_toml_in("follow.fields", &name, &value)
                .map_err(anyhow::Error::msg)?;
            fields.push((name, spec));
        }
        if fields.is_empty() {
            bail!("`[follow.fields]` must name at least one field");
        }
        // The detail page is one item: the whole document. The extractor's own errors name
        // `extract.fields`; here they are about `follow.fields`.
        let extract = Extractor::from_specs("html", fields, self.engine.unwrap_or_default())
            .map_err(|err| anyhow!("{}", err.to_string().replace("extract.", "follow.")))?;
        Ok(FollowConfig {
            field: self.field,
            index,
            crawlers,
            hosts,
            hosts_listed: self.hosts,
            extract,
        })
    }
}

impl RawDownload {
    /// Checks `[download]` against the item's field names (the list's, then the detail
    /// page's) and the site's first URL.
    pub(super) fn validate(self, fields: &[&str], first_url: &str) -> Result<DownloadConfig> {
        let Some(index) = fields.iter().position(|name| *name == self.field) else {
            bail!(
                "`download.field` must name one of the item's fields (`[extract.fields]` or \
                 `[follow.fields]`: {}), got {:?}",
                fields.join(", "),
                self.field
            );
        };
        if fields.contains(&FILES_KEY) {
            bail!(
                "a field named \"files\" cannot be used with `[download]`, which adds \"files\" \
                 to every item: rename it"
            );
        }
        if self.dir.as_os_str().is_empty() {
            bail!("`download.dir` must not be empty");
        }
        let threads = threads(
            limits::DOWNLOAD_THREADS,
            self.threads,
            NonZeroUsize::new(DownloadConfig::DEFAULT_THREADS).expect("not zero"),
        )?;
        let max_bytes = limits::DOWNLOAD_MAX_BYTES
            .check(self.max_bytes.unwrap_or(DownloadConfig::DEFAULT_MAX_BYTES))?;
        if let Some(name) = &self.name {
            limits::SELECTOR_BYTES.check_len("`download.name`", name)?;
            check_name_template("download.name", name, fields).map_err(|err| anyhow!(err))?;
        }
        let hosts = HostList::from_config("download.hosts", &self.hosts, &site_url(first_url)?)
            .map_err(|err| anyhow!(err))?;
        Ok(DownloadConfig {
            field: self.field,
            index,
            dir: self.dir,
            threads,
            max_bytes,
            name: self.name,
            hosts,
            hosts_listed: self.hosts,
        })
    }
}
