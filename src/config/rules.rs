//! The rules between keys, applied once every table is read: the tables a file must have, the
//! defaults that follow another key (`follow.crawlers` is `threads.crawlers`, `output.state`
//! lies beside `output.path`), and the checks that look at two keys or more (a range that ends
//! before it starts, a dedup field that is not a field, a Redis frontier on a schedule).
//!
//! Every error names the key it refuses. Bounds are not checked here but from the key table
//! (`keys.rs`), before the file is read into types.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use url::Url;

use super::follow::{FILES_KEY, taken};
use super::keys::table_at;
use super::{Config, DownloadConfig, FollowConfig, FrontierConfig, HostList, OutputConfig};
use crate::extract::NextLink;

/// The tables a file must have, and what each must hold at least.
const REQUIRED: [(&str, &str); 3] = [
    ("site", "with at least `url`"),
    ("extract", "with `item` and `[extract.fields]`"),
    ("output", "with `path`"),
];

impl Config {
    /// `site.next` compiled, with the rules around it: `site.url` is then the first page and
    /// has no placeholder, the listing's end is found (no `last_page`), one daemon follows it
    /// (no Redis frontier); without it `site.url` needs a placeholder and `site.next_url` is
    /// refused.
    fn resolve_next(&self) -> Result<Option<NextLink>> {
        let site = &self.site;
        let url = site.url.as_str();
        let Some(next) = &site.next else {
            if site.next_url.is_some() {
                bail!(
                    "`site.next_url` is where the cursor `site.next` finds goes: set `site.next` \
                     too, or remove `site.next_url`"
                );
            }
            if !site.url.has_placeholder() {
                bail!(
                    "`site.url` must contain `{{page}}` or `{{offset}}`: {url:?} (for a listing \
                     paged by next links, set `site.next` to the link, and `site.url` is its \
                     first page)"
                );
            }
            return Ok(None);
        };
        if site.url.has_placeholder() {
            bail!(
                "`site.next` pages the listing by its next links, so `site.url` is the first \
                 page alone: remove `{{page}}` and `{{offset}}` from {url:?}"
            );
        }
        if let Some(last) = site.last_page {
            bail!(
                "`site.next` finds the end of the listing where a page has no next link, and \
                 `site.last_page` ({last}) says where it ends already: keep one (`site.max_pages` \
                 bounds a next-link listing)"
            );
        }
        if self.frontier != FrontierConfig::Local {
            bail!(
                "`site.next` cannot be used with `frontier.kind = \"redis\"`: each page's URL \
                 is known only once the page before it is parsed, so the pages cannot be shared \
                 out ahead"
            );
        }
        let link = NextLink::new(
            next,
            self.extract.is_json(),
            site.next_url.is_some(),
            self.extract.engine(),
        )?;
        Ok(Some(link.with_limits(self.extract.limits())))
    }
}

/// Refuses a file without one of the [`REQUIRED`] tables, naming it and what it must hold.
pub(super) fn require_tables(file: &toml::Table) -> Result<()> {
    for (table, holds) in REQUIRED {
        if !file.contains_key(table) {
            bail!("missing table `[{table}]` ({holds})");
        }
    }
    Ok(())
}

/// Whether the file sets the key at `path` (`follow.crawlers`).
fn is_set(file: &toml::Table, path: &str) -> bool {
    let (table, name) = path.rsplit_once('.').unwrap_or(("", path));
    table_at(file, table).is_some_and(|table| table.contains_key(name))
}

impl Config {
    /// Applies the rules between keys to a config just read from `file`.
    pub(super) fn resolve(mut self, file: &toml::Table) -> Result<Config> {
        let site = &self.site;
        if let Some(last) = site.last_page
            && last < site.first_page
        {
            bail!(
                "`site.last_page` ({last}) is before `site.first_page` ({})",
                site.first_page
            );
        }
        self.check_http()?;
        resolve_output(&mut self.output, file)?;
        self.resolve_keys(file)?;
        if self.frontier != FrontierConfig::Local
            && self.schedule.is_some()
            && self.output.key.is_none()
        {
            bail!(
                "`schedule.every_secs` with `frontier.kind = \"redis\"` needs `output.key`: a \
                 shared crawl without a key is seeded once (see `pagecrawl seed`); with one, it \
                 runs in rounds"
            );
        }
        if let Some(path) = &self.site.has_next {
            if self.site.last_page.is_some() {
                bail!(
                    "`site.has_next` finds the end of an \"until empty\" listing, and \
                     `site.last_page` says where it ends already: keep one"
                );
            }
            self.extract = self
                .extract
                .clone()
                .with_has_next(path)
                .map_err(|err| anyhow!(err))?;
        }
        self.next = self.resolve_next()?;
        let site_url = Url::parse(&self.site.url_of(self.site.first_page))
            .map_err(|err| anyhow!("`site.url` is not a valid URL: {err}"))?;
        let list_fields: Vec<String> = self.extract.field_names().map(str::to_string).collect();
        if let Some(follow) = &mut self.follow {
            if !is_set(file, "follow.crawlers") {
                follow.crawlers = self.threads.crawlers;
            }
            resolve_follow(follow, &list_fields, &site_url)?;
        }
        if let Some(download) = &mut self.download {
            let mut fields = list_fields;
            if let Some(follow) = &self.follow {
                fields.extend(follow.extract.field_names().map(str::to_string));
            }
            resolve_download(download, &fields, &site_url)?;
        }
        Ok(self)
    }

    fn check_http(&self) -> Result<()> {
        let user_agent = &self.http.user_agent;
        if user_agent.trim().is_empty() || user_agent.chars().any(char::is_control) {
            bail!("`http.user_agent` must be non-empty printable text, got {user_agent:?}");
        }
        if let Some(proxy) = &self.http.proxy {
            ureq::Proxy::new(proxy).map_err(|err| anyhow!("`http.proxy` {proxy:?}: {err}"))?;
        }
        Ok(())
    }

    /// `output.key` and `output.dedup` name a list field; `output.changes` and
    /// `http.conditional` need `output.key`, which is on by default with `[schedule]`.
    fn resolve_keys(&mut self, file: &toml::Table) -> Result<()> {
        let names: Vec<&str> = self.extract.field_names().collect();
        let output = &mut self.output;
        for (name, key) in [("dedup", &mut output.dedup), ("key", &mut output.key)] {
            let Some(key) = key else { continue };
            let Some(index) = names.iter().position(|name| *name == key.field) else {
                bail!(
                    "`output.{name}` must name one of the `[extract.fields]` ({}), got {:?}",
                    names.join(", "),
                    key.field
                );
            };
            key.index = index;
        }
        if let (Some(dedup), Some(_)) = (&output.dedup, &output.key) {
            bail!(
                "`output.dedup` and `output.key` cannot both be set: `dedup = {:?}` is \
                 `key = {:?}` writing new items only; keep one",
                dedup.field,
                dedup.field
            );
        }
        if output.changes && output.key.is_none() {
            bail!(
                "`output.changes` needs `output.key`: the field whose value names an item \
                 across rounds, so that a changed item can be told from a new one"
            );
        }
        if !is_set(file, "http.conditional") {
            // A shared crawl with a key runs in rounds too (started by `pagecrawl seed`).
            let rounds = self.schedule.is_some() || self.frontier != FrontierConfig::Local;
            self.http.conditional = rounds && output.key.is_some();
        } else if self.http.conditional && output.key.is_none() {
            bail!(
                "`http.conditional` needs `output.key`: a page that answers 304 Not Modified \
                 has no body, and only the store of `output.key` knows its items"
            );
        }
        Ok(())
    }
}

/// `output.state` and `output.seen` beside `output.path` unless set, and the three distinct.
fn resolve_output(output: &mut OutputConfig, file: &toml::Table) -> Result<()> {
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
    let in_dev = in_dev(&output.path);
    if !is_set(file, "output.state") {
        if in_dev {
            bail!(
                "`output.path` {} is in /dev, where its state cannot be kept (as {}): set \
                 `output.state` to a file elsewhere, or write to a file and follow it (`tail \
                 -F out/items.jsonl | …`). A pipe or a device cannot be resumed: a later run \
                 sends every item again",
                output.path.display(),
                beside(".state").display()
            );
        }
        output.state = beside(".state");
    }
    if !is_set(file, "output.store") {
        if in_dev && output.key.is_some() {
            bail!(
                "`output.path` {} is in /dev, where the store of `output.key` cannot be kept: \
                 set `output.store` to a file elsewhere",
                output.path.display()
            );
        }
        output.store = match output.path.extension() {
            Some(ext) if ext != "db" => output.path.with_extension("db"),
            _ => beside(".db"),
        };
    }
    if !is_set(file, "output.seen") {
        if in_dev && output.dedup.is_some() {
            bail!(
                "`output.path` {} is in /dev, where the seen-set of `output.dedup` cannot be \
                 kept (as {}): set `output.seen` to a file elsewhere",
                output.path.display(),
                beside(".seen").display()
            );
        }
        output.seen = beside(".seen");
    }
    if output.state == output.path {
        bail!("`output.state` must differ from `output.path`");
    }
    if output.seen == output.path || output.seen == output.state {
        bail!("`output.seen` must differ from `output.path` and `output.state`");
    }
    if [&output.path, &output.state, &output.seen].contains(&&output.store) {
        bail!("`output.store` must differ from `output.path`, `output.state` and `output.seen`");
    }
    Ok(())
}

/// Whether `path` is in the `/dev` folder itself (`/dev/stdout`, `/dev/null`, or a name in it
/// relative to a working directory of /dev), where nothing of ours may be created beside it.
/// `/dev/shm` and other folders under /dev are ordinary folders.
pub(crate) fn in_dev(path: &Path) -> bool {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::canonicalize(parent) {
        Ok(parent) => parent == Path::new("/dev"),
        Err(_) => path.parent() == Some(Path::new("/dev")),
    }
}

/// `[follow]` against the list's fields and the site.
fn resolve_follow(follow: &mut FollowConfig, list_fields: &[String], site: &Url) -> Result<()> {
    let Some(index) = list_fields.iter().position(|name| *name == follow.field) else {
        bail!(
            "`follow.field` must name one of the `[extract.fields]` ({}), got {:?}",
            list_fields.join(", "),
            follow.field
        );
    };
    follow.index = index;
    if let Some(name) = follow
        .extract
        .field_names()
        .find(|name| list_fields.iter().any(|list| list == name))
    {
        bail!("{}", taken(name));
    }
    follow.hosts = HostList::from_config("follow.hosts", &follow.hosts_listed, site)
        .map_err(|e| anyhow!(e))?;
    Ok(())
}

/// `[download]` against the item's fields (the list's, then the detail page's) and the site.
fn resolve_download(download: &mut DownloadConfig, fields: &[String], site: &Url) -> Result<()> {
    let Some(index) = fields.iter().position(|name| *name == download.field) else {
        bail!(
            "`download.field` must name one of the item's fields (`[extract.fields]` or \
             `[follow.fields]`: {}), got {:?}",
            fields.join(", "),
            download.field
        );
    };
    download.index = index;
    if fields.iter().any(|name| name == FILES_KEY) {
        bail!(
            "a field named \"files\" cannot be used with `[download]`, which adds \"files\" \
             to every item: rename it"
        );
    }
    if download.dir.as_os_str().is_empty() {
        bail!("`download.dir` must not be empty");
    }
    if let Some(name) = &download.name {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        name.check(&fields).map_err(|err| anyhow!(err))?;
    }
    download.hosts = HostList::from_config("download.hosts", &download.hosts_listed, site)
        .map_err(|err| anyhow!(err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_in_dev() {
        assert!(in_dev(Path::new("/dev/stdout")));
        assert!(in_dev(Path::new("/dev/null")));
        assert!(in_dev(Path::new("/dev/not-there")));
        assert!(!in_dev(Path::new("/dev/shm/items.jsonl")));
        assert!(!in_dev(Path::new("/tmp/items.jsonl")));
        assert!(!in_dev(Path::new("items.jsonl")));
    }
}
