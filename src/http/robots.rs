//! robots.txt (`[http] robots = true`): what a host's file allows our crawler, and a
//! per-round cache that fetches each origin's file once however many threads ask.
//!
//! The rules are RFC 9309's, parsed by the `robotxt` crate: the group of our product token
//! (`pagecrawl` of `pagecrawl/0.1.0`, case-insensitive) else `*`, longest match wins, `Allow`
//! wins ties, `*` and `$` wildcards, at most 500 KiB read, a BOM and any line ending accepted,
//! and `Crawl-delay`. What a response means is RFC 9309's section 2.3.1: 2xx is the file, 4xx
//! (and redirects not followed to the end) is no file, so everything is allowed; 5xx, 429 or no
//! answer is retried, then everything is disallowed for the round.
//!
//! It does no HTTP itself: the cache is handed a closure that fetches one URL.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use robotxt::{Agent, Robots};
use url::{Origin, Url};

/// The most of a robots.txt body that is read, in bytes (500 KiB, as Google and RFC 9309):
/// the fetch may stop reading there; the rest is ignored anyway.
pub const MAX_ROBOTS_BYTES: usize = robotxt::BYTE_LIMIT;

/// The longest `Crawl-delay` honoured: the bound of `http.delay_ms`. A file asking for more
/// (`Crawl-delay: 86400`) gets this, not a day between requests.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(3_600);

/// Origins remembered per round before the oldest is forgotten (and fetched again if asked).
pub const MAX_ORIGINS: usize = 4_096;

/// What one attempt at fetching a robots.txt gave, as the fetch closure reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchResult {
    /// A response, after the redirects the fetcher follows (RFC 9309 asks for at least five,
    /// to any host, since `http://` → `https://` is common), with its body (up to
    /// [`MAX_ROBOTS_BYTES`]; an error status needs no body). A redirect left at the end
    /// (too many, or refused) is passed as its 3xx status.
    Response {
        /// The final status code.
        status: u16,
        /// The body, or its first [`MAX_ROBOTS_BYTES`].
        body: Vec<u8>,
    },
    /// No usable response: a timeout, a body cut short or badly encoded.
    Unreachable(String),
    /// No connection could be made at all (refused, reset, no such host): the site is down.
    NoConnection(String),
    /// The origin's own TLS certificate was refused (expired, wrong name, unknown issuer):
    /// no page of that origin can be fetched either, so the rules are left open and each
    /// page fails on its own with the certificate error, which names what is wrong, instead
    /// of being counted as disallowed. What failed, in words.
    Untrusted(String),
    /// A stop was requested before an answer came.
    Interrupted,
}

/// Where a host's rules came from, for the log and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The file was fetched (a 2xx status).
    File {
        /// Its status.
        status: u16,
        /// Its size in bytes (as read).
        bytes: usize,
    },
    /// There is no file (a 4xx status, or a redirect not followed to the end): all allowed.
    Missing {
        /// The status.
        status: u16,
    },
    /// Every attempt failed (5xx, 429 or no answer): all disallowed for the round.
    Unreachable {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        last: String,
        /// Whether the last attempt could not connect at all (refused, reset, no such host):
        /// the site is down, which is not a robots.txt matter.
        no_answer: bool,
    },
    /// A stop came first: all disallowed, since nothing may be fetched any more.
    Interrupted,
    /// The origin's certificate was refused: no page can be fetched, each fails with the
    /// certificate error (see [`FetchResult::Untrusted`]).
    Untrusted(String),
    /// Not an http(s) URL with a host: robots.txt does not apply.
    NotApplicable,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { status, bytes } => write!(f, "fetched ({status}, {bytes} bytes)"),
            Source::Missing { status } => write!(f, "none ({status}): everything allowed"),
            Source::Unreachable { attempts, last, .. } => write!(
                f,
                "unreachable after {attempts} attempts ({last}): everything disallowed this round"
            ),
            Source::Interrupted => write!(f, "not fetched: stopping"),
            Source::Untrusted(why) => write!(f, "not read, {why}: every page will fail alike"),
            Source::NotApplicable => write!(f, "not applicable"),
        }
    }
}

/// What a robots.txt response means.
#[derive(Debug, Clone)]
pub enum RobotsDecision {
    /// Rules to follow for the round.
    Rules(RobotsRules),
    /// A server error, 429 or an unexpected status: try again, and after the last attempt
    /// disallow everything for the round. The reason, for the log.
    Retry(String),
}

/// The rules of one origin's robots.txt for our crawler.
#[derive(Debug, Clone)]
pub struct RobotsRules {
    /// The rules of our group (or of `*`), or allow-all / disallow-all.
    robots: Robots,
    /// Where they came from.
    source: Source,
}

impl RobotsRules {
    /// What the response to a robots.txt request means for `user_agent` (the whole
    /// `http.user_agent`: its product token is matched, see [`product_token`]).
    pub fn from_response(status: u16, body: &[u8], user_agent: &str) -> RobotsDecision {
        let rules = match status {
            200..=299 => RobotsRules {
                robots: Robots::parse(body, Agent::Exact(product_token(user_agent))),
                source: Source::File {
                    status,
                    bytes: body.len(),
                },
            },
            300..=399 | 400..=428 | 430..=499 => RobotsRules::allow_all(Source::Missing { status }),
            429 => return RobotsDecision::Retry("429 Too Many Requests".to_string()),
            500..=599 => return RobotsDecision::Retry(format!("server error {status}")),
            _ => return RobotsDecision::Retry(format!("unexpected status {status}")),
        };
        RobotsDecision::Rules(rules)
    }

    /// Rules that allow every URL.
    pub fn allow_all(source: Source) -> RobotsRules {
        RobotsRules {
            robots: Robots::allow_all(),
            source,
        }
    }

    /// Rules that disallow every URL.
    pub fn disallow_all(source: Source) -> RobotsRules {
        RobotsRules {
            robots: Robots::disallow_all(),
            source,
        }
    }

    /// Whether our crawler may fetch `url` (its path and query are matched; the rules are
    /// those of its origin).
    pub fn allowed(&self, url: &Url) -> bool {
        self.robots.is_url_allowed(url)
    }

    /// Why no connection could be made for the site's robots.txt (refused, reset, no such
    /// host), if that is why everything is disallowed: then the site is down, and its pages
    /// fail with that reason rather than count as disallowed.
    pub fn site_down(&self) -> Option<&str> {
        match &self.source {
            Source::Unreachable {
                last,
                no_answer: true,
                ..
            } => Some(last),
            _ => None,
        }
    }

    /// The file's `Crawl-delay` for our group, at most [`MAX_CRAWL_DELAY`].
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.robots
            .crawl_delay()
            .map(|delay| delay.min(MAX_CRAWL_DELAY))
    }

    /// Where the rules came from.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

/// The product token of a User-Agent, which robots.txt groups name (RFC 9309, section 2.2.1):
/// its leading letters, `_` and `-` (`pagecrawl` of `pagecrawl/0.1.0 (+https://…)`). Empty
/// when it starts otherwise: then only the `*` group applies.
pub fn product_token(user_agent: &str) -> &str {
    let end = user_agent
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_' || c == '-'))
        .unwrap_or(user_agent.len());
    &user_agent[..end]
}

/// The robots.txt URL for `url`'s origin (no credentials, query or fragment), or `None` for a
/// URL robots.txt does not apply to.
pub fn robots_url(url: &Url) -> Option<Url> {
    robotxt::robots_url(url).ok()
}

/// One cache slot: filled once, by the first thread to ask; the others wait for it.
type Slot = Arc<OnceLock<Arc<RobotsRules>>>;

/// The slots by origin, and the order they were added in, to forget the oldest.
#[derive(Debug, Default)]
struct Slots {
    /// The slot of each origin.
    by_origin: HashMap<Origin, Slot>,
    /// Origins, oldest first.
    order: VecDeque<Origin>,
}

/// The robots.txt rules of every origin asked about in a round: each file is fetched once per
/// round, by the first thread that needs it, while the others for that origin wait for it
/// (blocked, not polling). Threads asking about other origins are not held up.
#[derive(Debug)]
pub struct RobotsCache {
    /// `http.user_agent`.
    user_agent: String,
    /// Fetches of one file before it counts as unreachable.
    attempts: NonZeroU32,
    /// Origins remembered before the oldest is forgotten.
    max_origins: usize,
    /// The slots.
    slots: Mutex<Slots>,
}

impl RobotsCache {
    /// A cache for `user_agent` that makes up to `attempts` fetches of a file whose server
    /// errs or does not answer.
    pub fn new(user_agent: &str, attempts: NonZeroU32) -> RobotsCache {
        RobotsCache::with_capacity(user_agent, attempts, MAX_ORIGINS)
    }

    /// [`RobotsCache::new`] remembering at most `max_origins` origins (at least one).
    pub fn with_capacity(
        user_agent: &str,
        attempts: NonZeroU32,
        max_origins: usize,
    ) -> RobotsCache {
        RobotsCache {
            user_agent: user_agent.to_string(),
            attempts,
            max_origins: max_origins.max(1),
            slots: Mutex::new(Slots::default()),
        }
    }

    // The crawl makes a cache per round (one per client); the tests reuse one.
    #[cfg(test)]
    /// Forgets every origin's rules: call at the start of each round, so that each file is
    /// fetched again once per round.
    pub fn new_round(&self) {
        *self.lock() = Slots::default();
    }

    // The crawl makes a cache per round (one per client); the tests reuse one.
    #[cfg(test)]
    /// How many origins are remembered.
    pub fn len(&self) -> usize {
        self.lock().by_origin.len()
    }

    // The crawl makes a cache per round (one per client); the tests reuse one.
    #[cfg(test)]
    /// Whether no origin is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rules for `url`'s origin, fetching its robots.txt if no thread has this round.
    ///
    /// `fetch(robots_url, attempt)` makes one attempt (numbered from 1) and should bound its
    /// time and the body's size ([`MAX_ROBOTS_BYTES`]), send our User-Agent, and follow
    /// redirects; before an attempt after the first it waits its backoff, and returns
    /// [`FetchResult::Interrupted`] at once if a stop comes. A URL that is not http(s) gets
    /// allow-all rules without a fetch.
    pub fn rules_for(
        &self,
        url: &Url,
        fetch: impl FnMut(&Url, u32) -> FetchResult,
    ) -> Arc<RobotsRules> {
        let Some(robots_url) = robots_url(url) else {
            return Arc::new(RobotsRules::allow_all(Source::NotApplicable));
        };
        let slot = self.slot(url.origin());
        // Only one thread runs the closure; the others block in `get_or_init` until it is done.
        Arc::clone(slot.get_or_init(|| Arc::new(self.fetch_rules(&robots_url, fetch))))
    }

    /// The slot of `origin`, added (forgetting the oldest past the cap) if it has none.
    fn slot(&self, origin: Origin) -> Slot {
        let mut slots = self.lock();
        if let Some(slot) = slots.by_origin.get(&origin) {
            return Arc::clone(slot);
        }
        while slots.by_origin.len() >= self.max_origins {
            let Some(oldest) = slots.order.pop_front() else {
                break;
            };
            slots.by_origin.remove(&oldest);
        }
        let slot = Slot::default();
        slots.by_origin.insert(origin.clone(), Arc::clone(&slot));
        slots.order.push_back(origin);
        slot
    }

    /// Fetches and reads one file, with its retries.
    fn fetch_rules(
        &self,
        robots_url: &Url,
        mut fetch: impl FnMut(&Url, u32) -> FetchResult,
    ) -> RobotsRules {
        let mut last = String::new();
        let mut no_answer = false;
        for attempt in 1..=self.attempts.get() {
            match fetch(robots_url, attempt) {
                FetchResult::Response { status, body } => {
                    match RobotsRules::from_response(status, &body, &self.user_agent) {
                        RobotsDecision::Rules(rules) => return rules,
                        RobotsDecision::Retry(why) => (last, no_answer) = (why, false),
                    }
                }
                FetchResult::Unreachable(why) => (last, no_answer) = (why, false),
                FetchResult::NoConnection(why) => (last, no_answer) = (why, true),
                FetchResult::Untrusted(why) => {
                    return RobotsRules::allow_all(Source::Untrusted(why));
                }
                FetchResult::Interrupted => return RobotsRules::disallow_all(Source::Interrupted),
            }
        }
        RobotsRules::disallow_all(Source::Unreachable {
            attempts: self.attempts.get(),
            last,
            no_answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const UA: &str = "PageCrawl/0.1.0 (+https://pagecrawl.example/bot)";

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn rules(status: u16, body: &[u8]) -> RobotsRules {
        match RobotsRules::from_response(status, body, UA) {
            RobotsDecision::Rules(rules) => rules,
            RobotsDecision::Retry(why) => panic!("retry: {why}"),
        }
    }

    fn attempts(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn our_group_by_product_token_else_star() {
        let body = b"User-agent: *\nDisallow: /\n\nUser-agent: pagecrawl\nDisallow: /private\nAllow: /private/ok\nCrawl-delay: 2.5\n";
        let ours = rules(200, body);
        assert!(ours.allowed(&url("http://h.example/list?page=2")));
        assert!(!ours.allowed(&url("http://h.example/private/x")));
        assert!(ours.allowed(&url("http://h.example/private/ok/1")));
        assert_eq!(ours.crawl_delay(), Some(Duration::from_millis(2500)));
        assert_eq!(
            ours.source(),
            &Source::File {
                status: 200,
                bytes: body.len()
            }
        );
        // Another crawler falls back to `*`.
        let RobotsDecision::Rules(other) = RobotsRules::from_response(200, body, "otherbot/1")
        else {
            panic!()
        };
        assert!(!other.allowed(&url("http://h.example/list")));
        assert_eq!(product_token(UA), "PageCrawl");
        assert_eq!(product_token("pagecrawl"), "pagecrawl");
        assert_eq!(product_token("9bot"), "");
    }

    #[test]
    fn bom_crlf_wildcards_and_odd_files() {
        let body = b"\xEF\xBB\xBFUser-Agent: *\r\nDisallow: /*.pdf$\r\nDisallow: /search\r\n";
        let r = rules(200, body);
        assert!(!r.allowed(&url("http://h.example/a/b.pdf")));
        assert!(r.allowed(&url("http://h.example/a/b.pdf?x=1")));
        assert!(!r.allowed(&url("http://h.example/search?q=x")));
        assert!(r.allowed(&url("http://h.example/robots.txt")));
        // An HTML page served as robots.txt, an empty file, binary junk: nothing disallowed.
        for junk in [
            &b"<html><body>Not here</body></html>"[..],
            b"",
            b"\x00\xff\xfe garbage\n\n",
        ] {
            assert!(rules(200, junk).allowed(&url("http://h.example/x")));
        }
        // A delay beyond our bound is capped.
        let slow = rules(200, b"User-agent: *\nCrawl-delay: 86400\n");
        assert_eq!(slow.crawl_delay(), Some(MAX_CRAWL_DELAY));
        assert_eq!(
            rules(200, b"User-agent: *\nCrawl-delay: soon\n").crawl_delay(),
            None
        );
    }

    #[test]
    fn a_huge_file_is_read_to_500_kib() {
        let mut body = b"User-agent: *\nDisallow: /early\n".to_vec();
        while body.len() < MAX_ROBOTS_BYTES - 20 {
            body.extend_from_slice(b"# filler comment line\n");
        }
        // A rule that straddles the limit, and one past it: neither applies.
        body.extend_from_slice(b"Disallow: /straddling-the-limit\nDisallow: /late\n");
        let r = rules(200, &body);
        assert!(!r.allowed(&url("http://h.example/early")));
        assert!(r.allowed(&url("http://h.example/straddling-the-limit")));
        assert!(r.allowed(&url("http://h.example/late")));
    }

    #[test]
    fn statuses_by_rfc_9309() {
        for status in [404, 401, 403, 410, 301, 308] {
            let r = rules(status, b"User-agent: *\nDisallow: /");
            assert!(r.allowed(&url("http://h.example/x")), "{status}");
            assert_eq!(r.source(), &Source::Missing { status });
        }
        for status in [500, 503, 429, 100, 600] {
            assert!(
                matches!(
                    RobotsRules::from_response(status, b"", UA),
                    RobotsDecision::Retry(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn robots_urls() {
        let robots = robots_url(&url("https://u:p@h.example:8443/a/b?c=1#d")).unwrap();
        assert_eq!(robots.as_str(), "https://h.example:8443/robots.txt");
        assert_eq!(robots_url(&url("mailto:x@h.example")), None);
        let cache = RobotsCache::new(UA, attempts(1));
        let r = cache.rules_for(&url("data:text/plain,x"), |_, _| panic!("no fetch"));
        assert_eq!(r.source(), &Source::NotApplicable);
        assert!(cache.is_empty());
    }

    #[test]
    fn server_errors_are_retried_then_disallow_all() {
        let cache = RobotsCache::new(UA, attempts(3));
        let calls = AtomicU32::new(0);
        let flaky = |_: &Url, attempt: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            match attempt {
                1 => FetchResult::Response {
                    status: 503,
                    body: Vec::new(),
                },
                2 => FetchResult::Unreachable("connection refused".into()),
                _ => FetchResult::Response {
                    status: 200,
                    body: b"User-agent: *\nDisallow: /x".to_vec(),
                },
            }
        };
        let r = cache.rules_for(&url("http://a.example/list"), flaky);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(!r.allowed(&url("http://a.example/x")));
        assert!(r.allowed(&url("http://a.example/y")));

        let down = cache.rules_for(&url("http://b.example/"), |_, _| FetchResult::Response {
            status: 500,
            body: Vec::new(),
        });
        assert!(!down.allowed(&url("http://b.example/list")));
        assert_eq!(
            down.source(),
            &Source::Unreachable {
                attempts: 3,
                last: "server error 500".into(),
                no_answer: false,
            }
        );
        // The round remembers it: no new fetch until the next round.
        let again = cache.rules_for(&url("http://b.example/other"), |_, _| {
            panic!("fetched twice")
        });
        assert!(!again.allowed(&url("http://b.example/list")));
        cache.new_round();
        let next = cache.rules_for(&url("http://b.example/"), |_, _| FetchResult::Response {
            status: 404,
            body: Vec::new(),
        });
        assert!(next.allowed(&url("http://b.example/list")));

        let stopped = cache.rules_for(&url("http://c.example/"), |_, _| FetchResult::Interrupted);
        assert_eq!(stopped.source(), &Source::Interrupted);
        assert!(!stopped.allowed(&url("http://c.example/")));
    }

    #[test]
    fn one_fetch_per_origin_however_many_threads() {
        let cache = RobotsCache::new(UA, attempts(2));
        let fetches: Mutex<Vec<String>> = Mutex::new(Vec::new());
        const THREADS: usize = 8;
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for i in 0..THREADS {
                let (cache, fetches, barrier) = (&cache, &fetches, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    // Two origins (http and https of one host), many paths each.
                    let scheme = if i % 2 == 0 { "http" } else { "https" };
                    let page = url(&format!("{scheme}://h.example/list?page={i}"));
                    let r = cache.rules_for(&page, |robots, _| {
                        fetches.lock().unwrap().push(robots.to_string());
                        FetchResult::Response {
                            status: 200,
                            body: b"User-agent: *\nDisallow: /admin".to_vec(),
                        }
                    });
                    assert!(r.allowed(&page));
                });
            }
        });
        let mut fetched = fetches.into_inner().unwrap();
        fetched.sort();
        assert_eq!(
            fetched,
            [
                "http://h.example/robots.txt",
                "https://h.example/robots.txt"
            ]
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_oldest_origin_is_forgotten_past_the_cap() {
        let cache = RobotsCache::with_capacity(UA, attempts(1), 2);
        let fetches = AtomicU32::new(0);
        let fetch = |_: &Url, _| {
            fetches.fetch_add(1, Ordering::SeqCst);
            FetchResult::Response {
                status: 404,
                body: Vec::new(),
            }
        };
        for host in [
            "http://a.example/",
            "http://b.example/",
            "http://c.example/",
            "http://b.example/x",
            "http://a.example/",
        ] {
            cache.rules_for(&url(host), fetch);
        }
        // a, b, c fetched; b still known; a forgotten when c came, so fetched again.
        assert_eq!(fetches.load(Ordering::SeqCst), 4);
        assert_eq!(cache.len(), 2);
    }
}
