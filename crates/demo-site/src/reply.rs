//! How one request is answered, decided once so that both servers behave alike: the route, the
//! page's fault, the latency, and the request counters that tests read.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::detail::{gallery_part, image_bytes, image_of, render_detail, shown_on};
use crate::options::{Fault, PastEnd, RobotsTxt, SiteOptions, Validators};
use crate::pages::{pad_page, render_error, render_index, render_page};

/// What every server thread needs.
pub(crate) struct Shared {
    /// The site's behaviour. Only [`DemoSite::set_pages`] changes it while the site runs (a
    /// listing that grows between two rounds of a scheduled crawl); each request reads it once.
    pub(crate) opts: RwLock<Arc<SiteOptions>>,
    /// Requests per page so far. It also decides when a `Fault::Status` stops, so both servers
    /// must go through it.
    pub(crate) per_page: Mutex<HashMap<u64, u64>>,
    /// Requests per path of a detail page or an image so far. It also decides when a
    /// `Fault::Status` of `path_faults` stops.
    pub(crate) per_path: Mutex<HashMap<String, u64>>,
    /// Requests for any path on either server.
    pub(crate) total: AtomicU64,
    /// Requests for `/robots.txt`.
    pub(crate) robots: AtomicU64,
    /// The most recent requests of the main servers, with their headers (at most
    /// [`MAX_SEEN`]).
    pub(crate) seen: Mutex<VecDeque<SeenRequest>>,
    /// Connections being served now, capped at `opts.workers`.
    pub(crate) live: AtomicUsize,
    /// Requests being answered now by the main server (either port).
    pub(crate) in_flight: AtomicUsize,
    /// The most requests the main server answered at once.
    pub(crate) most_in_flight: AtomicUsize,
    /// Set when the site is dropped: accept loops end, and no further request is answered.
    pub(crate) stopping: AtomicBool,
    /// Disconnected when the site is dropped; waits use it instead of `sleep` so they can end
    /// early.
    pub(crate) stop: Receiver<()>,
    /// Requests answered `304 Not Modified`.
    pub(crate) not_modified: AtomicU64,
}

/// What a request asks with: the validators of the copy it has.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ask {
    /// Its `If-None-Match`.
    pub(crate) if_none_match: Option<String>,
    /// Its `If-Modified-Since`.
    pub(crate) if_modified_since: Option<String>,
    /// Its `Referer`.
    pub(crate) referer: Option<String>,
}

/// How one request is answered, decided once so that both servers behave alike.
pub(crate) enum Reply {
    /// A complete response.
    Full {
        /// The HTTP status code.
        status: u16,
        /// The body.
        body: Vec<u8>,
        /// Extra headers (`Retry-After`, `Location`, …); `Content-Type` here replaces the default.
        headers: Vec<(&'static str, String)>,
    },
    /// Answer nothing until the site is dropped.
    Stall,
    /// A 200 that only the raw server damages, in the given way; the main server sends it whole.
    Damaged {
        /// The full page.
        body: Vec<u8>,
        /// How the raw server damages it.
        damage: Damage,
    },
}

/// What the raw server does to a [`Reply::Damaged`] page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Sends half the announced body, then closes.
    Truncate,
    /// Sends the body a byte at a time.
    Trickle,
    /// Sends this many bytes of junk headers first.
    HugeHeaders(usize),
}

/// Requests remembered with their headers; older ones are forgotten.
pub(crate) const MAX_SEEN: usize = 1024;

/// A request as the main (or HTTPS) server received it, for tests that check what a crawler
/// sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The request target (path and query).
    pub target: String,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl SeenRequest {
    /// The value of header `name` (any case), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a request target asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`: a small index page.
    Index,
    /// `/robots.txt`.
    Robots,
    /// `/top250?...`: one listing page.
    Page(u64),
    /// `/subject/<id>/` or `/img/<book>-<n>.png`: a detail page or an image (served with
    /// `self_links` only).
    Detail,
    /// Anything else: 404.
    NotFound,
}

/// One of the `workers` connection slots, given back when dropped.
pub(crate) struct Slot<'a> {
    /// The counter the slot was taken from.
    pub(crate) live: &'a AtomicUsize,
}

impl Shared {
    /// The options as they are now.
    pub(crate) fn opts(&self) -> Arc<SiteOptions> {
        Arc::clone(&self.opts.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts a request for `target`, asking with `ask`, and decides how to answer it: a page
    /// that carries validators (`SiteOptions::validators`) answers `304` to a request that has
    /// its copy.
    pub(crate) fn reply(&self, target: &str, ask: &Ask) -> Reply {
        let opts = self.opts();
        let path = target.split('?').next().unwrap_or(target);
        if let (true, Some((book, n))) = (opts.images_need_referer, image_of(path)) {
            let shown_on = shown_on(&opts, book, n);
            let from_it = ask
                .referer
                .as_deref()
                .is_some_and(|referer| referer.starts_with("http") && referer.ends_with(&shown_on));
            if !from_it {
                return full(403, render_error(403));
            }
        }
        let reply = self.reply_whole(target);
        let Reply::Full {
            status: 200,
            body,
            mut headers,
        } = reply
        else {
            return reply;
        };
        let html = matches!(route(target, opts.page_size), Route::Page(_))
            || gallery_part(target.split('?').next().unwrap_or(target)).is_some();
        let validator = match opts.validators {
            _ if !html => None,
            Validators::None => None,
            Validators::ETag => Some(("ETag", format!("\"{:016x}\"", body_hash(&body)))),
            Validators::LastModified => Some(("Last-Modified", edition_date(opts.edition.number))),
        };
        let Some((name, value)) = validator else {
            return Reply::Full {
                status: 200,
                body,
                headers,
            };
        };
        let asked = match name {
            "ETag" => ask.if_none_match.as_deref(),
            _ => ask.if_modified_since.as_deref(),
        };
        headers.push((name, value.clone()));
        if asked == Some(value.as_str()) {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            return Reply::Full {
                status: 304,
                body: Vec::new(),
                headers,
            };
        }
        Reply::Full {
            status: 200,
            body,
            headers,
        }
    }

    /// Counts a request for `target` and decides how to answer it, whole.
    fn reply_whole(&self, target: &str) -> Reply {
        self.total.fetch_add(1, Ordering::SeqCst);
        let opts = self.opts();
        let page = match route(target, opts.page_size) {
            Route::Page(page) => page,
            Route::Index => return full(200, render_index()),
            Route::Detail => return self.reply_detail(&opts, target),
            Route::Robots => return self.robots_txt(&opts, target),
            Route::NotFound => return full(404, render_error(404)),
        };
        let nth = {
            let mut counts = self.per_page.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(page).or_insert(0);
            *count += 1;
            *count
        };
        // `direct=1` bypasses the fault table: the target a redirect fault can point at.
        let direct = target.split(['?', '&']).any(|pair| pair == "direct=1");
        let fault = if direct { None } else { opts.faults.get(&page) };
        if let (None, PastEnd::Status(code)) = (fault, opts.past_end)
            && page >= opts.pages
        {
            return full(code, render_error(code));
        }
        if let Some(reply) = fault.and_then(|fault| status_fault(fault, nth)) {
            return reply;
        }
        match fault {
            Some(Fault::Truncated) => damaged(&opts, page, Damage::Truncate),
            Some(Fault::Trickle) => damaged(&opts, page, Damage::Trickle),
            Some(Fault::HugeHeaders { bytes }) => damaged(&opts, page, Damage::HugeHeaders(*bytes)),
            Some(Fault::Huge { bytes }) => full(200, pad_page(render_page(&opts, page), *bytes)),
            Some(Fault::Charset { label, in_meta }) => encoded_page(&opts, page, label, *in_meta),
            Some(Fault::GzipBomb { decoded_bytes }) => Reply::Full {
                status: 200,
                body: gzip_filler(*decoded_bytes),
                headers: vec![("Content-Encoding", "gzip".to_string())],
            },
            Some(Fault::Encoded { encoding, body }) => Reply::Full {
                status: 200,
                body: body.clone(),
                headers: vec![("Content-Encoding", encoding.clone())],
            },
            Some(Fault::Body(body)) => full(200, body.clone()),
            // Empty is part of the content, so render_page handles it.
            _ if opts.json => full(200, crate::api::render_api(&opts, page)),
            _ => full(200, render_page(&opts, page)),
        }
    }

    /// Answers a detail page or an image, misbehaving as `path_faults` says.
    fn reply_detail(&self, opts: &SiteOptions, target: &str) -> Reply {
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        let (body, content_type) = match (gallery_part(path), image_of(path)) {
            _ if !opts.self_links => return full(404, render_error(404)),
            (Some((book, part)), _) => match render_detail(opts, book, part) {
                Some(html) => (html.into_bytes(), "text/html; charset=utf-8"),
                None => return full(404, render_error(404)),
            },
            (_, Some((book, n))) => (image_bytes(book, n), "image/png"),
            _ => return full(404, render_error(404)),
        };
        let nth = {
            let mut counts = self.per_path.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(path.to_string()).or_insert(0);
            *count += 1;
            *count
        };
        let headers = vec![("Content-Type", content_type.to_string())];
        let fault = opts.path_faults.get(path);
        if let Some(reply) = fault.and_then(|fault| status_fault(fault, nth)) {
            return reply;
        }
        match fault {
            Some(Fault::GzipBomb { decoded_bytes }) => Reply::Full {
                status: 200,
                body: gzip_filler(*decoded_bytes),
                headers: vec![
                    ("Content-Type", content_type.to_string()),
                    ("Content-Encoding", "gzip".to_string()),
                ],
            },
            Some(Fault::Huge { bytes }) => {
                let mut body = body;
                body.resize(body.len().max(*bytes), 0);
                Reply::Full {
                    status: 200,
                    body,
                    headers,
                }
            }
            _ => Reply::Full {
                status: 200,
                body,
                headers,
            },
        }
    }

    /// The latency of `target`: the site's, plus the page's own in `slow`.
    /// Remembers a request and its headers, forgetting the oldest past [`MAX_SEEN`].
    pub(crate) fn record(&self, request: SeenRequest) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_SEEN {
            seen.pop_front();
        }
        seen.push_back(request);
    }

    /// The answer to `/robots.txt`, counted.
    fn robots_txt(&self, opts: &SiteOptions, target: &str) -> Reply {
        let direct = target.ends_with("?direct=1");
        self.robots.fetch_add(1, Ordering::SeqCst);
        let text = |text: &str| Reply::Full {
            status: 200,
            body: text.as_bytes().to_vec(),
            headers: vec![("Content-Type", "text/plain".to_string())],
        };
        match &opts.robots {
            RobotsTxt::Missing => full(404, render_error(404)),
            RobotsTxt::Status(code) => full(*code, render_error(*code)),
            RobotsTxt::Text(body) | RobotsTxt::Slow { text: body, .. } => text(body),
            RobotsTxt::Redirect { text: body, .. } if direct => text(body),
            RobotsTxt::Redirect { location, .. } => Reply::Full {
                status: 301,
                body: render_error(301).into_bytes(),
                headers: vec![("Location", location.clone())],
            },
        }
    }

    /// The latency of `target`: the site's, plus the page's own in `slow` (or a slow
    /// robots.txt's delay).
    pub(crate) fn latency_of(&self, target: &str) -> Duration {
        let opts = self.opts();
        let extra = match route(target, opts.page_size) {
            Route::Page(page) => opts.slow.get(&page).copied().unwrap_or_default(),
            Route::Robots => match &opts.robots {
                RobotsTxt::Slow { delay, .. } => *delay,
                _ => Duration::ZERO,
            },
            _ => Duration::ZERO,
        };
        opts.latency + extra
    }

    /// Waits out the latency of `target`, or less if the site is being dropped.
    pub(crate) fn wait_latency(&self, target: &str) {
        let latency = self.latency_of(target);
        if !latency.is_zero() {
            // Nobody sends on `stop`: this returns on timeout or when the site is dropped.
            let _ = self.stop.recv_timeout(latency);
        }
    }

    /// Blocks until the site is dropped.
    pub(crate) fn wait_for_stop(&self) {
        let _ = self.stop.recv();
    }

    /// Takes a connection slot, or `None` if `workers` connections are being served already.
    pub(crate) fn take_slot(&self) -> Option<Slot<'_>> {
        let before = self.live.fetch_add(1, Ordering::SeqCst);
        // Built either way, so that its `Drop` undoes the increment: here if over the cap, or
        // when the connection ends.
        let slot = Slot { live: &self.live };
        (before < self.opts().workers.max(1)).then_some(slot)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The answer of a fault that replaces the content whatever it is (an error status for the
/// first `times` requests, the `nth` being this one; a stall; a redirect), or `None` for a
/// fault that serves the content in some way, or no longer applies.
fn status_fault(fault: &Fault, nth: u64) -> Option<Reply> {
    match fault {
        Fault::Status {
            code,
            times,
            retry_after,
        } if *times == u32::MAX || nth <= u64::from(*times) => Some(Reply::Full {
            status: *code,
            body: render_error(*code).into_bytes(),
            headers: retry_after
                .iter()
                .map(|value| ("Retry-After", value.clone()))
                .collect(),
        }),
        Fault::Stall => Some(Reply::Stall),
        Fault::Redirect { status, location } => Some(Reply::Full {
            status: *status,
            body: render_error(*status).into_bytes(),
            headers: vec![("Location", location.clone())],
        }),
        _ => None,
    }
}

/// A complete response without `Retry-After`.
fn full(status: u16, body: String) -> Reply {
    Reply::Full {
        status,
        body: body.into_bytes(),
        headers: Vec::new(),
    }
}

/// A normal page that the raw server damages.
fn damaged(opts: &SiteOptions, page: u64, damage: Damage) -> Reply {
    Reply::Damaged {
        body: render_page(opts, page).into_bytes(),
        damage,
    }
}

/// The page encoded in `label`'s charset, declared in the header or only in `<meta>`.
fn encoded_page(opts: &SiteOptions, page: u64, label: &str, in_meta: bool) -> Reply {
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
        .unwrap_or_else(|| panic!("demo site: unknown charset label {label:?}"));
    let html = render_page(opts, page).replace("charset=utf-8", &format!("charset={label}"));
    let html = html.replace("charset=\"utf-8\"", &format!("charset=\"{label}\""));
    let (bytes, _, _) = encoding.encode(&html);
    let content_type = if in_meta {
        "text/html".to_string()
    } else {
        format!("text/html; charset={label}")
    };
    Reply::Full {
        status: 200,
        body: bytes.into_owned(),
        headers: vec![("Content-Type", content_type)],
    }
}

/// A gzip stream that inflates to `decoded_bytes` of HTML comment filler.
fn gzip_filler(decoded_bytes: usize) -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let chunk = [b'z'; 64 * 1024];
    let mut left = decoded_bytes;
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(b"<!-- ");
    while left > 0 {
        let n = left.min(chunk.len());
        let _ = encoder.write_all(&chunk[..n]);
        left -= n;
    }
    encoder.finish().unwrap_or_default()
}

/// Maps a request target to what it asks for. A missing or garbled query means page 0.
pub(crate) fn route(target: &str, page_size: usize) -> Route {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" => Route::Index,
        "/robots.txt" => Route::Robots,
        // `/books/top250` serves the same pages one folder down: a redirect there changes what
        // the pages' relative links resolve against.
        "/top250" | "/books/top250" => Route::Page(page_from_query(query, page_size)),
        _ if gallery_part(path).is_some() || image_of(path).is_some() => Route::Detail,
        _ => Route::NotFound,
    }
}

/// Reads `start=OFFSET` (as Douban does), `page=N` or the JSON API's `cursor=…` from a query
/// string.
pub(crate) fn page_from_query(query: &str, page_size: usize) -> u64 {
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("start", value)) => {
                if let Ok(offset) = value.parse::<u64>() {
                    // max(1): a zero page size is odd but must not divide by zero.
                    return offset / page_size.max(1) as u64;
                }
            }
            Some(("page", value)) => {
                if let Ok(page) = value.parse::<u64>() {
                    return page;
                }
            }
            Some(("cursor", value)) => {
                if let Some(page) = crate::api::page_of_cursor(value) {
                    return page;
                }
            }
            _ => {}
        }
    }
    0
}

/// A hash of a page's bytes, for its `ETag`: the same bytes, the same tag.
fn body_hash(body: &[u8]) -> u64 {
    use std::hash::Hasher;
    // SipHash with zero keys: the same every run, which an ETag must be.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(body);
    hasher.finish()
}

/// The `Last-Modified` of every page of edition `number`: a day apart from one edition to the
/// next, from 1 January 2026.
fn edition_date(number: u64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600 + number * 86_400);
    httpdate::fmt_http_date(at)
}
