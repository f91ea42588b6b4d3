//! The `[follow]` and `[download]` tables: each item's detail page, and the files it names.
//!
//! Both are read here; what ties them to the rest of the file (the follow field must be one of
//! the list's fields, the download field one of the item's, the host lists start from the
//! site's host) is checked in `rules.rs`, once every table is read.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::extract_table::compile_fields;
use super::sections::nonzero;
use super::{HostList, NameTemplate};
use crate::extract::{Engine, Extractor, FieldSpec, Format, Kind};

/// The item key the download stage adds: the files of the item.
pub const FILES_KEY: &str = "files";

/// The name the next link (`follow.next`) has among the fields of [`DetailParts::extract`]:
/// not a name a config can give a field, so that it never meets one.
pub const NEXT_LINK: &str = "follow.next";

/// The `[follow]` table: fetch each item's detail page and add its fields to the item.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "FollowTable")]
pub struct FollowConfig {
    /// The list field holding the detail page's URL, as named in the config.
    pub field: String,
    /// Its position among the list's fields.
    pub index: usize,
    /// Threads that fetch detail pages (and parse them: a detail page is one item);
    /// `threads.crawlers` unless set.
    pub crawlers: NonZeroUsize,
    /// Hosts detail pages may be on: the site's own and the listed ones.
    pub hosts: HostList,
    /// The listed hosts, as written.
    pub hosts_listed: Vec<String>,
    /// The detail page's fields, applied to the whole page (item selector `html`).
    pub extract: Extractor,
    /// With `follow.next`: how a detail page in several parts is read.
    pub parts: Option<DetailParts>,
}

/// A detail page in several parts (`follow.next`): each part's next link is followed, up to
/// `max_pages` parts.
#[derive(Debug, Clone)]
pub struct DetailParts {
    /// `follow.next` as written: the short form `"css@attr"`.
    pub next: String,
    /// The most parts read of one detail page, the first included (`follow.max_pages`).
    pub max_pages: NonZeroUsize,
    /// The detail fields and, last, the next link ([`NEXT_LINK`], an absolute URL): one pass
    /// over each part reads both.
    pub extract: Extractor,
    /// Per detail field, whether it takes every match (`all = true`): such a field collects
    /// the matches of every part in order; the others keep the first part's value.
    pub all: Vec<bool>,
}

impl DetailParts {
    /// `max_pages` when unset.
    pub const DEFAULT_MAX_PAGES: NonZeroUsize = nonzero(100);
}

/// `[follow]` as the file writes it: the detail page's extractor is compiled from `engine` and
/// `fields`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowTable {
    field: String,
    crawlers: Option<NonZeroUsize>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    format: Format,
    engine: Option<Engine>,
    next: Option<toml::Value>,
    max_pages: Option<NonZeroUsize>,
    fields: toml::Table,
}

impl TryFrom<FollowTable> for FollowConfig {
    type Error = String;

    fn try_from(table: FollowTable) -> Result<FollowConfig, String> {
        if table.fields.is_empty() {
            return Err("`[follow.fields]` must name at least one field".to_string());
        }
        if let Some(name) = table.fields.keys().find(|name| *name == FILES_KEY) {
            return Err(taken(name));
        }
        if table.max_pages.is_some() && table.next.is_none() {
            return Err(
                "`follow.max_pages` bounds the parts `follow.next` reads: set `follow.next` too, \
                 or leave `max_pages` out"
                    .to_string(),
            );
        }
        // The detail page is one item: the whole document (`html`), or the whole JSON value.
        let item = match table.format {
            Format::Html => "html",
            Format::Json => "$",
        };
        let parts = match (&table.next, table.format) {
            (None, _) => None,
            (Some(_), Format::Json) => {
                return Err(
                    "`follow.next` reads a next link with a CSS selector: it cannot be used \
                     with `follow.format = \"json\"` yet"
                        .to_string(),
                );
            }
            (Some(next), Format::Html) => {
                let mut fields = Vec::with_capacity(table.fields.len());
                for (name, value) in &table.fields {
                    fields.push((
                        name.clone(),
                        FieldSpec::from_toml_in("follow.fields", name, value)?,
                    ));
                }
                Some(DetailParts::new(
                    next,
                    table.max_pages.unwrap_or(DetailParts::DEFAULT_MAX_PAGES),
                    fields,
                    table.engine.unwrap_or_default(),
                )?)
            }
        };
        let extract = compile_fields("follow", table.format, item, table.engine, table.fields)?;
        Ok(FollowConfig {
            field: table.field,
            index: 0,
            // `threads.crawlers` when unset, which `rules.rs` fills in.
            crawlers: table.crawlers.unwrap_or(NonZeroUsize::MIN),
            hosts: HostList::default(),
            hosts_listed: table.hosts,
            extract,
            parts,
        })
    }
}

impl DetailParts {
    /// The parts' reading from `follow.next` (`next`), `follow.max_pages` and the detail
    /// fields.
    fn new(
        next: &toml::Value,
        max_pages: NonZeroUsize,
        mut fields: Vec<(String, FieldSpec)>,
        engine: Engine,
    ) -> Result<DetailParts, String> {
        let toml::Value::String(written) = next else {
            return Err(format!(
                "`follow.next` must be a string such as \"a.next@href\" (the link to a detail \
                 page's next part), got {}",
                next.type_str()
            ));
        };
        let mut spec = FieldSpec::from_toml_in("follow", "next", next)?;
        if spec.attr.is_none() {
            return Err(format!(
                "`follow.next` = {written:?} takes the link's text; name the attribute that \
                 holds the next part's URL, as \"{}@href\"",
                spec.css.as_deref().unwrap_or("a.next")
            ));
        }
        // Whatever attribute holds it, the next link is a URL, resolved against its part.
        spec.kind = Kind::Url;
        let all = fields.iter().map(|(_, spec)| spec.all).collect();
        fields.push((NEXT_LINK.to_string(), spec));
        let extract = Extractor::from_specs("html", fields, engine).map_err(|err| {
            err.to_string()
                .replace("extract.fields.follow.next", "follow.next")
        })?;
        Ok(DetailParts {
            next: written.clone(),
            max_pages,
            extract,
            all,
        })
    }
}

/// The error for a detail field whose name another field (or `files`) has.
pub(super) fn taken(name: &str) -> String {
    format!(
        "`follow.fields.{name}`: the name {name:?} is already taken (by `[extract.fields]`, or \
         \"files\" of `[download]`); detail fields are added to the item beside the list's"
    )
}

impl Serialize for FollowConfig {
    /// The keys `check` prints; the fields are printed from their specs.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = serializer.serialize_struct("follow", 7)?;
        table.serialize_field("field", &self.field)?;
        table.serialize_field("crawlers", &self.crawlers)?;
        table.serialize_field("hosts", &self.hosts_listed)?;
        if self.extract.is_json() {
            table.serialize_field("format", &Format::Json)?;
        } else {
            table.serialize_field("engine", &self.extract.engine())?;
        }
        if let Some(parts) = &self.parts {
            table.serialize_field("next", &parts.next)?;
            table.serialize_field("max_pages", &parts.max_pages)?;
        }
        table.end()
    }
}

/// The `[download]` table: download the files an item names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadConfig {
    /// The field holding a file's URL (or, with `all = true`, a list of them), as named.
    pub field: String,
    /// Its position in the whole item: the list's fields, then the detail page's.
    #[serde(skip)]
    pub index: usize,
    /// Where files are stored; created if missing.
    pub dir: PathBuf,
    /// Threads that download.
    #[serde(default = "DownloadConfig::default_threads")]
    pub threads: NonZeroUsize,
    /// The largest file, in bytes after decoding; a larger one fails its page.
    #[serde(default = "DownloadConfig::default_max_bytes")]
    pub max_bytes: u64,
    /// The listed hosts, as written.
    #[serde(default, rename = "hosts")]
    pub hosts_listed: Vec<String>,
    /// Hosts files may be on: the site's own and the listed ones.
    #[serde(skip)]
    pub hosts: HostList,
    /// A file name template from the item's fields (`"{alt}{ext}"`); `None` names each file by
    /// the sha1 of its URL, as Scrapy does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<NameTemplate>,
    /// Send each file request a `Referer`: the page the file's URL was found on.
    #[serde(default)]
    pub referer: bool,
}

impl DownloadConfig {
    /// Download threads when unset.
    pub const DEFAULT_THREADS: NonZeroUsize = nonzero(4);
    /// `max_bytes` when unset: 20 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 20 << 20;

    fn default_threads() -> NonZeroUsize {
        Self::DEFAULT_THREADS
    }

    fn default_max_bytes() -> u64 {
        Self::DEFAULT_MAX_BYTES
    }
}
