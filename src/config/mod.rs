//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! Each key is defined once. Its typed field, with its default and the form the file writes it
//! in, is in a section struct (`sections.rs`, `follow.rs`, `extract_table.rs`); its meaning,
//! its bounds and what `check` says when it is unset are in the key table (`keys.rs`). Reading
//! a file is four steps, each from those definitions: the required tables, the bounds (so a
//! message names the key, the bound and the value), serde into the typed sections (a wrong type
//! or an unknown key is named with its line), and the rules between keys (`rules.rs`).
//! `describe.rs` prints the typed config back for `pagecrawl check` and a reload's log line,
//! and `docs.rs` makes the reference table of `docs/configuration.md`.
//!
//! This module owns the file format and every check that can be made before a thread starts:
//! zero counts, bad templates, selectors that do not parse, a CA file that is not one. It does
//! not touch the network or the output file, and imports no other layer than `extract`, whose
//! selectors it compiles.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::extract::{Extractor, NextLink};

mod ca_file;
mod describe;
#[cfg(test)]
mod docs;
mod extract_table;
pub mod file;
mod follow;
mod forms;
mod headers;
mod host_list;
pub mod keys;
mod name_template;
mod next_url;
mod rules;
mod sections;
#[cfg(test)]
mod tests;
pub(crate) mod url_template;

pub use ca_file::CaFile;
pub use follow::{DetailParts, DownloadConfig, FILES_KEY, FollowConfig, NEXT_LINK};
pub use headers::ExtraHeaders;
pub use host_list::HostList;
pub use name_template::{MAX_NAME_BYTES, NameTemplate};
pub use next_url::NextUrl;
pub use sections::{
    FrontierConfig, HttpConfig, KeyField, LogConfig, OutputConfig, QueuesConfig,
    RedisFrontierConfig, ScheduleConfig, ServiceConfig, SiteConfig, SyncMode, ThreadsConfig,
};
pub use url_template::UrlTemplate;

/// A validated configuration, ready for [`crate::run`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which pages to crawl.
    pub site: SiteConfig,
    /// How many threads each stage gets.
    #[serde(default)]
    pub threads: ThreadsConfig,
    /// Capacities of the bounded channels between the stages.
    #[serde(default)]
    pub queues: QueuesConfig,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpConfig,
    /// The compiled item and field selectors.
    #[serde(with = "extract_table")]
    pub extract: Extractor,
    /// Each item's detail page, fetched and merged into the item; `None` fetches none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<FollowConfig>,
    /// The files each item names, downloaded; `None` downloads none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadConfig>,
    /// Where items go.
    pub output: OutputConfig,
    /// Logging settings.
    #[serde(default)]
    pub log: LogConfig,
    /// Re-crawl every so often; `None` crawls once and exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// The metrics and health endpoint.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Where page numbers come from: this process's range, or a frontier shared in Redis.
    #[serde(default)]
    pub frontier: FrontierConfig,
    /// `site.next`, compiled: how each page of a listing paged by next links names the page
    /// after it; `None` when the pages are numbered.
    #[serde(skip)]
    pub next: Option<NextLink>,
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
    /// [`file::MAX_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<Config> {
        let text = file::read_config_file(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Config::from_toml(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str) -> Result<Config> {
        let file: toml::Table = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
        rules::require_tables(&file)?;
        keys::check_bounds(&file)?;
        let config: Config = toml::from_str(text).map_err(plain)?;
        config.resolve(&file)
    }
}

/// A deserialization error as the user reads it. Our own checks name the key they refuse first
/// (`` `site.url` has … ``) and say all there is to say in one line; toml's and serde's own
/// (a wrong type, an unknown key) need the file's line and column, which their display adds.
fn plain(err: toml::de::Error) -> anyhow::Error {
    if err.message().starts_with('`') {
        anyhow::anyhow!("{}", err.message())
    } else {
        anyhow::anyhow!("{err}")
    }
}
