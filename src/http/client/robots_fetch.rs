//! How the client fetches robots.txt: once per origin and round, shared by every crawler,
//! paced and guarded like a page, with its own redirect and size limits (RFC 9309).

use std::sync::Arc;
use std::time::Instant;

use log::{debug, info, warn};
use ureq::http::Uri;
use url::Url;

use super::{Client, Followed, ROBOTS_MAX_REDIRECTS, backoff, header};
use crate::http::body::{self, ContentEncoding};
use crate::http::conditional::Validators;
use crate::http::error::FetchError;
use crate::http::robots::{FetchResult, MAX_ROBOTS_BYTES, RobotsRules, Source};
use crate::shutdown::Shutdown;

impl Client {
    /// The robots.txt rules for `url`'s origin this round, fetching the file if no crawler
    /// has yet (the others wait for it), and raising that host's pacing to its `Crawl-delay`. `None`
    /// with `http.robots = false`.
    pub fn robots_rules(&self, url: &Url, shutdown: &Shutdown) -> Option<Arc<RobotsRules>> {
        let cache = self.robots.as_ref()?;
        let mut fetched = false;
        let rules = cache.rules_for(url, |robots_url, attempt| {
            fetched = true;
            self.fetch_robots(robots_url, attempt, shutdown)
        });
        if fetched {
            let origin = url.origin().ascii_serialization();
            match rules.source() {
                Source::Unreachable { .. } | Source::Untrusted(_) => {
                    warn!("robots.txt of {origin}: {}", rules.source())
                }
                source => info!("robots.txt of {origin}: {source}"),
            }
            if let Some(delay) = rules.crawl_delay() {
                info!(
                    "robots.txt of {origin} asks for Crawl-delay {:.3}s: at least that between \
                     requests this round",
                    delay.as_secs_f64()
                );
            }
        }
        if let Some(delay) = rules.crawl_delay() {
            self.hosts.set_crawl_delay(url, delay);
        }
        Some(rules)
    }

    /// One attempt at `robots_url` (after its backoff, for a retry): paced like the pages, with
    /// our User-Agent and the site's headers, redirects followed within the address policy
    /// (five, as RFC 9309 asks), `timeout_secs` for the whole, and at most
    /// [`MAX_ROBOTS_BYTES`] of the body read.
    fn fetch_robots(&self, robots_url: &Url, attempt: u32, shutdown: &Shutdown) -> FetchResult {
        if attempt > 1 {
            let wait = backoff(self.http.backoff, attempt - 1, robots_url.as_str());
            if shutdown.wait_timeout(wait) {
                return FetchResult::Interrupted;
            }
        }
        if shutdown.is_requested() {
            return FetchResult::Interrupted;
        }
        // One of the host's slots, and its turn, as a page would take.
        let Some(_permit) = self.hosts.acquire(robots_url, shutdown.waker()) else {
            return FetchResult::Interrupted;
        };
        let Ok(target) = robots_url.as_str().parse::<Uri>() else {
            return FetchResult::Unreachable(format!("bad URL {robots_url}"));
        };
        let limit = MAX_ROBOTS_BYTES as u64;
        let deadline = Instant::now() + self.http.timeout;
        let unasked = Validators::default();
        let hops = ROBOTS_MAX_REDIRECTS;
        let mut response = match self.follow(target, hops, deadline, limit, &unasked, None) {
            Ok(Followed::Done(response, _)) => response,
            Ok(Followed::Stuck { status, why }) => {
                debug!("{robots_url}: {why}");
                return FetchResult::Response {
                    status,
                    body: Vec::new(),
                };
            }
            Err(FetchError::Interrupted) => return FetchResult::Interrupted,
            // The origin's own certificate (not a host a redirect led to): its pages fail the
            // same way, and say so.
            Err(FetchError::Tls(why))
                if why.starts_with(&format!("{}/", robots_url.origin().ascii_serialization())) =>
            {
                return FetchResult::Untrusted(why);
            }
            // No connection at all: the site is down, which its pages will say.
            Err(err @ FetchError::Network(_)) => {
                return FetchResult::NoConnection(format!("{robots_url}: {err}"));
            }
            Err(err) => return FetchResult::Unreachable(format!("{robots_url}: {err}")),
        };
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            return FetchResult::Response {
                status,
                body: Vec::new(),
            };
        }
        let encoding = match ContentEncoding::of(header(&response, "content-encoding")) {
            Ok(encoding) => encoding,
            Err(err) => return FetchResult::Unreachable(format!("{robots_url}: {err}")),
        };
        let raw = response.body_mut().with_config().reader();
        let mut body = Vec::new();
        match body::read_decoded(raw, encoding, limit, None, &mut body) {
            Ok(()) => {}
            // RFC 9309: the rules in the first 500 KiB apply; the rest is ignored.
            Err(FetchError::TooLarge(_)) => body.truncate(MAX_ROBOTS_BYTES),
            Err(err) => return FetchResult::Unreachable(format!("{robots_url}: {err}")),
        }
        FetchResult::Response { status, body }
    }
}
