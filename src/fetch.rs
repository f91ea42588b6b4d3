//! The crawler stage: page numbers in, fetched HTML out.
//!
//! All crawler threads share one ureq [`Agent`] (one connection pool) and one [`Pacer`] (the
//! `delay_ms` gap between request starts). A crawler checks the shutdown flag before taking each
//! page and skips, without fetching, every page it receives once the flag is up; a request already
//! in flight is finished (bounded by the timeouts) and its page is passed on. Waits for the pacer
//! or a retry backoff wake at once on shutdown. This stage never parses and never writes.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{debug, info, warn};
use ureq::Agent;

use crate::config::{HttpConfig, SiteConfig};
use crate::feeder::ListingEnd;
use crate::shutdown::{PanicGuard, Shutdown};
use crate::stats::Stats;

/// A fetched page on its way to a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The page number.
    pub page: u64,
    /// The URL it was fetched from.
    pub url: String,
    /// The decoded body.
    pub body: String,
}

/// What a crawler hands on for each page it tried: parsers pass failures through to the writer,
/// which records them in the state so the next run retries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Crawled {
    /// The page was fetched.
    Fetched(Fetched),
    /// The page failed after its retries.
    Failed {
        /// The page number.
        page: u64,
        /// Why, in one line.
        reason: String,
    },
}

/// Longest `Retry-After` we honour; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Builds the agent all crawler threads share: timeouts always set (ureq sets none by default),
/// an idle pool large enough to keep one connection per crawler, and no proxy from the
/// environment (a crawler should not silently route through whatever `HTTP_PROXY` says).
pub fn build_agent(http: &HttpConfig, crawlers: usize) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(http.user_agent.as_str())
        .timeout_global(Some(http.timeout))
        .timeout_connect(Some(http.connect_timeout))
        .max_idle_connections(crawlers.max(10))
        .max_idle_connections_per_host(crawlers.max(3))
        .proxy(None)
        .build()
        .new_agent()
}

/// Spaces request starts at least `gap` apart across all threads.
#[derive(Debug)]
pub struct Pacer {
    /// Minimum gap between two request starts.
    gap: Duration,
    /// The earliest start time not yet handed out.
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer with the given gap; a zero gap never waits.
    pub fn new(gap: Duration) -> Pacer {
        Pacer {
            gap,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this thread's turn. Returns `false` if shutdown came first.
    pub fn wait_turn(&self, shutdown: &Shutdown) -> bool {
        if self.gap.is_zero() {
            return !shutdown.is_requested();
        }
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let start = (*next).max(Instant::now());
            *next = start + self.gap;
            start
        };
        !shutdown.wait_until(start)
    }
}

/// Why a page could not be fetched.
#[derive(Debug)]
pub enum FetchError {
    /// The server answered with a status that is not 2xx.
    Status {
        /// The status code.
        code: u16,
        /// The `Retry-After` delay it asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The body was larger than `http.max_body_bytes`.
    TooLarge(u64),
    /// The request did not finish within `http.timeout_secs` (or the connect timeout).
    Timeout(ureq::Error),
    /// The connection could not be made or broke off (including a body cut short).
    Network(ureq::Error),
    /// Anything else the client reported (a bad URL, too many redirects, TLS).
    Other(ureq::Error),
    /// Shutdown was requested while waiting to (re)try; the page was not fetched.
    Interrupted,
}

impl FetchError {
    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { code, .. } => *code == 429 || (500..=599).contains(code),
            FetchError::Timeout(_) | FetchError::Network(_) => true,
            FetchError::TooLarge(_) | FetchError::Other(_) | FetchError::Interrupted => false,
        }
    }

    fn from_ureq(err: ureq::Error, limit: u64) -> FetchError {
        match err {
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge(limit),
            ureq::Error::Timeout(_) => FetchError::Timeout(err),
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_) => FetchError::Network(err),
            err => FetchError::Other(err),
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status { code, .. } => write!(f, "http status {code}"),
            FetchError::TooLarge(limit) => {
                write!(f, "body larger than http.max_body_bytes ({limit} bytes)")
            }
            FetchError::Timeout(err) => write!(f, "timed out: {err}"),
            FetchError::Network(err) => write!(f, "network error: {err}"),
            FetchError::Other(err) => write!(f, "{err}"),
            FetchError::Interrupted => write!(f, "interrupted by shutdown"),
        }
    }
}

impl std::error::Error for FetchError {}

/// One crawler thread's share of the work.
pub struct Crawler {
    /// The shared HTTP client.
    pub agent: Agent,
    /// HTTP settings.
    pub http: HttpConfig,
    /// The site, for page URLs and "until empty" mode.
    pub site: SiteConfig,
    /// The shared request pacer.
    pub pacer: Arc<Pacer>,
    /// The shutdown flag.
    pub shutdown: Shutdown,
    /// The end of the listing, in "until empty" mode.
    pub end: Arc<ListingEnd>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl Crawler {
    /// Fetches pages until the `pages` channel is disconnected and drained, or no parser is left.
    pub fn run(self, pages: Receiver<u64>, html: Sender<Crawled>) {
        for page in pages {
            if self.shutdown.is_requested() || self.end.is_past(page) {
                // Draining without fetching keeps the "ends when disconnected" rule and
                // lets every skipped page be counted.
                self.stats.pages_not_crawled(1);
                continue;
            }
            let url = self.site.url_of(page);
            #[cfg(test)]
            crate::parse::inject_panic(&url, "crawler");
            match self.fetch(&url) {
                Ok(body) => {
                    self.stats.page_fetched(body.len() as u64);
                    if html
                        .send(Crawled::Fetched(Fetched { page, url, body }))
                        .is_err()
                    {
                        // Every parser is gone; the pipeline reports why.
                        break;
                    }
                }
                Err(FetchError::Interrupted) => self.stats.pages_not_crawled(1),
                Err(FetchError::Status {
                    code: 404 | 410, ..
                }) if self.site.last_page.is_none() => {
                    info!("page {page} ({url}): not found, taken as the end of the listing");
                    self.end.observe_empty(page);
                    self.stats.pages_not_crawled(1);
                }
                // Abandoned at the grace deadline: not a failure of the page, and not committed.
                Err(_) if self.shutdown.is_requested() => self.stats.pages_not_crawled(1),
                Err(err) => {
                    warn!("page {page} ({url}): {err}");
                    self.stats.page_failed();
                    let reason = err.to_string();
                    if html.send(Crawled::Failed { page, reason }).is_err() {
                        break;
                    }
                }
            }
        }
        drop(self.guard);
    }

    /// Fetches `url`, retrying retryable errors with exponential backoff.
    fn fetch(&self, url: &str) -> Result<String, FetchError> {
        let mut attempt = 0;
        loop {
            if !self.pacer.wait_turn(&self.shutdown) {
                return Err(FetchError::Interrupted);
            }
            let err = match self.get(url) {
                Ok(body) => return Ok(body),
                Err(err) => err,
            };
            if !err.is_retryable() || attempt >= self.http.retries {
                return Err(err);
            }
            attempt += 1;
            self.stats.retried();
            let wait = match &err {
                FetchError::Status {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => backoff(self.http.backoff, attempt, url),
            };
            debug!("{url}: {err}; retry {attempt} in {wait:?}");
            if self.shutdown.wait_timeout(wait) {
                return Err(FetchError::Interrupted);
            }
        }
    }

    /// One attempt: a GET whose body must be 2xx and fit `max_body_bytes`.
    fn get(&self, url: &str) -> Result<String, FetchError> {
        let limit = self.http.max_body_bytes;
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|err| FetchError::from_ureq(err, limit))?;
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err(FetchError::Status {
                code: status,
                retry_after,
            });
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|err| FetchError::from_ureq(err, limit))?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
    }
}

/// `Retry-After` in its delay-seconds form, capped at [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// `base * 2^(attempt-1)`, capped at a minute, with up to 50 % jitter so that crawlers that failed
/// together do not retry together. The jitter is derived from the URL and attempt: no RNG needed.
fn backoff(base: Duration, attempt: u32, url: &str) -> Duration {
    let exp = base.saturating_mul(1 << (attempt - 1).min(16));
    let capped = exp.min(Duration::from_secs(60));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in url.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let jitter_permille = hash % 500;
    capped + capped.mul_f64(jitter_permille as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let b1 = backoff(base, 1, "u");
        let b3 = backoff(base, 3, "u");
        assert!(b1 >= base && b1 < base * 3 / 2, "{b1:?}");
        assert!(b3 >= base * 4 && b3 < base * 6, "{b3:?}");
        let huge = backoff(base, 40, "u");
        assert!(huge <= Duration::from_secs(90), "{huge:?}");
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn pacer_spaces_starts_and_wakes_on_shutdown() {
        let shutdown = Shutdown::new();
        let pacer = Pacer::new(Duration::from_millis(20));
        let start = Instant::now();
        for _ in 0..4 {
            assert!(pacer.wait_turn(&shutdown));
        }
        assert!(start.elapsed() >= Duration::from_millis(60));
        let slow = Pacer::new(Duration::from_secs(3600));
        assert!(slow.wait_turn(&shutdown), "first turn is immediate");
        shutdown.request();
        let start = Instant::now();
        assert!(!slow.wait_turn(&shutdown));
        assert!(start.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn retryable_errors() {
        let status = |code| FetchError::Status {
            code,
            retry_after: None,
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!FetchError::TooLarge(1).is_retryable());
        assert!(!FetchError::Interrupted.is_retryable());
    }
}
