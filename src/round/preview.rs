//! A preview: one page fetched and extracted exactly as a round would (the same HTTP client and
//! `[http]` settings, the same extractor and engine, the writer's own line encoding), keeping
//! nothing. `pagecrawl try` prints it.
//!
//! It opens no output, state, lock or seen-set, and never talks to Redis: a preview of a config
//! in use by a running daemon changes nothing of its crawl.

use std::sync::Arc;

use anyhow::{Context, Result};
use url::Url;

use crate::config::{Config, FILES_KEY, FollowConfig};
use crate::extract::{Extractor, Item, Used, Value};
use crate::http::{BodyPool, Client, Response};
use crate::pipeline::chain::visit_key;
use crate::pipeline::detail_parts::walk;
use crate::pipeline::download::{file_name, path};
use crate::pipeline::stage::{first_link, resolve_link, urls_of};
use crate::shutdown::Shutdown;
use crate::stats::{self, Stats};
use crate::store::files::possible_extensions;
use crate::store::output::LineEncoder;

/// What one page gave, as `pagecrawl try` shows it.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The page number.
    pub page: u64,
    /// The URL the page number gives (what the output's `url` holds).
    pub url: String,
    /// The URL that answered, after the redirects.
    pub final_url: String,
    /// The final HTTP status (2xx: anything else is an error).
    pub status: u16,
    /// The decoded body's length, in bytes.
    pub body_bytes: usize,
    /// The engine that extracted the items.
    pub used: Used,
    /// The items, each as the line the writer would append (without the newline); with
    /// `[follow]`, only those shown whole.
    pub lines: Vec<String>,
    /// How many items the page has.
    pub items: usize,
    /// Per field, in config order: its name and how many items got a value.
    pub filled: Vec<(String, usize)>,
    /// With `[follow]`: the first items shown whole (`lines` then holds only those).
    pub whole: Option<Whole>,
    /// With `site.next`: the URL of the page after it, `None` inside when it names none.
    pub next: Option<Option<String>>,
}

/// The items of a preview shown whole: with their detail fields, and the files `[download]`
/// would store for them.
#[derive(Debug, Clone)]
pub struct Whole {
    /// How many items are shown (`--items`, or fewer on a short page).
    pub shown: usize,
    /// Per detail field, in config order: its name and how many shown items got a value.
    pub detail_filled: Vec<(String, usize)>,
    /// Detail pages that could not be fetched or read, each naming its URL and why.
    pub failures: Vec<String>,
}

/// Fetches page `page` of `config`'s site and extracts its items, touching no file. With
/// `[follow]`, the first `whole` items are shown whole: their detail pages are fetched and
/// extracted, and the files `[download]` would store listed with the names they would get (not
/// fetched).
///
/// A fetch that fails (after the retries `[http]` allows) or a page over a per-page limit is an
/// error naming the URL.
pub fn preview(config: &Config, page: u64, whole: usize) -> Result<Preview> {
    // One request, so one crawler's worth of connections and one buffer.
    let client = Client::new(&config.http, &config.site, 1, Arc::new(BodyPool::new(1)));
    let stats = Stats::new(Some(1), stats::fetch_latency_histogram());
    let fetch = |page: u64, url: &str| -> Result<(Response, Url)> {
        let response = client
            .fetch(url, &Shutdown::new(), &stats)
            .with_context(|| format!("fetching page {page} ({url})"))?;
        // Links resolve against where the redirects led, as in a crawl.
        let final_url = Url::parse(&response.url)
            .or_else(|_| Url::parse(url))
            .with_context(|| format!("page {page}: bad page URL {:?}", response.url))?;
        Ok((response, final_url))
    };
    let (url, response, final_url, next) = match &config.next {
        None => {
            let url = config.site.url_of(page);
            let (response, final_url) = fetch(page, &url)?;
            (url, response, final_url, None)
        }
        Some(link) => {
            // Page N's URL is known only from the page before it: walk there from the first.
            let mut url = config.site.url.as_str().to_string();
            let mut at = config.site.first_page;
            let mut visited = std::collections::HashSet::new();
            loop {
                if !visited.insert(visit_key(&url)) {
                    anyhow::bail!(
                        "page {} links back to {url}, a page before it (`site.next` = {:?}): \
                         the listing ends there, before page {page}",
                        at - 1,
                        link.as_str()
                    );
                }
                let (response, final_url) = fetch(at, &url)?;
                let next = link
                    .find(&response.body, &final_url)
                    .map_err(|reason| anyhow::anyhow!("page {at} ({url}): {reason}"))?
                    .map(|value| config.site.next_page_url(value));
                if at >= page {
                    break (url, response, final_url, Some(next));
                }
                url = next.ok_or_else(|| {
                    anyhow::anyhow!(
                        "page {at} ({url}) names no next page (`site.next` = {:?}): the listing \
                         ends there, before page {page}",
                        link.as_str()
                    )
                })?;
                at += 1;
            }
        }
    };
    let (extracted, used) = config.extract.extract_values(&response.body, &final_url);
    let items = extracted
        .map_err(|reason| anyhow::anyhow!("page {page} ({url}): {reason}"))?
        .items;
    let (shown, whole) = match &config.follow {
        Some(_) => {
            let (shown, whole) = whole_items(config, &client, &final_url, &items, whole);
            (shown, Some(whole))
        }
        None => (items.clone(), None),
    };
    let mut names = config.item_fields();
    if whole.is_some() && config.download.is_some() {
        names.push(FILES_KEY);
    }
    let mut encoded = Vec::new();
    LineEncoder::new(names).encode_page(page, &url, &shown, &mut encoded);
    let lines = String::from_utf8(encoded)
        .expect("the encoder writes JSON, which is UTF-8")
        .lines()
        .map(str::to_string)
        .collect();
    let filled = config
        .extract
        .field_names()
        .enumerate()
        .map(|(i, name)| {
            let n = items.iter().filter(|item| !item[i].is_missing()).count();
            (name.to_string(), n)
        })
        .collect();
    Ok(Preview {
        page,
        url,
        final_url: response.url,
        status: response.status,
        body_bytes: response.body.len(),
        used,
        lines,
        items: items.len(),
        filled,
        whole,
        next,
    })
}

/// The detail fields of the detail page at `target`, over all its parts with `follow.next`
/// (the host rules of `follow.hosts` apply to its next links); a failure as the line `try`
/// prints.
fn detail_fields(
    follow: &FollowConfig,
    client: &Client,
    stats: &Stats,
    target: &Url,
) -> Result<Item, String> {
    let read = |url: &Url, extractor: &Extractor| {
        let response = client
            .fetch(url.as_str(), &Shutdown::new(), stats)
            .map_err(|err| format!("detail page {url}: {err}"))?;
        let at = Url::parse(&response.url).unwrap_or_else(|_| url.clone());
        match extractor.extract_values(&response.body, &at).0 {
            Ok(extracted) => {
                let width = extractor.field_names().count();
                let values = extracted.items.into_iter().next();
                Ok((values.unwrap_or_else(|| vec![Value::Null; width]), at))
            }
            Err(reason) => Err(format!("detail page {url}: {reason}")),
        }
    };
    let Some(parts) = &follow.parts else {
        return read(target, &follow.extract).map(|(fields, _)| fields);
    };
    let allowed = |next: &Url| Ok(follow.hosts.allows(next));
    let walked = walk(
        parts,
        None,
        target,
        |url| read(url, &parts.extract),
        allowed,
    )?;
    Ok(walked.fields)
}

/// The first `count` of `items` (found on the page at `base`) made whole: each with the fields
/// of its detail page and, with `[download]`, the files it would store, as the output would list
/// them (status `"not downloaded (try)"`).
fn whole_items(
    config: &Config,
    client: &Client,
    base: &Url,
    items: &[Item],
    count: usize,
) -> (Vec<Item>, Whole) {
    let follow = config.follow.as_ref().expect("called with [follow]");
    let width = follow.extract.field_names().count();
    let fields: Vec<String> = config.item_fields().iter().map(|f| f.to_string()).collect();
    let stats = Stats::new(None, stats::fetch_latency_histogram());
    let mut failures = Vec::new();
    let mut shown = Vec::new();
    for item in items.iter().take(count) {
        let mut item = item.clone();
        let target =
            first_link(item.get(follow.index)).and_then(|link| resolve_link(Some(base), link));
        let detail = match target {
            None => None,
            Some(target) => match detail_fields(follow, client, &stats, &target) {
                Ok(fields) => Some(fields),
                Err(failure) => {
                    failures.push(failure);
                    None
                }
            },
        };
        item.extend(detail.unwrap_or_else(|| vec![Value::Null; width]));
        if let Some(download) = &config.download {
            let files = urls_of(item.get(download.index))
                .iter()
                .filter_map(|link| resolve_link(Some(base), link))
                .enumerate()
                .map(|(n, url)| {
                    let ext = possible_extensions(&url)
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    let name = file_name(download, &fields, &url, (&item, n), &ext);
                    let text = |s: &str| Value::String(s.to_string());
                    Value::Object(vec![
                        ("url".to_string(), text(url.as_str())),
                        ("path".to_string(), text(&path(&download.dir, &name))),
                        ("status".to_string(), text("not downloaded (try)")),
                    ])
                })
                .collect();
            item.push(Value::List(files));
        }
        shown.push(item);
    }
    let lists = config.extract.field_names().count();
    let detail_filled = follow
        .extract
        .field_names()
        .enumerate()
        .map(|(i, name)| {
            let n = shown
                .iter()
                .filter(|item| !item[lists + i].is_missing())
                .count();
            (name.to_string(), n)
        })
        .collect();
    let whole = Whole {
        shown: shown.len(),
        detail_filled,
        failures,
    };
    (shown, whole)
}
