//! A preview: one page fetched and extracted exactly as a round would (the same HTTP client and
//! `[http]` settings, the same extractor and engine, the writer's own line encoding), keeping
//! nothing. `pagecrawl try` prints it.
//!
//! It opens no output, state, lock or seen-set, and never talks to Redis: a preview of a config
//! in use by a running daemon changes nothing of its crawl.

use std::sync::Arc;

use anyhow::{Context, Result};
use url::Url;

use crate::config::Config;
use crate::extract::Used;
use crate::http::{BodyPool, Client};
use crate::shutdown::Shutdown;
use crate::stats::{self, Stats};
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
    /// The items, each as the line the writer would append (without the newline).
    pub lines: Vec<String>,
    /// Per field, in config order: its name and how many items got a value.
    pub filled: Vec<(String, usize)>,
}

/// Fetches page `page` of `config`'s site and extracts its items, touching no file.
///
/// A fetch that fails (after the retries `[http]` allows) or a page over a per-page limit is an
/// error naming the URL.
pub fn preview(config: &Config, page: u64) -> Result<Preview> {
    let url = config.site.url_of(page);
    // One request, so one crawler's worth of connections and one buffer.
    let client = Client::new(&config.http, &config.site, 1, Arc::new(BodyPool::new(1)));
    let stats = Stats::new(Some(1), stats::fetch_latency_histogram());
    let response = client
        .fetch(&url, &Shutdown::new(), &stats)
        .with_context(|| format!("fetching page {page} ({url})"))?;
    // Links resolve against where the redirects led, as in a crawl.
    let final_url = Url::parse(&response.url)
        .or_else(|_| Url::parse(&url))
        .with_context(|| format!("page {page}: bad page URL {:?}", response.url))?;
    let (extracted, used) = config.extract.extract_values(&response.body, &final_url);
    let items = extracted
        .map_err(|reason| anyhow::anyhow!("page {page} ({url}): {reason}"))?
        .items;
    let mut encoded = Vec::new();
    LineEncoder::new(config.extract.field_names()).encode_page(page, &url, &items, &mut encoded);
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
        filled,
    })
}
