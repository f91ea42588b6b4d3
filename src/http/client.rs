//! The HTTP client the crawler threads share: one ureq [`Agent`] (one connection pool, and a DNS
//! resolver that enforces the crawl's address [`Policy`]), one [`Hosts`] (the `delay_ms` gap
//! between request starts, which widens while the server answers 429) and one [`BodyPool`].
//!
//! Redirects are followed here, one hop at a time, so that each is checked against the policy,
//! and `timeout_secs` is one deadline for the whole chain; bodies are decoded from their
//! `Content-Encoding` and charset (see [`body`]). Retryable errors are retried with backoff;
//! waits for a host's slot or turn, or a backoff, wake at once on shutdown. It knows nothing of pages,
//! channels or stages.
//!
//! A client lives one round, so its [`RobotsCache`] fetches each origin's robots.txt once per
//! round (`http.robots`), and its `Crawl-delay` raises that host's pacing for that round. `[http.headers]`
//! are added per request, only when the request goes to the site's origin: requests
//! to other hosts (detail pages, files on a CDN) get none of them, a `Cookie` least of all.
//! Certificates are checked against Mozilla's roots and `http.ca_file`'s (see [`tls`]).

use std::io::Write;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, warn};
use ureq::http::Uri;
use ureq::unversioned::transport::DefaultConnector;
use ureq::{Agent, Body};
use url::{Origin, Url};

use super::body::{self, ACCEPT_ENCODING, ContentEncoding, decode_body};
use super::conditional::Validators;
use super::error::FetchError;
use super::hosts::{Hosts, Wanted};
use super::policy::{GuardedResolver, Policy, resolve_location};
use super::pool::BodyPool;
use super::robots::RobotsCache;
use super::tls;
use crate::config::{HttpConfig, SiteConfig};
use crate::shutdown::Shutdown;
use crate::stats::Stats;

mod robots_fetch;

/// Longest `Retry-After` we honour; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Redirects followed for a robots.txt: RFC 9309 asks for at least five.
const ROBOTS_MAX_REDIRECTS: u32 = 5;

/// The largest response head (status line and headers) accepted; a larger one fails the page.
/// 32 KiB is what AWS's load balancers pass on; ureq zero-fills an input buffer this large for
/// every connection, so at 32 crawlers each KiB here is 32 KiB of the resident set (64 KiB
/// cost 1 MiB more).
const MAX_RESPONSE_HEAD: usize = 32 * 1024;

/// The client of one crawl. Clones share the agent, the hosts, the policy and the body pool.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// The connection pool and the guarded resolver.
    agent: Agent,
    /// HTTP settings.
    http: HttpConfig,
    /// Every host's request slots (`per_host`) and pacing (`delay_ms`, or its robots.txt
    /// `Crawl-delay` when larger, widened by its 429s).
    hosts: Arc<Hosts>,
    /// Where redirects may lead.
    policy: Arc<Policy>,
    /// Buffers to read bodies into, given back by whoever is done with a body.
    bodies: Arc<BodyPool>,
    /// The site's origin: the only one `[http.headers]` are sent to.
    site_origin: Origin,
    /// This round's robots.txt rules by origin, with `http.robots` (the client lives a round).
    robots: Option<Arc<RobotsCache>>,
    /// Raised at the first response (any status, a redirect too) from the site's origin: from
    /// then on, a request that gets no connection is an outage, not a site that is down.
    site_answered: Arc<AtomicBool>,
}

impl Client {
    /// The client of a crawl of `site` by `threads` threads in all (crawlers, detail crawlers,
    /// downloaders), reading bodies into `bodies`.
    pub fn new(
        http: &HttpConfig,
        site: &SiteConfig,
        threads: usize,
        bodies: Arc<BodyPool>,
    ) -> Client {
        let first = site.url_of(site.first_page);
        let policy = Arc::new(Policy::for_site(&first, http.follow_offsite_redirects));
        // One try and the configured retries, as for a page.
        let attempts = NonZeroU32::new(http.retries.saturating_add(1)).unwrap_or(NonZeroU32::MIN);
        // Without `per_host`, as many requests to one host as there are threads: no cap.
        let per_host = http
            .per_host
            .unwrap_or(NonZeroUsize::new(threads.max(1)).expect("at least one"));
        Client {
            // `site.url` was checked at load; an opaque origin matches no request.
            site_origin: Url::parse(&first).map_or_else(|_| Origin::new_opaque(), |u| u.origin()),
            robots: http
                .robots
                .then(|| Arc::new(RobotsCache::new(&http.user_agent, attempts))),
            agent: build_agent(http, threads, policy.clone()),
            http: http.clone(),
            hosts: Arc::new(Hosts::new(per_host, http.delay)),
            policy,
            bodies,
            site_answered: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the site's origin has answered any request of this client (this round), with
    /// any status.
    pub fn site_has_answered(&self) -> bool {
        self.site_answered.load(Ordering::SeqCst)
    }

    /// Shuts every connection down under the requests in flight, which then fail at once: the
    /// end of the grace period after a stop.
    pub fn abandon(self) {
        self.agent.shutdown();
    }

    /// Fetches `url`, retrying retryable errors with exponential backoff: the decoded body, the
    /// URL the redirects led to (links on the page resolve against it) and the final status.
    pub fn fetch(
        &self,
        url: &str,
        shutdown: &Shutdown,
        stats: &Stats,
    ) -> Result<Response, FetchError> {
        let ask = Validators::default();
        match self.fetch_if_changed(url, &ask, shutdown, stats)? {
            Answer::Changed(response) => Ok(response),
            // Asked with nothing, a 304 has nothing to keep.
            Answer::NotModified => Err(FetchError::NotModifiedUnasked),
        }
    }

    /// [`Client::fetch`], asking with the validators the page had last time (`ask`): an
    /// unchanged page answers [`Answer::NotModified`], with no body.
    pub fn fetch_if_changed(
        &self,
        url: &str,
        ask: &Validators,
        shutdown: &Shutdown,
        stats: &Stats,
    ) -> Result<Answer, FetchError> {
        self.with_retries(url, shutdown, stats, None, || self.get(url, ask))
    }

    /// [`Client::fetch_if_changed`] for a page that may stop being wanted while it waits for
    /// its host's slot or turn, or between retries (a list page past the end that has just
    /// been found): the wait ends when `wanted`'s news says it is not wanted any more, it is
    /// asked again right before each attempt, and a page not wanted is not asked for
    /// ([`FetchError::NotWanted`]).
    pub fn fetch_while(
        &self,
        url: &str,
        ask: &Validators,
        shutdown: &Shutdown,
        stats: &Stats,
        wanted: &Wanted<'_>,
    ) -> Result<Answer, FetchError> {
        self.with_retries(url, shutdown, stats, Some(wanted), || self.get(url, ask))
    }

    /// Downloads `url` into the writer `start` makes once the response head is in (it is
    /// given the `Content-Type`), retrying as [`Client::fetch`] does (each attempt with a
    /// writer of its own; a failed attempt's is dropped). At most `limit` bytes are taken,
    /// after decoding; a larger body is [`FetchError::TooLarge`]. Returns the writer, holding
    /// the whole body. `referer`, when given, goes with every request (redirects too).
    pub fn download<W: Write>(
        &self,
        url: &str,
        referer: Option<&str>,
        limit: u64,
        shutdown: &Shutdown,
        stats: &Stats,
        mut start: impl FnMut(Option<&str>) -> std::io::Result<W>,
    ) -> Result<W, FetchError> {
        self.with_retries(url, shutdown, stats, None, || {
            let Opened::Body(_, mut response) =
                self.open(url, limit, &Validators::default(), referer)?
            else {
                return Err(FetchError::NotModifiedUnasked);
            };
            let content_type = header(&response, "content-type").map(str::to_string);
            let encoding = ContentEncoding::of(header(&response, "content-encoding"))?;
            let mut into = start(content_type.as_deref())
                .map_err(|err| FetchError::Store(format!("creating the file: {err}")))?;
            let raw = response.body_mut().with_config().limit(limit).reader();
            body::copy_decoded(raw, encoding, limit, &mut into)?;
            Ok(into)
        })
    }

    /// Runs `attempt` on `url` until it succeeds, fails for good, or retries run out, each
    /// attempt holding one of the host's slots and waiting its turn by the host's pacing.
    /// A 429 widens that host's gap; other retryable errors back off exponentially. Every
    /// wait ends at once on `shutdown`, and no attempt starts once it is requested, nor once
    /// `wanted` says no.
    fn with_retries<T>(
        &self,
        url: &str,
        shutdown: &Shutdown,
        stats: &Stats,
        wanted: Option<&Wanted<'_>>,
        mut attempt: impl FnMut() -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let host = Url::parse(url)
            .map_err(|err| FetchError::Redirect(format!("bad URL {url:?}: {err}")))?;
        let mut retries = 0;
        loop {
            if shutdown.is_requested() {
                return Err(FetchError::Interrupted);
            }
            let not_wanted = || wanted.is_some_and(|w| !(w.still)());
            let Some(permit) = self.hosts.acquire_while(&host, shutdown.waker(), wanted) else {
                if shutdown.is_requested() {
                    return Err(FetchError::Interrupted);
                }
                return Err(FetchError::NotWanted);
            };
            // The news fires only once: what was wanted when the wait began may not be any more.
            if not_wanted() {
                return Err(FetchError::NotWanted);
            }
            let started = Instant::now();
            let result = attempt();
            stats.fetch_took(started.elapsed());
            drop(permit);
            let err = match result {
                Ok(done) => {
                    self.hosts.relax(&host);
                    return Ok(done);
                }
                Err(err) => err,
            };
            if !err.is_retryable() || retries >= self.http.retries {
                return Err(err);
            }
            retries += 1;
            stats.retried();
            let wait = match &err {
                FetchError::Status {
                    code: 429,
                    retry_after,
                } => {
                    let before = self.hosts.gap(&host);
                    let gap = self.hosts.slow_down(&host, *retry_after);
                    if gap > before {
                        warn!(
                            "{} answers 429 Too Many Requests: {} ms between requests to it now",
                            host.origin().ascii_serialization(),
                            gap.as_millis()
                        );
                    }
                    // The host's pacing now holds every thread back; this request also waits
                    // its turn.
                    retry_after.unwrap_or_default().max(gap)
                }
                FetchError::Status {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => backoff(self.http.backoff, retries, url),
            };
            debug!("{url}: {err}; retry {retries} in {wait:?}");
            if shutdown.wait_timeout(wait) {
                return Err(FetchError::Interrupted);
            }
        }
    }

    /// One attempt: a GET, following redirects the policy allows, whose final answer must be
    /// 2xx with a body that fits `max_body_bytes` once decoded. `timeout_secs` bounds the whole
    /// attempt, every redirect hop included: each hop gets what is left of one deadline.
    fn get(&self, url: &str, ask: &Validators) -> Result<Answer, FetchError> {
        let limit = self.http.max_body_bytes;
        let (target, mut response) = match self.open(url, limit, ask, None)? {
            Opened::Body(target, response) => (target, response),
            Opened::NotModified => return Ok(Answer::NotModified),
        };
        let status = response.status().as_u16();
        let validators = Validators::of(|name| header(&response, name).map(str::to_string));
        let content_type = header(&response, "content-type").map(str::to_string);
        let encoding = ContentEncoding::of(header(&response, "content-encoding"))?;
        let expected = header(&response, "content-length").and_then(|v| v.parse().ok());
        let mut bytes = self.bodies.take();
        // The wire limit only stops a body that is too large even before decoding; the one
        // that counts applies to the decoded bytes.
        let raw = response.body_mut().with_config().limit(limit).reader();
        body::read_decoded(raw, encoding, limit, expected, &mut bytes)?;
        Ok(Answer::Changed(Response {
            body: decode_body(bytes, content_type.as_deref()),
            url: target.to_string(),
            status,
            validators,
        }))
    }

    /// A GET of `url` up to its 2xx response head, following the redirects the policy allows,
    /// all within one `timeout_secs` deadline (the body is read within it too): the URL the
    /// redirects led to, and the response; or, asked with validators (`ask`), that the page
    /// did not change. `limit` is for the error of a body that the client refuses as too large.
    fn open(
        &self,
        url: &str,
        limit: u64,
        ask: &Validators,
        referer: Option<&str>,
    ) -> Result<Opened, FetchError> {
        let deadline = Instant::now() + self.http.timeout;
        let target: Uri = url
            .parse()
            .map_err(|err| FetchError::Redirect(format!("bad URL {url:?}: {err}")))?;
        let hops = self.http.max_redirects;
        let (response, target) = match self.follow(target, hops, deadline, limit, ask, referer)? {
            Followed::Done(response, target) => (response, target),
            Followed::Stuck { why, .. } => return Err(FetchError::Redirect(why)),
        };
        let status = response.status().as_u16();
        if status == 304 {
            return match ask.is_empty() {
                false => Ok(Opened::NotModified),
                true => Err(FetchError::NotModifiedUnasked),
            };
        }
        if !(200..=299).contains(&status) {
            let retry_after = header(&response, "retry-after").and_then(parse_retry_after);
            return Err(FetchError::Status {
                code: status,
                retry_after,
            });
        }
        Ok(Opened::Body(target, response))
    }
}

/// What a GET came to, before its body is read.
// Made once per request and taken apart at once: boxing the response would cost an allocation
// per page for nothing.
#[allow(clippy::large_enum_variant)]
enum Opened {
    /// A 2xx answer, and the URL that gave it.
    Body(Uri, ureq::http::Response<Body>),
    /// `304 Not Modified` to a conditional request.
    NotModified,
}

/// What a conditional fetch came to.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The page, changed since the validators it was asked with (or asked with none).
    Changed(Response),
    /// `304 Not Modified`: the page is as it was when it gave the validators.
    NotModified,
}

/// A page as the server finally answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// The body, decoded to text.
    pub body: String,
    /// The URL that answered, after the redirects.
    pub url: String,
    /// Its status (2xx).
    pub status: u16,
    /// Its `ETag` and `Last-Modified`, to ask with next time.
    pub validators: Validators,
}

/// Where a chain of redirects led.
enum Followed {
    /// A response that is not a redirect, and the URL that gave it.
    Done(ureq::http::Response<ureq::Body>, Uri),
    /// A redirect that was not followed: one too many, refused by the policy, or without a
    /// usable `Location`. Its status, and why, naming the URL.
    Stuck {
        /// The redirect's status.
        status: u16,
        /// Why it was not followed.
        why: String,
    },
}

impl Client {
    /// Sends a GET to `target` and follows its redirects, at most `max_hops`, each checked
    /// against the policy, all within `deadline`. `[http.headers]` go to the site's origin
    /// only: a `Cookie` never leaves for another host, whatever a redirect says.
    fn follow(
        &self,
        mut target: Uri,
        max_hops: u32,
        deadline: Instant,
        limit: u64,
        ask: &Validators,
        referer: Option<&str>,
    ) -> Result<Followed, FetchError> {
        let mut hops = 0;
        // A redirect may stay on the origin the request began on, as well as the site's.
        let start = target.clone();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FetchError::Timeout(ureq::Error::Timeout(
                    ureq::Timeout::Global,
                )));
            }
            let mut request = self.agent.get(target.clone());
            let on_site = self.is_site_origin(&target);
            if on_site {
                for (name, value) in self.http.headers.iter() {
                    // A file's own referer (`download.referer`) replaces the configured one:
                    // two `Referer` headers would be a request no browser sends.
                    if referer.is_some() && name.eq_ignore_ascii_case("referer") {
                        continue;
                    }
                    request = request.header(name, value);
                }
            }
            if let Some((name, value)) = ask.request_headers() {
                request = request.header(name, value);
            }
            if let Some(referer) = referer {
                request = request.header("Referer", referer);
            }
            let response = request
                .config()
                .timeout_global(Some(left))
                .build()
                .call()
                .map_err(|err| match tls::describe(&err) {
                    Some(what) => FetchError::Tls(format!("{target}: {what}")),
                    None => FetchError::from_ureq(err, limit),
                })?;
            if on_site {
                self.site_answered.store(true, Ordering::SeqCst);
            }
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(Followed::Done(response, target));
            }
            let stuck = |why: String| Ok(Followed::Stuck { status, why });
            let Some(location) = header(&response, "location") else {
                return stuck(format!(
                    "http status {status} without a Location header (at {target})"
                ));
            };
            let next = match resolve_location(&target, location) {
                Ok(next) => next,
                Err(why) => return stuck(why),
            };
            if hops == max_hops {
                return stuck(format!(
                    "more than http.max_redirects ({max_hops}) redirects; the last one was to \
                     {next}"
                ));
            }
            if let Err(why) = self.policy.check_redirect_from(&next, Some(&start)) {
                return stuck(why);
            }
            debug!("{target}: {status} to {next}");
            hops += 1;
            target = next;
        }
    }

    /// Whether `target` is on the site's origin (scheme, host and port of `site.url`).
    fn is_site_origin(&self, target: &Uri) -> bool {
        Url::parse(&target.to_string()).is_ok_and(|url| url.origin() == self.site_origin)
    }
}

/// Builds the agent all crawler threads share: timeouts always set (ureq sets none by default),
/// an idle pool large enough to keep one connection per crawler, redirects left to the crawler
/// (so each hop is checked), DNS answers filtered by `policy`, and no proxy unless `http.proxy`
/// names one (a crawler should not silently route through whatever `HTTP_PROXY` says). With a
/// proxy, the proxy resolves names, so the address guard then covers redirects only.
fn build_agent(http: &HttpConfig, threads: usize, policy: Arc<Policy>) -> Agent {
    let proxy = http.proxy.as_deref().and_then(|p| ureq::Proxy::new(p).ok());
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(http.user_agent.as_str())
        .timeout_global(Some(http.timeout))
        .timeout_connect(Some(http.connect_timeout))
        .max_idle_connections(threads.max(10))
        .max_idle_connections_per_host(threads.max(3))
        .max_redirects(0)
        // Decoded by `body`, with the size limit applied after decoding.
        .accept_encoding(ACCEPT_ENCODING)
        .proxy(proxy)
        // ureq zero-fills both buffers of every connection (128 KiB each by default): with 32
        // crawlers that was 8 MiB of the resident set. A request head fits in 16 KiB; the input
        // buffer stays as large as the biggest response head we accept.
        // One byte more than the largest head: a full buffer then reads as a head too large
        // ("response header is too big"), not as the peer disconnecting.
        .input_buffer_size(MAX_RESPONSE_HEAD + 1)
        .max_response_header_size(MAX_RESPONSE_HEAD)
        .output_buffer_size(16 * 1024)
        .tls_config(tls::tls_config(http.ca_file.as_ref()))
        .build();
    Agent::with_parts(
        config,
        DefaultConnector::new(),
        GuardedResolver::new(policy),
    )
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
}
