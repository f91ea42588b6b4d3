//! The crawler stage: page numbers in, fetched HTML out.
//!
//! All crawler threads share one ureq [`Agent`] (one connection pool, and a DNS resolver that
//! enforces the crawl's address [`Policy`]) and one [`Pacer`] (the `delay_ms` gap between request
//! starts, which widens while the server answers 429). Redirects are followed here, one hop at a
//! time, so that each is checked against the policy, and `timeout_secs` is one deadline for the
//! whole chain; bodies are decoded from their `Content-Encoding` and charset (see [`body`]). A
//! crawler checks the shutdown flag before taking each
//! page and skips, without fetching, every page it receives once the flag is up; a request already
//! in flight is finished (bounded by the timeouts) and its page is passed on. Waits for the pacer
//! or a retry backoff wake at once on shutdown. This stage never parses and never writes.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};
use ureq::Agent;
use ureq::http::Uri;
use ureq::unversioned::transport::DefaultConnector;

use crate::config::{HttpConfig, SiteConfig};
use crate::http::policy::{GuardedResolver, Policy, resolve_location};
use crate::listing::ListingEnd;
use crate::shutdown::{PanicGuard, Shutdown};
use crate::stats::{Queue, Stats};

use super::body::{self, ACCEPT_ENCODING, ContentEncoding, decode_body};

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

/// Response-body buffers, handed back by parsers once a page is parsed and taken again by
/// crawlers: in the steady state a page's body costs no allocation (nor the page faults of fresh
/// memory), and the memory bodies take is reached early in a crawl and stays flat however long it
/// runs. It keeps at most `capacity` buffers (the pipeline never holds more bodies than its
/// crawlers, `html` queue and parsers together), and none larger than [`BodyPool::KEEP_MAX`]: a
/// huge page's buffer is freed, not kept.
#[derive(Debug)]
pub struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
}

impl BodyPool {
    /// The largest buffer kept for reuse, in bytes.
    pub const KEEP_MAX: usize = 512 * 1024;

    /// An empty pool that will keep up to `capacity` buffers.
    pub fn new(capacity: usize) -> BodyPool {
        BodyPool {
            free: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    /// An empty buffer, with the room of an earlier body when one is free.
    pub fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    /// Gives `buffer` back for another body; dropped when too large or the pool is full.
    pub fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() > Self::KEEP_MAX {
            return;
        }
        buffer.clear();
        let mut free = self.lock();
        if free.len() < self.capacity {
            free.push(buffer);
        }
    }

    /// How many buffers wait to be taken.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no buffer waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic elsewhere while holding it leaves a usable list.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
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
    /// In "until empty" mode, the page answered 404 or 410 (with a known range, that is a
    /// failure).
    Gone {
        /// The page number.
        page: u64,
        /// Its URL.
        url: String,
        /// The status it answered.
        status: u16,
    },
}

/// Longest `Retry-After` we honour; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The smallest gap between requests once a server has answered 429.
const MIN_429_GAP: Duration = Duration::from_millis(100);
/// The widest gap 429s can push the pacer to.
const MAX_GAP: Duration = Duration::from_secs(60);

/// The largest response head (status line and headers) accepted; a larger one fails the page.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Builds the agent all crawler threads share: timeouts always set (ureq sets none by default),
/// an idle pool large enough to keep one connection per crawler, redirects left to the crawler
/// (so each hop is checked), DNS answers filtered by `policy`, and no proxy unless `http.proxy`
/// names one (a crawler should not silently route through whatever `HTTP_PROXY` says). With a
/// proxy, the proxy resolves names, so the address guard then covers redirects only.
pub fn build_agent(http: &HttpConfig, crawlers: usize, policy: Arc<Policy>) -> Agent {
    let proxy = http.proxy.as_deref().and_then(|p| ureq::Proxy::new(p).ok());
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(http.user_agent.as_str())
        .timeout_global(Some(http.timeout))
        .timeout_connect(Some(http.connect_timeout))
        .max_idle_connections(crawlers.max(10))
        .max_idle_connections_per_host(crawlers.max(3))
        .max_redirects(0)
        // Decoded by `body`, with the size limit applied after decoding.
        .accept_encoding(ACCEPT_ENCODING)
        .proxy(proxy)
        // ureq zero-fills both buffers of every connection (128 KiB each by default): with 32
        // crawlers that was 8 MiB of the resident set. A request head fits in 16 KiB; the input
        // buffer stays as large as the biggest response head we accept.
        .input_buffer_size(MAX_RESPONSE_HEAD)
        .max_response_header_size(MAX_RESPONSE_HEAD)
        .output_buffer_size(16 * 1024)
        .build();
    Agent::with_parts(
        config,
        DefaultConnector::new(),
        GuardedResolver::new(policy),
    )
}

/// Spaces request starts at least `gap` apart across all threads. The gap starts at `delay_ms`,
/// doubles on every 429 and relaxes back by 1/16 per successful request, so a server that asks
/// for less never gets more.
#[derive(Debug)]
pub struct Pacer {
    /// The configured minimum gap (`http.delay_ms`).
    base: Duration,
    /// The gap now and the next start time not yet handed out.
    state: Mutex<PacerState>,
}

/// The pacer's mutable part.
#[derive(Debug)]
struct PacerState {
    /// The current gap: `base`, or wider after 429s.
    gap: Duration,
    /// The earliest start time not yet handed out.
    next: Instant,
}

impl Pacer {
    /// A pacer with the given minimum gap; a zero gap never waits until a 429 widens it.
    pub fn new(gap: Duration) -> Pacer {
        Pacer {
            base: gap,
            state: Mutex::new(PacerState {
                gap,
                next: Instant::now(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this thread's turn. Returns `false` if shutdown came first.
    pub fn wait_turn(&self, shutdown: &Shutdown) -> bool {
        let start = {
            let mut state = self.state();
            if state.gap.is_zero() && state.next <= Instant::now() {
                return !shutdown.is_requested();
            }
            let start = state.next.max(Instant::now());
            state.next = start + state.gap;
            start
        };
        !shutdown.wait_until(start)
    }

    /// The server said 429: double the gap, and start nothing before its `Retry-After`.
    pub fn slow_down(&self, retry_after: Option<Duration>) {
        let mut state = self.state();
        let wider = (state.gap * 2).max(MIN_429_GAP).min(MAX_GAP);
        if wider > state.gap {
            warn!(
                "the server answers 429 Too Many Requests: {} ms between requests now",
                wider.as_millis()
            );
        }
        state.gap = wider;
        if let Some(wait) = retry_after {
            state.next = state.next.max(Instant::now() + wait);
        }
    }

    /// A request succeeded: narrow a widened gap by 1/16, never below `delay_ms`.
    pub fn relax(&self) {
        let mut state = self.state();
        if state.gap > self.base {
            state.gap = (state.gap - state.gap / 16).max(self.base);
        }
    }

    /// The gap now.
    pub fn gap(&self) -> Duration {
        self.state().gap
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
    /// A redirect that was not followed: to another scheme or host, or one too many.
    Redirect(String),
    /// The address guard refused a connection (see [`crate::http::policy`]).
    Refused(String),
    /// The body came in a `Content-Encoding` that was not asked for, or did not decode.
    Encoding(String),
    /// Anything else the client reported (a bad URL, TLS).
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
            FetchError::TooLarge(_)
            | FetchError::Redirect(_)
            | FetchError::Refused(_)
            | FetchError::Encoding(_)
            | FetchError::Other(_)
            | FetchError::Interrupted => false,
        }
    }

    pub(super) fn from_ureq(err: ureq::Error, limit: u64) -> FetchError {
        match err {
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge(limit),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                FetchError::Refused(io.to_string())
            }
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
            FetchError::Redirect(why) => write!(f, "{why}"),
            FetchError::Refused(why) | FetchError::Encoding(why) => write!(f, "{why}"),
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
    /// Where redirects may lead.
    pub policy: Arc<Policy>,
    /// The shutdown flag.
    pub shutdown: Shutdown,
    /// The end of the listing, in "until empty" mode.
    pub end: Arc<ListingEnd>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Buffers to read bodies into, shared with the parsers that give them back.
    pub bodies: Arc<BodyPool>,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl Crawler {
    /// Fetches pages until the `pages` channel is disconnected and drained, or no parser is left.
    pub fn run(self, pages: Receiver<u64>, html: Sender<Crawled>) {
        for page in pages.iter() {
            self.stats.queue_depth(Queue::Pages, pages.len());
            if self.shutdown.is_requested() || self.end.is_past(page) {
                // Draining without fetching keeps the "ends when disconnected" rule and
                // lets every skipped page be counted.
                if self.shutdown.is_requested() || self.end.is_stopped() {
                    self.stats.pages_not_crawled(1);
                } else {
                    self.stats.page_past_end();
                }
                continue;
            }
            let url = self.site.url_of(page);
            #[cfg(test)]
            crate::extract::inject_panic(&url, "crawler");
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
                    self.stats.queue_depth(Queue::Html, html.len());
                }
                Err(FetchError::Interrupted) => self.stats.pages_not_crawled(1),
                Err(FetchError::Status {
                    code: status @ (404 | 410),
                    ..
                }) if self.site.last_page.is_none() => {
                    // The writer decides, in page order, whether this ends the listing; no page
                    // after it is needed either way.
                    debug!("page {page} ({url}): http status {status}");
                    self.end.observe_empty(page);
                    if html.send(Crawled::Gone { page, url, status }).is_err() {
                        break;
                    }
                }
                // Abandoned at the grace deadline: not a failure of the page, and not committed.
                Err(_) if self.shutdown.is_requested() => self.stats.pages_not_crawled(1),
                Err(err) => {
                    warn!("page {page} ({url}): {err}");
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
            let started = Instant::now();
            let result = self.get(url);
            self.stats.fetch_took(started.elapsed());
            let err = match result {
                Ok(body) => {
                    self.pacer.relax();
                    return Ok(body);
                }
                Err(err) => err,
            };
            if !err.is_retryable() || attempt >= self.http.retries {
                return Err(err);
            }
            attempt += 1;
            self.stats.retried();
            let wait = match &err {
                FetchError::Status {
                    code: 429,
                    retry_after,
                } => {
                    self.pacer.slow_down(*retry_after);
                    // The pacer now holds every crawler back; this page also waits its turn.
                    retry_after.unwrap_or_default().max(self.pacer.gap())
                }
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

    /// One attempt: a GET, following redirects the policy allows, whose final answer must be
    /// 2xx with a body that fits `max_body_bytes` once decoded. `timeout_secs` bounds the whole
    /// attempt, every redirect hop included: each hop gets what is left of one deadline.
    fn get(&self, url: &str) -> Result<String, FetchError> {
        let limit = self.http.max_body_bytes;
        let deadline = Instant::now() + self.http.timeout;
        let mut target: Uri = url
            .parse()
            .map_err(|err| FetchError::Redirect(format!("bad URL {url:?}: {err}")))?;
        let mut hops = 0;
        let mut response = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FetchError::Timeout(ureq::Error::Timeout(
                    ureq::Timeout::Global,
                )));
            }
            let response = self
                .agent
                .get(target.clone())
                .config()
                .timeout_global(Some(left))
                .build()
                .call()
                .map_err(|err| FetchError::from_ureq(err, limit))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                break response;
            }
            let location = header(&response, "location").ok_or_else(|| {
                FetchError::Redirect(format!("http status {status} without a Location header"))
            })?;
            let next = resolve_location(&target, location).map_err(FetchError::Redirect)?;
            if hops == self.http.max_redirects {
                return Err(FetchError::Redirect(format!(
                    "more than http.max_redirects ({}) redirects; the last one was to {next}",
                    self.http.max_redirects
                )));
            }
            self.policy
                .check_redirect(&next)
                .map_err(FetchError::Redirect)?;
            debug!("{target}: {status} to {next}");
            hops += 1;
            target = next;
        };
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            let retry_after = header(&response, "retry-after").and_then(parse_retry_after);
            return Err(FetchError::Status {
                code: status,
                retry_after,
            });
        }
        let content_type = header(&response, "content-type").map(str::to_string);
        let encoding = ContentEncoding::of(header(&response, "content-encoding"))?;
        let mut bytes = self.bodies.take();
        // The wire limit only stops a body that is too large even before decoding; the one
        // that counts applies to the decoded bytes.
        let raw = response.body_mut().with_config().limit(limit).reader();
        body::read_decoded(raw, encoding, limit, &mut bytes)?;
        Ok(decode_body(bytes, content_type.as_deref()))
    }
}

/// A response header as text, if present and readable.
fn header<'a>(response: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After` as delay-seconds or an HTTP-date, capped at [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `base * 2^(attempt-1)`, capped at a minute, with up to 50 % jitter so that crawlers that failed
/// together do not retry together. The jitter is derived from the URL and attempt: no RNG needed.
fn backoff(base: Duration, attempt: u32, url: &str) -> Duration {
    let exp = base.saturating_mul(1 << (attempt - 1).min(16));
    let capped = exp.min(Duration::from_secs(60));
    let hash = crate::hash::fnv1a(url.bytes().chain(attempt.to_le_bytes()));
    let jitter_permille = hash % 500;
    capped + capped.mul_f64(jitter_permille as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_buffers_are_reused_up_to_the_pool_capacity() {
        let pool = BodyPool::new(2);
        assert_eq!(
            pool.take().capacity(),
            0,
            "an empty pool hands out new buffers"
        );
        let mut body = Vec::with_capacity(80_000);
        body.extend_from_slice(b"<html>");
        let room = body.as_ptr();
        pool.give(body);
        let again = pool.take();
        assert_eq!(
            (again.as_ptr(), again.len()),
            (room, 0),
            "the same room, emptied"
        );
        for _ in 0..3 {
            pool.give(Vec::with_capacity(1000));
        }
        assert_eq!(pool.len(), 2, "never more than the capacity");
        let _ = (pool.take(), pool.take());
        pool.give(Vec::with_capacity(BodyPool::KEEP_MAX + 1));
        assert!(pool.is_empty(), "a huge page's buffer is not kept");
    }

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
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&later).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(120));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
    }

    #[test]
    fn a_429_widens_the_gap_and_success_relaxes_it_slowly() {
        let pacer = Pacer::new(Duration::ZERO);
        pacer.slow_down(None);
        assert_eq!(pacer.gap(), MIN_429_GAP);
        pacer.slow_down(Some(Duration::from_secs(1)));
        assert_eq!(pacer.gap(), MIN_429_GAP * 2);
        for _ in 0..16 {
            pacer.relax();
        }
        let relaxed = pacer.gap();
        assert!(
            relaxed < MIN_429_GAP * 2 && relaxed > MIN_429_GAP / 2,
            "{relaxed:?}"
        );
        let floor = Pacer::new(Duration::from_millis(300));
        floor.slow_down(None);
        assert_eq!(floor.gap(), Duration::from_millis(600));
        for _ in 0..1000 {
            floor.relax();
        }
        assert_eq!(
            floor.gap(),
            Duration::from_millis(300),
            "never below delay_ms"
        );
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
