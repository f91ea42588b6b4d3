//! The built-in sample site: a local imitation of Douban's "Top 250" book listing.
//!
//! This module owns the site's content (deterministic pages of about 70 KB of Douban-like markup,
//! with decoy items hidden in a comment and in a script) and two loopback servers that serve it:
//! a well-behaved keep-alive server for `pagecrawl demo`, `demo --serve` and benchmarks, and a
//! hostile one that answers one request per connection and can truncate bodies or stall, for the
//! fault tests. Both share one request counter and one fault table, so tests can ask how often a
//! page was fetched. It must not know anything about the crawler: it only answers HTTP, never
//! reaches beyond the addresses it binds, and never hangs when it is dropped.
//!
//! The main server is hyper on a small tokio runtime of its own (keep-alive, any number of
//! connections). tiny_http 0.12 was tried first and dropped: its connection pool can leave a new
//! keep-alive connection unserved when more than four arrive together, which stalled crawls for
//! whole request timeouts. The hostile server is a raw `std::net` socket, because the faults it
//! exists for (a body cut short, a request never answered) are what an HTTP library won't do.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use log::{debug, warn};
use std::convert::Infallible;
use tokio::sync::watch;

/// Items per listing page, as on Douban.
pub const DEFAULT_PAGE_SIZE: usize = 25;

/// How long a connection may wait for a client's bytes (or for it to take ours). Longer than
/// any crawler keeps an idle pooled connection (ureq: 15 s), so the site never closes one that
/// a client is about to reuse; finite, so a silent client cannot pin a thread forever.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Request heads larger than this are refused; real GET heads are far smaller.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where `Fault::Huge` padding goes: right after the listing, so a parser has to skip it.
const LISTING_END: &str = "<!-- /listing -->";

/// How the site behaves.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// Pages `0..pages` carry items; any page at or beyond it is a valid listing with zero items.
    pub pages: u64,
    /// Items per page; a request's `start` offset is divided by this to get its page.
    pub page_size: usize,
    /// Added before every response; it ends early when the site is dropped.
    pub latency: Duration,
    /// Misbehaviour per page number; pages not listed are served normally.
    pub faults: BTreeMap<u64, Fault>,
    /// The most connections the raw (hostile) server serves at once, one thread each; one beyond
    /// it gets `503` with `Retry-After: 1`. The main server has no such cap.
    pub workers: usize,
    /// How pages at or beyond `pages` answer (faults listed for them win).
    pub past_end: PastEnd,
    /// Extra latency for these pages, after `latency`: a page that answers later than the
    /// pages after it.
    pub slow: BTreeMap<u64, Duration>,
}

/// How a listing answers for page numbers past its last page: sites differ, and "until empty"
/// crawls must end on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PastEnd {
    /// A valid listing page with no items (the default).
    #[default]
    Empty,
    /// The last page again, items and all, whatever the number asked for (common on real
    /// sites that clamp the page number).
    RepeatLast,
    /// This HTTP status, such as 404, or 403 from a site that blocks the crawler.
    Status(u16),
}

impl Default for SiteOptions {
    fn default() -> SiteOptions {
        SiteOptions {
            pages: 10,
            page_size: DEFAULT_PAGE_SIZE,
            latency: Duration::ZERO,
            faults: BTreeMap::new(),
            workers: 64,
            past_end: PastEnd::Empty,
            slow: BTreeMap::new(),
        }
    }
}

/// A way one page misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with `code` for the first `times` requests of this page, then serve it normally.
    /// `times = u32::MAX` means always. `retry_after`, if set, is sent verbatim as `Retry-After`.
    Status {
        /// The HTTP status code to answer with.
        code: u16,
        /// How many requests get the error before the page recovers.
        times: u32,
        /// The `Retry-After` header value, if any.
        retry_after: Option<String>,
    },
    /// Serve a normal-looking listing page with zero items.
    Empty,
    /// Serve the normal page padded, inside an HTML comment after the items, to exactly `bytes`
    /// bytes of body (or the normal size if that is already larger).
    Huge {
        /// The body size to pad to.
        bytes: usize,
    },
    /// Read the request, then never answer, holding the socket until the site is dropped
    /// (on both servers).
    Stall,
    /// Raw server: announce the full `Content-Length`, send about half the page, then close.
    /// The main server serves the page whole, as a well-behaved server would.
    Truncated,
    /// Raw server: send the head, then the body one byte every 50 ms. The main server serves the
    /// page whole.
    Trickle,
    /// Raw server: send this many bytes of extra response headers before the page. The main
    /// server serves the page normally.
    HugeHeaders {
        /// Bytes of extra headers.
        bytes: usize,
    },
    /// Answer with a redirect (`status`, e.g. 302) to `location`, sent verbatim.
    Redirect {
        /// The redirect status code.
        status: u16,
        /// The `Location` header value.
        location: String,
    },
    /// Serve the page encoded in another charset (an `encoding_rs` label such as `"gbk"`),
    /// declared in the `Content-Type` header or, with `in_meta`, only in the page's `<meta>`.
    Charset {
        /// The encoding label.
        label: String,
        /// Declare it in `<meta>` only, with a bare `text/html` Content-Type.
        in_meta: bool,
    },
    /// Serve a gzip body (`Content-Encoding: gzip`) that decodes to `decoded_bytes` of filler:
    /// a few kilobytes on the wire, far more in memory for a client without a limit.
    GzipBomb {
        /// The decoded size.
        decoded_bytes: usize,
    },
    /// Serve `body` as it is with `Content-Encoding: <encoding>`: a page the test compressed
    /// (brotli, deflate …), a bomb of any encoding, or an encoding nobody asked for.
    Encoded {
        /// The `Content-Encoding` header value.
        encoding: String,
        /// The body bytes, sent unchanged.
        body: Vec<u8>,
    },
}

/// One item as a crawler should extract it: the text and `href` of the first `a` in `div.pl2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoItem {
    /// The anchor text with whitespace collapsed and trimmed, entities decoded.
    pub title: String,
    /// The anchor's `href`, unique across the site.
    pub link: String,
}

/// The running site: both servers and their accept threads. Dropping it stops everything.
pub struct DemoSite {
    /// Options, counters and stop signals, shared with every server thread.
    shared: Arc<Shared>,
    /// Never sent on: dropping it disconnects `Shared::stop`, which ends every latency wait and
    /// stall at once.
    stop_tx: Option<Sender<()>>,
    /// Where the main server listens.
    addr: SocketAddr,
    /// Where the raw server listens.
    raw_addr: SocketAddr,
    /// Set to `true` on drop: the main server stops accepting and its runtime is shut down,
    /// which closes every connection, stalled ones included.
    main_stop: watch::Sender<bool>,
    /// The thread running the main server's runtime, joined on drop.
    main_thread: Option<JoinHandle<()>>,
    /// The raw server's accept thread, joined on drop; it owns its listener, so joining closes
    /// it. Its connection threads are detached: once the site is dropped they answer nothing
    /// more and end when their client closes or times out.
    raw_thread: Option<JoinHandle<()>>,
}

/// What every server thread needs.
struct Shared {
    /// The site's behaviour. Only [`DemoSite::set_pages`] changes it while the site runs (a
    /// listing that grows between two rounds of a scheduled crawl); each request reads it once.
    opts: RwLock<Arc<SiteOptions>>,
    /// Requests per page so far. It also decides when a `Fault::Status` stops, so both servers
    /// must go through it.
    per_page: Mutex<HashMap<u64, u64>>,
    /// Requests for any path on either server.
    total: AtomicU64,
    /// Connections being served now, capped at `opts.workers`.
    live: AtomicUsize,
    /// Set when the site is dropped: accept loops end, and no further request is answered.
    stopping: AtomicBool,
    /// Disconnected when the site is dropped; waits use it instead of `sleep` so they can end
    /// early.
    stop: Receiver<()>,
}

/// How one request is answered, decided once so that both servers behave alike.
enum Reply {
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
enum Damage {
    /// Sends half the announced body, then closes.
    Truncate,
    /// Sends the body a byte at a time.
    Trickle,
    /// Sends this many bytes of junk headers first.
    HugeHeaders(usize),
}

/// The parts of a request head the site looks at.
#[derive(Debug, PartialEq, Eq)]
struct RequestHead<'a> {
    /// `HEAD` gets headers only.
    method: &'a str,
    /// The path and query, such as `/top250?start=25`.
    target: &'a str,
}

/// What a request target asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `/`: a small index page.
    Index,
    /// `/top250?...`: one listing page.
    Page(u64),
    /// Anything else: 404.
    NotFound,
}

/// One of the `workers` connection slots, given back when dropped.
struct Slot<'a> {
    /// The counter the slot was taken from.
    live: &'a AtomicUsize,
}

impl DemoSite {
    /// Bind both servers on 127.0.0.1 ephemeral ports and start serving.
    pub fn start(opts: SiteOptions) -> io::Result<DemoSite> {
        DemoSite::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), opts)
    }

    /// Bind the main server on `addr`, the raw server on 127.0.0.1:0, and start serving.
    pub fn bind(addr: SocketAddr, opts: SiteOptions) -> io::Result<DemoSite> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let raw_listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let raw_addr = raw_listener.local_addr()?;

        let (stop_tx, stop) = crossbeam_channel::bounded(0);
        let shared = Arc::new(Shared {
            opts: RwLock::new(Arc::new(opts)),
            per_page: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stop,
        });
        let (main_stop, main_stop_rx) = watch::channel(false);
        // Built before any thread starts, so that if the second spawn fails, dropping this
        // half-made site stops and joins the first.
        let mut site = DemoSite {
            shared,
            stop_tx: Some(stop_tx),
            addr,
            raw_addr,
            main_stop,
            main_thread: None,
            raw_thread: None,
        };
        site.main_thread = Some(spawn_main(
            listener,
            Arc::clone(&site.shared),
            main_stop_rx,
        )?);
        let shared = Arc::clone(&site.shared);
        site.raw_thread = Some(
            thread::Builder::new()
                .name("demo-site-raw".into())
                .spawn(move || accept_raw(&raw_listener, &shared))?,
        );
        Ok(site)
    }

    /// Where the main server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the hostile raw-socket server listens.
    pub fn raw_addr(&self) -> SocketAddr {
        self.raw_addr
    }

    /// The main server's listing URL, with a literal `{offset}` placeholder.
    pub fn url_template(&self) -> String {
        format!("http://{}/top250?start={{offset}}", self.addr)
    }

    /// The raw server's listing URL, with a literal `{offset}` placeholder.
    pub fn raw_url_template(&self) -> String {
        format!("http://{}/top250?start={{offset}}", self.raw_addr)
    }

    /// How many requests for `page` arrived so far, on either server.
    pub fn requests_for(&self, page: u64) -> u64 {
        let counts = self
            .shared
            .per_page
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.get(&page).copied().unwrap_or(0)
    }

    /// How many requests arrived so far, for any path, on either server.
    pub fn total_requests(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// The options the site serves with now.
    pub fn options(&self) -> Arc<SiteOptions> {
        self.shared.opts()
    }

    /// From now on, pages `0..pages` carry items: the listing grows (or shrinks) while the site
    /// runs, as a real one does between two rounds of a scheduled crawl.
    pub fn set_pages(&self, pages: u64) {
        self.update(|opts| opts.pages = pages);
    }

    /// From now on, pages past the end answer as `past_end` says: a site that blocked the
    /// crawler and lets it in again, say.
    pub fn set_past_end(&self, past_end: PastEnd) {
        self.update(|opts| opts.past_end = past_end);
    }

    /// Changes the options for the requests that arrive from now on.
    fn update(&self, change: impl FnOnce(&mut SiteOptions)) {
        let mut opts = self
            .shared
            .opts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut new = SiteOptions::clone(&opts);
        change(&mut new);
        *opts = Arc::new(new);
    }

    /// Block the calling thread until `stop` has a message or is disconnected.
    pub fn serve_until(&self, stop: &Receiver<()>) {
        // Both outcomes mean the same thing here: the caller wants the site to stop.
        let _ = stop.recv();
    }
}

impl fmt::Debug for DemoSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoSite")
            .field("addr", &self.addr)
            .field("raw_addr", &self.raw_addr)
            .field("opts", &self.shared.opts())
            .finish_non_exhaustive()
    }
}

impl Drop for DemoSite {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Releases raw handlers sleeping out a latency or holding a stall.
        drop(self.stop_tx.take());
        // The main server: its accept loop and every handler wait on this.
        let _ = self.main_stop.send(true);
        if let Some(handle) = self.main_thread.take()
            && handle.join().is_err()
        {
            warn!("demo site: the main server's thread panicked");
        }
        // `accept` has no timeout: a connection of our own is what makes the raw loop see the
        // flag. If that connection fails the thread is left detached, because joining it could
        // hang.
        if let Some(handle) = self.raw_thread.take() {
            let addr = connectable(self.raw_addr);
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(_) => {
                    if handle.join().is_err() {
                        warn!("demo site: the raw server's accept thread panicked");
                    }
                }
                Err(err) => warn!("demo site: waking the raw accept loop at {addr}: {err}"),
            }
        }
    }
}

/// `addr`, with an unspecified IP (a server bound to 0.0.0.0) replaced by loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => (Ipv4Addr::LOCALHOST, v4.port()).into(),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => (Ipv6Addr::LOCALHOST, v6.port()).into(),
        _ => addr,
    }
}

impl Shared {
    /// The options as they are now.
    fn opts(&self) -> Arc<SiteOptions> {
        Arc::clone(&self.opts.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts a request for `target` and decides how to answer it.
    fn reply(&self, target: &str) -> Reply {
        self.total.fetch_add(1, Ordering::SeqCst);
        let opts = self.opts();
        let page = match route(target, opts.page_size) {
            Route::Page(page) => page,
            Route::Index => return full(200, render_index()),
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
        match fault {
            Some(Fault::Status {
                code,
                times,
                retry_after,
            }) if *times == u32::MAX || nth <= u64::from(*times) => Reply::Full {
                status: *code,
                body: render_error(*code).into_bytes(),
                headers: retry_after
                    .iter()
                    .map(|value| ("Retry-After", value.clone()))
                    .collect(),
            },
            Some(Fault::Stall) => Reply::Stall,
            Some(Fault::Truncated) => damaged(&opts, page, Damage::Truncate),
            Some(Fault::Trickle) => damaged(&opts, page, Damage::Trickle),
            Some(Fault::HugeHeaders { bytes }) => damaged(&opts, page, Damage::HugeHeaders(*bytes)),
            Some(Fault::Huge { bytes }) => full(200, pad_page(render_page(&opts, page), *bytes)),
            Some(Fault::Redirect { status, location }) => Reply::Full {
                status: *status,
                body: render_error(*status).into_bytes(),
                headers: vec![("Location", location.clone())],
            },
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
            // Empty is part of the content, so render_page handles it.
            _ => full(200, render_page(&opts, page)),
        }
    }

    /// The latency of `target`: the site's, plus the page's own in `slow`.
    fn latency_of(&self, target: &str) -> Duration {
        let opts = self.opts();
        let extra = match route(target, opts.page_size) {
            Route::Page(page) => opts.slow.get(&page).copied().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        opts.latency + extra
    }

    /// Waits out the latency of `target`, or less if the site is being dropped.
    fn wait_latency(&self, target: &str) {
        let latency = self.latency_of(target);
        if !latency.is_zero() {
            // Nobody sends on `stop`: this returns on timeout or when the site is dropped.
            let _ = self.stop.recv_timeout(latency);
        }
    }

    /// Blocks until the site is dropped.
    fn wait_for_stop(&self) {
        let _ = self.stop.recv();
    }

    /// Takes a connection slot, or `None` if `workers` connections are being served already.
    fn take_slot(&self) -> Option<Slot<'_>> {
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
fn route(target: &str, page_size: usize) -> Route {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" => Route::Index,
        "/top250" => Route::Page(page_from_query(query, page_size)),
        _ => Route::NotFound,
    }
}

/// Reads `start=OFFSET` (as Douban does) or `page=N` from a query string.
fn page_from_query(query: &str, page_size: usize) -> u64 {
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
            _ => {}
        }
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// Starts the main server: hyper on a two-thread tokio runtime, on a thread of its own.
fn spawn_main(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("demo-site-io")
        .enable_io()
        .enable_time()
        .build()?;
    thread::Builder::new()
        .name("demo-site-main".into())
        .spawn(move || {
            runtime.block_on(serve_main(listener, shared, stop));
            // Cancels every connection task, stalled ones included, without waiting for them.
            runtime.shutdown_background();
        })
}

/// Accepts connections until `stop` turns `true`, one task each.
async fn serve_main(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            warn!("demo site: the main server cannot use its listener: {err}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                warn!("demo site: accept: {err}");
                // A short pause so that, say, EMFILE cannot spin a core.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // A response goes out as head then body; Nagle's algorithm and the client's delayed
        // ACK could otherwise hold the last segment back for 40 ms.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service =
                service_fn(move |request| answer(request, Arc::clone(&shared), stop.clone()));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                // Clients time out and hang up, which is their right.
                debug!("demo site: main connection: {err}");
            }
        });
    }
}

/// Waits until `deadline`, to within a few tens of microseconds. tokio's timer counts whole
/// milliseconds and rounds up, so a 50 ms sleep alone answers in about 51.5 ms, and the site
/// would be slower than its `latency` says: the last stretch is slept on a blocking thread,
/// whose sleep is precise.
async fn wait_until(deadline: std::time::Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    if let Some(coarse) = deadline.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !left.is_zero() {
            thread::sleep(left);
        }
    })
    .await;
}

/// Answers one request on the main server.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let arrived = std::time::Instant::now();
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let (status, body, headers) = match shared.reply(target) {
        Reply::Full {
            status,
            body,
            headers,
        } => (status, body, headers),
        // Only the raw server damages pages; this one serves them whole.
        Reply::Damaged { body, .. } => (200, body, Vec::new()),
        Reply::Stall => {
            // Held until the site is dropped, when the runtime closes the connection unanswered.
            let _ = stop.wait_for(|stopped| *stopped).await;
            (503, render_error(503).into_bytes(), Vec::new())
        }
    };
    let latency = shared.latency_of(target);
    if !latency.is_zero() {
        tokio::select! {
            () = wait_until(arrived + latency) => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
    }
    let mut response = hyper::Response::builder().status(status);
    if !headers.iter().any(|(name, _)| *name == "Content-Type") {
        response = response.header("Content-Type", "text/html; charset=utf-8");
    }
    for (name, value) in headers {
        response = response.header(name, value);
    }
    // Status codes and header values come from tests and this module; a bad one is a bug.
    Ok(response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}

/// The raw server's accept loop, until the site is dropped: one detached thread per connection.
fn accept_raw(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match conn {
            Ok(stream) => {
                let shared = Arc::clone(shared);
                let spawned = thread::Builder::new()
                    .name("demo-site-raw-conn".into())
                    .spawn(move || serve_raw(stream, &shared));
                if let Err(err) = spawned {
                    // The connection is dropped with the closure; the client sees it closed.
                    warn!("demo site: no thread for a raw connection: {err}");
                }
            }
            Err(err) => {
                warn!("demo site: raw accept: {err}");
                // A short pause (ended early by a drop) so that, say, EMFILE cannot spin a core.
                let _ = shared.stop.recv_timeout(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one request on a raw connection, then closes it.
fn serve_raw(mut stream: TcpStream, shared: &Shared) {
    if let Err(err) = answer_raw(&mut stream, shared) {
        // Clients time out and hang up, which is their right; nothing to report above debug.
        debug!("demo site: raw connection: {err}");
    }
    // Write side only: closing with unread request bytes would make the kernel send RST, which
    // can destroy a response before the client reads it.
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads one request and answers it with `Connection: close`, misbehaving as the page's fault
/// says.
fn answer_raw(stream: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let slot = shared.take_slot();
    let mut pending = Vec::new();
    let Some(head) = read_head(stream, &mut pending)? else {
        return Ok(());
    };
    if shared.stopping.load(Ordering::SeqCst) {
        // The site is gone; closing unanswered is what a stopped server looks like.
        return Ok(());
    }
    let Some(request) = parse_head(&head) else {
        let body = render_error(400);
        return Response::full(400, &[], body.as_bytes()).write(stream, false);
    };
    let head_only = request.method == "HEAD";
    if slot.is_none() {
        shared.total.fetch_add(1, Ordering::SeqCst);
        let body = render_error(503);
        let headers = [("Retry-After", "1".to_string())];
        return Response::full(503, &headers, body.as_bytes()).write(stream, head_only);
    }
    match shared.reply(request.target) {
        Reply::Full {
            status,
            body,
            headers,
        } => {
            shared.wait_latency(request.target);
            Response::full(status, &headers, &body).write(stream, head_only)
        }
        Reply::Damaged { body, damage } => {
            shared.wait_latency(request.target);
            let mut response = Response::full(200, &[], &body);
            match damage {
                // Cut at a byte, not a char: a broken UTF-8 sequence is part of the damage.
                Damage::Truncate => response.body = &body[..body.len() / 2],
                Damage::Trickle => response.trickle = true,
                Damage::HugeHeaders(bytes) => response.junk_headers = bytes,
            }
            response.write(stream, head_only)
        }
        Reply::Stall => {
            shared.wait_for_stop();
            Ok(())
        }
    }
}

/// A response about to be written by the raw server.
struct Response<'a> {
    /// The HTTP status code.
    status: u16,
    /// Extra headers; a `Content-Type` among them replaces the default.
    headers: &'a [(&'static str, String)],
    /// The body bytes actually sent.
    body: &'a [u8],
    /// The announced length; larger than `body` only for a truncation.
    content_length: usize,
    /// Send the body one byte every 50 ms.
    trickle: bool,
    /// Bytes of junk headers to send before the real ones.
    junk_headers: usize,
}

impl<'a> Response<'a> {
    /// A response that sends all of `body`.
    fn full(status: u16, headers: &'a [(&'static str, String)], body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            headers,
            body,
            content_length: body.len(),
            trickle: false,
            junk_headers: 0,
        }
    }

    /// Writes the response, always with `Connection: close`; the body is left out for `HEAD`.
    fn write(&self, stream: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = String::with_capacity(256 + self.junk_headers);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_length,
        );
        if !self.headers.iter().any(|(name, _)| *name == "Content-Type") {
            head.push_str("Content-Type: text/html; charset=utf-8\r\n");
        }
        for (name, value) in self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let mut n = 0;
        while head.len() < self.junk_headers {
            let _ = write!(head, "X-Junk-{n}: {}\r\n", "j".repeat(1000));
            n += 1;
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if head_only {
            return stream.flush();
        }
        if self.trickle {
            for byte in self.body {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        stream.write_all(self.body)?;
        stream.flush()
    }
}

/// The reason phrase for the status codes the site is likely to send.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Reads the next request head, up to its blank line, keeping any bytes after it in `pending`
/// for the next call. `None` if the client closed the connection first.
fn read_head(stream: &mut impl Read, pending: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = pending.split_off(end + 4);
            let mut head = std::mem::replace(pending, rest);
            head.truncate(end);
            return Ok(Some(head));
        }
        if pending.len() > MAX_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head over 16 KiB",
            ));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Parses a request head (without its blank line). `None` if it is not HTTP/1.x.
fn parse_head(head: &[u8]) -> Option<RequestHead<'_>> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some(RequestHead { method, target })
}

// ---------------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------------

/// What `page` serves as items, in order: empty for pages at or beyond `opts.pages` (unless
/// they repeat the last page, see [`PastEnd`]) and for pages with `Fault::Empty`. Tests compare
/// crawl output with this.
pub fn expected_items(opts: &SiteOptions, page: u64) -> Vec<DemoItem> {
    let Some(listed) = listed_page(opts, page) else {
        return Vec::new();
    };
    (0..opts.page_size)
        .map(|i| {
            let book = Book::new(listed, opts.page_size, i);
            DemoItem {
                title: book.title(),
                link: book.link(),
            }
        })
        .collect()
}

/// The HTML body of `page`, with no fault applied except `Fault::Empty`. Both servers send this,
/// and parser tests read it.
pub fn render_page(opts: &SiteOptions, page: u64) -> String {
    // About 2.1 KB per item plus 20 KB of chrome; a little spare avoids regrowth.
    let mut out = String::with_capacity(24 * 1024 + opts.page_size * 2300);
    out.push_str(HEAD);
    out.push_str(BODY_TOP);
    let _ = writeln!(
        out,
        "<div class=\"paginator-info\">第 {} 页 · 每页 {} 本</div>",
        page + 1,
        opts.page_size
    );
    // A decoy that only a parser ignoring comments would extract.
    out.push_str(DECOY_COMMENT);
    if let Some(listed) = listed_page(opts, page) {
        for i in 0..opts.page_size {
            Book::new(listed, opts.page_size, i).render(&mut out);
        }
    } else {
        out.push_str(EMPTY_LISTING);
    }
    out.push_str(LISTING_END);
    out.push('\n');
    render_paginator(&mut out, opts, page);
    out.push_str(BODY_BOTTOM);
    out
}

/// Whose books `page` lists: its own, the last page's (past the end of a listing that repeats
/// it), or none.
fn listed_page(opts: &SiteOptions, page: u64) -> Option<u64> {
    if opts.faults.get(&page) == Some(&Fault::Empty) {
        return None;
    }
    match opts.past_end {
        _ if page < opts.pages => Some(page),
        PastEnd::RepeatLast => opts.pages.checked_sub(1),
        PastEnd::Empty | PastEnd::Status(_) => None,
    }
}

/// Pads `body` to exactly `bytes` with a comment after the listing (spaces if a comment cannot
/// fit), or returns it unchanged if it is already that long.
fn pad_page(mut body: String, bytes: usize) -> String {
    let Some(missing) = bytes.checked_sub(body.len()).filter(|&n| n > 0) else {
        return body;
    };
    let at = body.find(LISTING_END).unwrap_or(body.len());
    let mut padding = String::with_capacity(missing);
    let (open, close) = ("<!-- ", " -->");
    if missing >= open.len() + close.len() {
        padding.push_str(open);
        // ASCII only, so every char is one byte and the length comes out exact.
        let filler = b"padding for a huge page ";
        let need = missing - open.len() - close.len();
        padding.extend((0..need).map(|i| char::from(filler[i % filler.len()])));
        padding.push_str(close);
    } else {
        padding.extend(std::iter::repeat_n(' ', missing));
    }
    body.insert_str(at, &padding);
    body
}

/// The paginator under the listing, like Douban's.
fn render_paginator(out: &mut String, opts: &SiteOptions, page: u64) {
    let size = opts.page_size as u64;
    out.push_str("<div class=\"paginator\">\n");
    if page > 0 {
        let _ = writeln!(
            out,
            "  <span class=\"prev\"><a href=\"?start={}\">&lt;前页</a></span>",
            (page - 1) * size
        );
    } else {
        out.push_str("  <span class=\"prev\">&lt;前页</span>\n");
    }
    for n in 0..opts.pages.min(10) {
        if n == page {
            let _ = writeln!(out, "  <span class=\"thispage\">{}</span>", n + 1);
        } else {
            let _ = writeln!(out, "  <a href=\"?start={}\">{}</a>", n * size, n + 1);
        }
    }
    let _ = writeln!(
        out,
        "  <span class=\"next\"><a href=\"?start={}\">后页&gt;</a></span>\n  <span class=\"count\">(共{}本)</span>\n</div>",
        (page + 1) * size,
        opts.pages * size
    );
}

/// The page `/` serves.
fn render_index() -> String {
    String::from(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>pagecrawl 示例站点</title></head>\n\
         <body><h1>pagecrawl 示例站点</h1><p><a href=\"/top250?start=0\">豆瓣读书 Top 250</a></p></body></html>\n",
    )
}

/// A short error page, as a real server would send with an error status.
fn render_error(code: u16) -> String {
    let reason = reason_phrase(code);
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body><h1>{code} {reason}</h1><p>豆瓣读书暂时无法访问，请稍后再试。</p></body></html>\n"
    )
}

/// Appends `text` with `&`, `<`, `>` and `"` escaped, so it is safe in text and attributes.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// The splitmix64 finaliser: spreads an item's index over all bits, so that neighbouring items
/// get unrelated authors and ratings without a random number generator.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Picks from `list` with some bits of a hash.
fn pick(list: &'static [&'static str], hash: u64) -> &'static str {
    list[(hash % list.len() as u64) as usize]
}

/// One listed book, everything derived from its place in the whole listing.
struct Book {
    /// 0-based index across the whole site; makes titles and links unique.
    global: u64,
    /// 0-based index on its page, as Douban's `moreurl` uses.
    on_page: usize,
    /// A hash of `global` that picks the decorations.
    hash: u64,
}

impl Book {
    /// The book at index `i` of `page`.
    fn new(page: u64, page_size: usize, i: usize) -> Book {
        let global = page * page_size as u64 + i as u64;
        Book {
            global,
            on_page: i,
            hash: mix(global),
        }
    }

    /// Names cycle through the list rather than hash, so every page has a name with `&`.
    fn name(&self) -> &'static str {
        NAMES[(self.global % NAMES.len() as u64) as usize]
    }

    /// The rank shown to readers, 1-based.
    fn rank(&self) -> u64 {
        self.global + 1
    }

    /// The title as a parser should extract it; `render` lays out the same words.
    fn title(&self) -> String {
        format!("{} 第{}卷 (Vol. {})", self.name(), self.rank(), self.rank())
    }

    /// The link, unique across the site.
    fn link(&self) -> String {
        format!("https://book.example/subject/{}/", 1_000_000 + self.global)
    }

    /// Appends this book's table, laid out like a Douban Top 250 entry.
    fn render(&self, out: &mut String) {
        let h = self.hash;
        let id = 1_000_000 + self.global;
        let i = self.on_page;
        let rank = self.rank();
        let rating = 70 + h % 30;
        let stars = match rating {
            90.. => 50,
            80..=89 => 45,
            _ => 40,
        };
        let _ = write!(
            out,
            "<table width=\"100%\">\n  <tr class=\"item\">\n    <td width=\"100\" valign=\"top\">\n      \
             <a class=\"nbg\" href=\"https://book.example/subject/{id}/\"\n        onclick=\"moreurl(this,{{i:'{i}'}})\"\n        >\n        \
             <img src=\"https://img{img}.book.example/view/subject/s/public/s{id}.jpg\" width=\"90\" />\n      </a>\n    </td>\n    \
             <td valign=\"top\">\n\n      <div class=\"pl2\">\n        \
             <a href=\"https://book.example/subject/{id}/\" onclick=\"&#34;moreurl(this,{{i:&#39;{i}&#39;}})&#34;\" title=\"",
            img = 1 + h % 3,
        );
        push_escaped(out, &self.title());
        out.push_str("\"\n          >\n            ");
        // Line breaks and double spaces inside the anchor, as on Douban: extraction must
        // collapse them to the single spaces of `title()`.
        push_escaped(out, self.name());
        let _ = write!(
            out,
            "\n            第{rank}卷  (Vol. {rank})\n\n          </a>\n          \
             &nbsp; <img src=\"https://img3.book.example/pics/read.gif\" width=\"16\" title=\"可试读\" alt=\"可试读\"/>\n          \
             <br/>\n          <span style=\"font-size:12px;\">: {subtitle}</span>\n      </div>\n\n        \
             <p class=\"pl\">{author} / {publisher} / {year}-{month} / {yuan}.{fen:02}元</p>\n\n        \
             <div class=\"star clearfix\">\n          <span class=\"allstar{stars}\"></span>\n          \
             <span class=\"rating_nums\">{whole}.{tenth}</span>\n          <span class=\"pl\">(\n                    \
             {votes}人评价\n                )</span>\n        </div>\n\n        \
             <p class=\"quote\" style=\"margin: 10px 0; color: #666\">\n          <span class=\"inq\">{quote}</span>\n        </p>\n\n        \
             <div class=\"short-reviews\">\n          <h4>热门短评&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h4>\n          <ul>\n",
            subtitle = pick(SUBTITLES, h >> 8),
            author = pick(AUTHORS, h >> 12),
            publisher = pick(PUBLISHERS, h >> 16),
            year = 1950 + (h >> 20) % 70,
            month = 1 + (h >> 24) % 12,
            yuan = 15 + (h >> 28) % 120,
            fen = (h >> 36) % 100,
            whole = rating / 10,
            tenth = rating % 10,
            votes = 1_000 + (h >> 40) % 500_000,
            quote = pick(QUOTES, h >> 44),
        );
        // One or two reviews, so that pages differ a little in size, as real ones do.
        let reviews = 1 + (h >> 50) % 2;
        for n in 0..reviews {
            let _ = write!(
                out,
                "            <li class=\"comment-item\">\n              <span class=\"comment-info\"><a href=\"https://www.book.example/people/{user_id}/\">{user}</a>\n              \
                 <span class=\"comment-time\">20{yy:02}-{mm:02}-{dd:02}</span></span>\n              \
                 <p class=\"comment-content\"><span class=\"short\">{review}</span></p>\n            </li>\n",
                user_id = 10_000 + (h >> (n * 7)) % 90_000,
                user = pick(USERS, h >> (n * 5 + 3)),
                yy = 10 + (h >> (n * 4 + 2)) % 15,
                mm = 1 + (h >> (n * 6 + 5)) % 12,
                dd = 1 + (h >> (n * 2 + 9)) % 28,
                review = pick(REVIEWS, (h >> (n * 9 + 4)) + n),
            );
        }
        out.push_str("          </ul>\n        </div>\n    </td>\n  </tr>\n</table>\n<p class=\"ul\"></p>\n\n");
    }
}

/// Book names; some contain `&`, so titles exercise entity decoding.
const NAMES: &[&str] = &[
    "红楼梦",
    "活着",
    "百年孤独",
    "1984",
    "飘",
    "三体全集",
    "三国演义（全二册）",
    "白夜行",
    "福尔摩斯探案全集（上中下）",
    "动物农场",
    "房思琪的初恋乐园",
    "小王子",
    "撒哈拉的故事",
    "天龙八部",
    "傲慢与偏见 & 理智与情感",
    "围城",
    "平凡的世界（全三部）",
    "杀死一只知更鸟",
    "月亮与六便士",
    "局外人",
    "霍乱时期的爱情",
    "悉达多",
    "人类简史",
    "万历十五年",
    "明朝那些事儿（1-9）",
    "罪与罚 & 白痴",
    "哈利·波特",
    "嫌疑人X的献身",
    "沉默的大多数",
    "挪威的森林",
    "鼠疫",
    "Tom & Jerry 猫和老鼠",
];

/// Subtitles, shown in a span beside the title anchor.
const SUBTITLES: &[&str] = &[
    "典藏版",
    "精装纪念版",
    "全译本",
    "插图珍藏本",
    "修订版",
    "新版",
    "注释本",
    "口袋本",
    "双语对照版",
    "作者亲笔签名版",
];

/// Authors for the `p.pl` line.
const AUTHORS: &[&str] = &[
    "[清] 曹雪芹 著",
    "余华",
    "[哥伦比亚] 加西亚·马尔克斯 / 范晔",
    "[英] 乔治·奥威尔 / 刘绍铭",
    "[美国] 玛格丽特·米切尔 / 李美华",
    "刘慈欣",
    "[明] 罗贯中",
    "[日] 东野圭吾 / 刘姿君",
    "[英] 阿·柯南道尔 / 丁钟华 等",
    "林奕含",
    "[法] 圣埃克苏佩里 / 马振聘",
    "三毛",
    "金庸",
    "钱锺书",
    "路遥",
    "[美] 哈珀·李 / 高红梅",
    "[英] 毛姆 / 傅惟慈",
    "[法] 阿尔贝·加缪 / 柳鸣九",
    "[以色列] 尤瓦尔·赫拉利 / 林俊宏",
    "[美] 黄仁宇",
];

/// Publishers for the `p.pl` line.
const PUBLISHERS: &[&str] = &[
    "人民文学出版社",
    "作家出版社",
    "南海出版公司",
    "北京十月文艺出版社",
    "译林出版社",
    "重庆出版社",
    "上海译文出版社",
    "北京联合出版公司",
    "生活·读书·新知三联书店",
    "中华书局",
    "广西师范大学出版社",
    "浙江文艺出版社",
];

/// One-line quotes, as in Douban's `span.inq`.
const QUOTES: &[&str] = &[
    "都云作者痴，谁解其中味？",
    "生的苦难与伟大",
    "魔幻现实主义文学代表作",
    "栗树荫下，我出卖你，你出卖我",
    "昨日像那东逝的大江",
    "你我不过都是时间长河中的一粒沙",
    "是非成败转头空",
    "一宗离奇命案牵出跨度近20年步步惊心的故事",
    "名侦探的代名词",
    "太阳底下并无新事",
    "向死而生的文学",
    "献给长成了大人的孩子们",
    "游荡的自由灵魂",
    "有情皆孽，无人不冤",
    "对于人性的透彻描写",
    "每个人都有属于自己的月亮和六便士",
    "我们都是世界的局外人",
    "爱情是一种疾病",
    "一个人寻找自我的旅程",
    "从认知革命到科学革命",
];

/// Short reviews, several per book, which make up much of a page's weight.
const REVIEWS: &[&str] = &[
    "读了三遍，每一遍都有新的体会。年少时只看故事，后来才读懂人物的无奈与时代的荒凉，越读越觉得深不可测。",
    "文字朴素得近乎冷淡，却句句扎心。合上书的那一刻，窗外正下着雨，我坐了很久都没有起身。",
    "翻译稍显生硬，但不妨碍它成为我心中的经典。推荐给每一个在生活里迷路的人，慢慢读，别着急。",
    "高中时在图书馆偶然借到，从此再也没有放下。书页早已泛黄，折角的地方都是当年让我落泪的段落。",
    "结构精巧，伏笔埋得极深，读到最后一章才恍然大悟，忍不住又从头翻了一遍，作者真是讲故事的高手。",
    "有人说它过誉了，我不同意。它写的不是某一个人的命运，而是所有普通人都逃不开的那些日子。",
    "人物群像写得太好了，几十个角色个个鲜活，连只出场一次的小人物都有自己的来历和心事。",
    "适合在漫长的冬夜里读，一杯热茶，一盏台灯，整个世界都安静下来，只剩下书里的风声。",
    "第一次读觉得沉闷，十年后重读却哭得一塌糊涂。有些书需要一点人生阅历才能真正走进去。",
    "语言极具画面感，读的时候仿佛能闻到草原的风和麦田的味道，是我读过最美的中文之一。",
    "推荐买纸质版，注释和插图都很用心，排版舒服，拿在手里沉甸甸的，是值得收藏的好版本。",
    "故事本身并不复杂，但那种宿命般的悲凉感一直挥之不去，读完好几天都缓不过来，后劲太大。",
    "作者的幽默藏在冷静的叙述里，常常让人笑着笑着就沉默了，这才是真正高级的讽刺。",
    "给孩子买的，结果自己先读完了。大人和孩子能读出完全不同的东西，这大概就是经典的意义。",
    "逻辑清晰，论证扎实，很多观点颠覆了我过去的认知，强烈推荐给对历史和人类命运感兴趣的朋友。",
    "每一章都可以单独成篇，地铁上读一小段，一天的疲惫就消散了不少，是我的通勤必备读物。",
    "看完电视剧再来读原著，才发现改编删掉了太多细节，原著的丰富和细腻是影像无法替代的。",
    "书中那句话我抄在了笔记本的第一页，每当想要放弃的时候就翻出来看看，总能重新鼓起勇气。",
    "节奏很慢，前一百页需要耐心，但一旦进入那个世界就再也出不来了，熬夜读完，毫不后悔。",
    "五星给作者的勇气。这样真诚地直面人性阴暗的作品太少了，读得很痛，但必须有人写出来。",
];

/// Reviewer names.
const USERS: &[&str] = &[
    "小王子的玫瑰",
    "读书的猫",
    "北方有佳人",
    "安静的书虫",
    "南山南",
    "一只柠檬",
    "夜航船",
    "雨天不出门",
    "木心的读者",
    "江湖夜雨",
    "半夏",
    "慢慢读书",
    "lucy1987",
    "阿飞正传",
    "书海拾贝",
];

/// Everything from the doctype to `</head>`: a sizeable style sheet and inline scripts, one of
/// which holds a decoy item inside a JavaScript string.
const HEAD: &str = r#"<!DOCTYPE html>
<html lang="zh-CN" class="ua-linux ua-ff">
<head>
  <meta http-equiv="Content-Type" content="text/html; charset=utf-8">
  <meta charset="utf-8">
  <meta name="renderer" content="webkit">
  <meta name="referrer" content="always">
  <meta name="google-site-verification" content="demo-site-not-a-real-verification-token" />
  <title>
豆瓣读书 Top 250
</title>
  <meta name="keywords" content="豆瓣读书,新书速递,畅销书,书评,书单,图书排行榜,经典,小说,文学,历史,哲学,推理,科幻,漫画"/>
  <meta name="description" content="豆瓣读书Top 250，由豆瓣用户评分、评价人数等数据综合计算得出，是最受欢迎的250本图书。"/>
  <meta http-equiv="mobile-agent" content="format=html5; url=https://m.book.example/book/top250"/>
  <meta property="og:title" content="豆瓣读书 Top 250"/>
  <meta property="og:site_name" content="豆瓣读书"/>
  <link rel="shortcut icon" href="https://img3.book.example/favicon.ico" type="image/x-icon">
  <link rel="search" type="application/opensearchdescription+xml" title="豆瓣读书" href="/opensearch?cat=1001">
  <link href="https://img3.book.example/f/shire/css/core/_init_.css" rel="stylesheet" type="text/css">
  <link href="https://img3.book.example/f/book/css/book/master.css" rel="stylesheet" type="text/css">
  <style type="text/css">
    /* 页面基础样式：字体、颜色与链接 */
    body { font: 12px Helvetica, Arial, sans-serif; line-height: 1.62; color: #111; background: #fff; margin: 0; padding: 0; }
    h1 { font-size: 26px; font-weight: bold; color: #494949; margin: 0 0 15px 0; padding: 0; line-height: 1.1; word-wrap: break-word; }
    h2 { font: 15px Arial, Helvetica, sans-serif; color: #007722; margin: 0 0 12px 0; line-height: 150%; }
    h4 { font-size: 13px; font-weight: normal; color: #072; margin: 4px 0 6px 0; }
    a:link { color: #37a; text-decoration: none; }
    a:visited { color: #669; text-decoration: none; }
    a:hover { color: #fff; text-decoration: none; background: #37a; }
    a:active { color: #fff; text-decoration: none; background: #f93; }
    a img { border-width: 0; vertical-align: middle; }
    table { border-collapse: collapse; border: none; }
    td { padding: 0; vertical-align: top; }
    .clearfix:after { content: "."; display: block; height: 0; clear: both; visibility: hidden; }
    .clearfix { zoom: 1; display: inline-block; _height: 1px; }
    .clearfix { display: block; }
    /* 顶部全局导航 */
    #db-global-nav { color: #d5d5d5; background-color: #545652; height: 28px; margin: 0 0 12px 0; }
    #db-global-nav a:link, #db-global-nav a:visited, #db-global-nav a:active { color: #d5d5d5; }
    #db-global-nav a:hover { color: #fff; text-decoration: none; background: none; }
    #db-global-nav .bd { width: 950px; height: 28px; margin: 0 auto; }
    #db-global-nav .global-nav-items { float: left; height: 28px; line-height: 28px; }
    #db-global-nav .global-nav-items ul { margin: 0; padding: 0; list-style: none; }
    #db-global-nav .global-nav-items li { float: left; margin-right: 14px; }
    #db-global-nav .top-nav-info { float: right; position: relative; margin: 0; line-height: 28px; }
    #db-global-nav .top-nav-info li { display: inline; float: left; margin-left: 15px; }
    #db-global-nav .top-nav-doubanapp { float: right; margin-left: 15px; position: relative; }
    /* 读书频道导航与搜索 */
    #db-nav-book { position: relative; z-index: 10; margin-bottom: 40px; background: #f6f6f1; height: 92px; }
    #db-nav-book .nav-wrap { width: 950px; margin: 0 auto; }
    #db-nav-book .nav-logo { float: left; margin: 0 12px 0 0; padding: 0; font-size: 0; line-height: 0; }
    #db-nav-book .nav-logo a { display: block; width: 154px; height: 30px; margin-top: 28px; overflow: hidden; }
    #db-nav-book .nav-search { float: left; margin-top: 27px; }
    #db-nav-book .nav-search .inp { float: left; width: 470px; height: 30px; background: #fff; border: 1px solid #ccc; }
    #db-nav-book .nav-search .inp input { width: 96%; height: 22px; margin: 4px 0 0 8px; border: none; outline: none; font-size: 13px; }
    #db-nav-book .nav-search .bn { float: left; position: relative; width: 37px; height: 32px; margin-left: -1px; }
    #db-nav-book .nav-secondary { position: absolute; left: 0; bottom: 0; width: 100%; height: 30px; line-height: 30px; }
    #db-nav-book .nav-items ul { margin: 0; padding: 0; list-style: none; }
    #db-nav-book .nav-items li { float: left; padding: 0 16px 0 0; font-size: 14px; }
    #db-nav-book .nav-items li a { color: #37a; }
    /* 主体布局 */
    #wrapper { width: 950px; margin: 0 auto; }
    #content { min-height: 400px; height: auto; }
    #content h1 { margin-bottom: 24px; }
    .grid-16-8 .article { float: left; width: 675px; padding-right: 40px; }
    .grid-16-8 .aside { float: right; width: 310px; }
    .indent { padding-left: 0; }
    .indent table { margin: 0 0 12px 0; }
    /* 榜单条目 */
    tr.item td { padding-bottom: 4px; }
    .pl { font: 12px Arial, Helvetica, sans-serif; line-height: 150%; color: #666666; }
    p.pl { margin: 0 0 6px 0; }
    p.ul { clear: both; border-bottom: 1px dashed #ddd; height: 1px; margin: 0 0 12px 0; }
    .nbg img { padding: 0; border: 0; width: 90px; }
    .nbg:hover { background: none; }
    .ll { float: left; }
    .rr { float: right; }
    .star { margin: 0 0 4px 0; font-size: 12px; line-height: 14px; }
    .star span { float: left; margin-right: 4px; }
    .rating_nums { color: #e09015; font-size: 12px; padding: 0 3px; }
    .allstar50, .allstar45, .allstar40, .allstar35, .allstar30, .allstar25, .allstar20, .allstar10, .allstar00 { display: inline-block; width: 55px; height: 11px; margin: 1px 0 0 0; overflow: hidden; background: url(https://img3.book.example/pics/ic_rating_s.png) no-repeat; }
    .allstar50 { background-position: 0 0; }
    .allstar45 { background-position: 0 -11px; }
    .allstar40 { background-position: 0 -22px; }
    .allstar35 { background-position: 0 -33px; }
    .allstar30 { background-position: 0 -44px; }
    .allstar25 { background-position: 0 -55px; }
    .allstar20 { background-position: 0 -66px; }
    .allstar10 { background-position: 0 -88px; }
    .allstar00 { background-position: 0 -110px; }
    .quote { overflow: hidden; margin: 10px 0 0 0; }
    .quote .inq { font-style: normal; color: #666; letter-spacing: 1px; }
    .short-reviews { margin: 6px 0 8px 0; padding: 6px 10px; background: #f9f9f7; border-left: 3px solid #e6e6e6; }
    .short-reviews ul { margin: 0; padding: 0; list-style: none; }
    .comment-item { padding: 6px 0; border-bottom: 1px dotted #e5e5e5; }
    .comment-item:last-child { border-bottom: none; }
    .comment-info { display: block; color: #999; margin-bottom: 3px; }
    .comment-info a { margin-right: 6px; }
    .comment-time { color: #aaa; margin-left: 6px; }
    .comment-content { margin: 0; line-height: 1.8; color: #494949; word-break: break-all; }
    .empty-tip { padding: 40px 0; color: #999; font-size: 14px; text-align: center; }
    /* 翻页 */
    .paginator { font: 14px Arial, Helvetica, sans-serif; margin: 20px 0 40px 0; text-align: center; color: #666; }
    .paginator a, .paginator span { display: inline-block; margin: 0 4px; padding: 0 4px; }
    .paginator .thispage { color: #fff; background: #83bf73; border-radius: 2px; }
    .paginator .prev, .paginator .next { margin: 0 12px; }
    .paginator .count { color: #999; font-size: 12px; }
    .paginator-info { color: #999; margin: -12px 0 16px 0; }
    /* 侧栏 */
    .aside h2 { color: #007722; font-size: 14px; }
    .aside h2 span.pl { font-size: 12px; color: #999; }
    .aside .mod { margin-bottom: 30px; }
    .aside ul.tag-list { margin: 0; padding: 0; list-style: none; overflow: hidden; }
    .aside ul.tag-list li { float: left; margin: 0 8px 8px 0; }
    .aside ul.tag-list a { display: inline-block; padding: 2px 8px; background: #f5f5f5; color: #37a; border-radius: 2px; }
    .aside ol.rank-list { margin: 0; padding-left: 20px; color: #999; }
    .aside ol.rank-list li { margin-bottom: 6px; }
    .aside .app-promo { padding: 12px; background: #f4f4ec; border: 1px solid #e8e8de; }
    /* 页脚 */
    #footer { color: #999; padding: 10px 0 30px 0; border-top: 1px dashed #ddd; clear: both; }
    #footer .fright { float: right; }
    #footer a { margin-right: 10px; }
    .hidden { display: none !important; }
    @media screen and (max-width: 960px) {
      #wrapper, #db-global-nav .bd, #db-nav-book .nav-wrap { width: auto; margin: 0 10px; }
      .grid-16-8 .article { float: none; width: auto; padding-right: 0; }
      .grid-16-8 .aside { float: none; width: auto; }
    }
  </style>
  <script type="text/javascript">
    var _head_start = new Date();
    var _vds = _vds || [];
    (function () {
      _vds.push(['setAccountId', '22c937bbd8ebd703f2d8e9445f7dfd03']);
      _vds.push(['setCS1', 'user_id', '0']);
      var vds = document.createElement('script');
      vds.type = 'text/javascript';
      vds.async = true;
      vds.src = ('https:' == document.location.protocol ? 'https://' : 'http://') + 'static.book.example/vds.js';
      var s = document.getElementsByTagName('script')[0];
      if (s && s.parentNode) { s.parentNode.insertBefore(vds, s); }
    })();
  </script>
  <script type="text/javascript">
    // 渲染“猜你喜欢”时使用的条目模板；真正的榜单条目在下面的表格里。
    var tpl = '<div class="pl2"><a href="https://decoy.example/script">DECOY in script</a></div>';
    var Do = window.Do || function () {};
    function moreurl(el, params) {
      var query = [];
      for (var key in params) {
        if (Object.prototype.hasOwnProperty.call(params, key)) {
          query.push(encodeURIComponent(key) + '=' + encodeURIComponent(params[key]));
        }
      }
      var href = el.getAttribute('href') || '';
      if (href.indexOf('from=') < 0 && query.length > 0) {
        el.setAttribute('data-moreurl', query.join('&'));
      }
      return true;
    }
    function renderGuess(list) {
      var html = [];
      for (var i = 0; i < list.length && i < 5; i++) {
        html.push(tpl.replace('DECOY in script', list[i].title));
      }
      return html.join('');
    }
  </script>
</head>
"#;

/// From `<body>` to just before the listing: navigation bars, search box and heading.
const BODY_TOP: &str = r#"<body>
  <script type="text/javascript">var _body_start = new Date();</script>
  <div id="db-global-nav" class="global-nav">
    <div class="bd">
      <div class="top-nav-info">
        <ul>
          <li><a href="https://accounts.book.example/passport/login" class="nav-login" rel="nofollow">登录/注册</a></li>
        </ul>
      </div>
      <div class="top-nav-doubanapp">
        <a href="https://www.book.example/doubanapp/app?channel=top-nav" class="lnk-doubanapp">下载豆瓣客户端</a>
      </div>
      <div class="global-nav-items">
        <ul>
          <li><a href="https://www.book.example" target="_blank">豆瓣</a></li>
          <li class="on"><a href="https://book.book.example">读书</a></li>
          <li><a href="https://movie.book.example" target="_blank">电影</a></li>
          <li><a href="https://music.book.example" target="_blank">音乐</a></li>
          <li><a href="https://www.book.example/location" target="_blank">同城</a></li>
          <li><a href="https://www.book.example/group" target="_blank">小组</a></li>
          <li><a href="https://read.book.example" target="_blank">阅读</a></li>
          <li><a href="https://fm.book.example" target="_blank">FM</a></li>
          <li><a href="https://time.book.example/?dt_time_source=douban-web_anonymous" target="_blank">时间</a></li>
          <li><a href="https://market.book.example/?utm_campaign=douban_top_nav" target="_blank">豆品</a></li>
        </ul>
      </div>
    </div>
  </div>
  <div id="db-nav-book" class="nav">
    <div class="nav-wrap">
      <div class="nav-primary">
        <div class="nav-logo">
          <a href="https://book.book.example">豆瓣读书</a>
        </div>
        <div class="nav-search">
          <form action="https://search.book.example/book/subject_search" method="get">
            <fieldset>
              <legend>搜索：</legend>
              <label for="inp-query">书名、作者、ISBN</label>
              <div class="inp"><input id="inp-query" name="search_text" size="22" maxlength="60" placeholder="书名、作者、ISBN" value=""></div>
              <div class="inp-btn"><input type="submit" value="搜索"></div>
              <input type="hidden" name="cat" value="1001" />
            </fieldset>
          </form>
        </div>
      </div>
    </div>
    <div class="nav-secondary">
      <div class="nav-items">
        <ul>
          <li><a href="https://book.book.example/cart/">购书单</a></li>
          <li><a href="https://read.book.example/ebooks/?dcs=book-nav&amp;dcm=douban">电子图书</a></li>
          <li><a href="https://book.book.example/annual/2024?source=navigation" target="_blank">2024年度榜单</a></li>
          <li><a href="https://book.book.example/tag/">分类浏览</a></li>
          <li><a href="https://book.book.example/latest">新书速递</a></li>
          <li><a href="https://book.book.example/chart">热门图书</a></li>
          <li><a href="https://book.book.example/review/best/">热门书评</a></li>
          <li><a href="https://book.book.example/top250">Top 250</a></li>
        </ul>
      </div>
    </div>
  </div>
  <div id="wrapper">
    <div id="content">
      <h1>豆瓣读书 Top 250</h1>
      <div class="grid-16-8 clearfix">
        <div class="article">
          <div class="indent">
            <p class="ulfirst"></p>
"#;

/// A decoy item inside an HTML comment, where a real parser will not see it.
const DECOY_COMMENT: &str = r#"<!--
  旧版榜单条目，改版后已停用：
  <div class="pl2"><a href="https://decoy.example/comment">DECOY in comment</a></div>
-->
"#;

/// The listing of a page without items.
const EMPTY_LISTING: &str = r#"<div class="empty-tip">
  <p>没有更多了</p>
  <p class="pl">这一页暂时没有图书，去<a href="https://book.book.example/tag/">分类浏览</a>看看吧。</p>
</div>
"#;

/// From the end of the listing to `</html>`: sidebar, footer and the scripts at the bottom.
const BODY_BOTTOM: &str = r#"          </div>
        </div>
        <div class="aside">
          <div class="mod">
            <h2>关于豆瓣读书 Top 250&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h2>
            <p class="pl">豆瓣读书 Top 250 是根据每本书的评分、评价人数以及评分的可信程度综合计算得出的榜单，
            每天更新一次。只有评价人数足够多的图书才会进入候选，以避免少数人打分带来的偏差。
            榜单不代表编辑推荐，只反映豆瓣用户的整体口味。</p>
          </div>
          <div class="mod">
            <h2>热门标签&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·<span class="pl">&nbsp;(<a href="https://book.book.example/tag/">全部</a>)</span></h2>
            <ul class="tag-list">
              <li><a href="/tag/小说">小说</a></li>
              <li><a href="/tag/外国文学">外国文学</a></li>
              <li><a href="/tag/文学">文学</a></li>
              <li><a href="/tag/经典">经典</a></li>
              <li><a href="/tag/中国文学">中国文学</a></li>
              <li><a href="/tag/随笔">随笔</a></li>
              <li><a href="/tag/日本文学">日本文学</a></li>
              <li><a href="/tag/散文">散文</a></li>
              <li><a href="/tag/村上春树">村上春树</a></li>
              <li><a href="/tag/诗歌">诗歌</a></li>
              <li><a href="/tag/童话">童话</a></li>
              <li><a href="/tag/名著">名著</a></li>
              <li><a href="/tag/历史">历史</a></li>
              <li><a href="/tag/心理学">心理学</a></li>
              <li><a href="/tag/哲学">哲学</a></li>
              <li><a href="/tag/社会学">社会学</a></li>
              <li><a href="/tag/推理">推理</a></li>
              <li><a href="/tag/科幻">科幻</a></li>
              <li><a href="/tag/漫画">漫画</a></li>
              <li><a href="/tag/绘本">绘本</a></li>
              <li><a href="/tag/武侠">武侠</a></li>
              <li><a href="/tag/东野圭吾">东野圭吾</a></li>
            </ul>
          </div>
          <div class="mod">
            <h2>最受关注图书榜&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h2>
            <ol class="rank-list">
              <li><a href="https://book.book.example/subject/36104107/">长安的荔枝</a> <span class="pl">马伯庸 / 湖南文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35196328/">置身事内</a> <span class="pl">兰小欢 / 上海人民出版社</span></li>
              <li><a href="https://book.book.example/subject/35984010/">我与地坛</a> <span class="pl">史铁生 / 人民文学出版社</span></li>
              <li><a href="https://book.book.example/subject/36087592/">额尔古纳河右岸</a> <span class="pl">迟子建 / 北京十月文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35912345/">蛤蟆先生去看心理医生</a> <span class="pl">罗伯特·戴博德 / 天津人民出版社</span></li>
              <li><a href="https://book.book.example/subject/36001234/">一句顶一万句</a> <span class="pl">刘震云 / 长江文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35876543/">黄金时代</a> <span class="pl">王小波 / 北京十月文艺出版社</span></li>
              <li><a href="https://book.book.example/subject/35765432/">人生海海</a> <span class="pl">麦家 / 北京十月文艺出版社</span></li>
            </ol>
          </div>
          <div class="mod app-promo">
            <h2>豆瓣读书客户端</h2>
            <p class="pl">随时随地记录想读、在读、读过的书，查看好友的读书动态，发现更多好书。
            扫描二维码下载，或在各大应用商店搜索“豆瓣”。</p>
            <p><a href="https://www.book.example/doubanapp/app?channel=book-top250">iOS · Android</a></p>
          </div>
        </div>
        <div class="extra"></div>
      </div>
    </div>
    <div id="footer">
      <span id="icp" class="fleft gray-link">
        &copy; 2005－2025 book.example, all rights reserved 示例站点，仅供本地测试使用
      </span>
      <span class="fright">
        <a href="https://www.book.example/about">关于豆瓣</a>
        · <a href="https://www.book.example/jobs">在豆瓣工作</a>
        · <a href="https://www.book.example/about?topic=contactus">联系我们</a>
        · <a href="https://www.book.example/about/legal">法律声明</a>
        · <a href="https://help.book.example/?app=book" target="_blank">帮助中心</a>
        · <a href="https://book.book.example/library_invitation">图书馆合作</a>
        · <a href="https://www.book.example/doubanapp/">移动应用</a>
        · <a href="https://www.book.example/partner/">豆瓣广告</a>
      </span>
    </div>
  </div>
  <script type="text/javascript">
    (function (win, doc) {
      var start = win._head_start || new Date();
      function report(name, value) {
        var img = new Image();
        img.src = 'https://log.book.example/stat.gif?' + encodeURIComponent(name) + '=' + encodeURIComponent(value);
      }
      function ready(fn) {
        if (doc.readyState === 'complete' || doc.readyState === 'interactive') { setTimeout(fn, 0); }
        else { doc.addEventListener('DOMContentLoaded', fn); }
      }
      ready(function () {
        report('dom_ready', new Date() - start);
        var items = doc.querySelectorAll('tr.item');
        report('item_count', items.length);
        for (var i = 0; i < items.length; i++) {
          items[i].addEventListener('mouseenter', function () { this.className += ' hover'; });
          items[i].addEventListener('mouseleave', function () { this.className = this.className.replace(' hover', ''); });
        }
      });
      win.addEventListener('load', function () { report('page_load', new Date() - start); });
    })(window, document);
  </script>
  <!-- 页面生成于本地示例站点 pagecrawl demo_site；所有链接均指向 .example 域名，不会访问互联网 -->
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Instant;

    /// A response as a test sees it.
    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn text(&self) -> &str {
            std::str::from_utf8(&self.body).expect("utf-8 body")
        }
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream
    }

    fn send(stream: &mut TcpStream, target: &str, close: bool) {
        let connection = if close { "close" } else { "keep-alive" };
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: demo\r\nConnection: {connection}\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send request");
    }

    /// Reads a status line and headers, byte by byte so nothing of the body is consumed.
    fn read_resp_head(stream: &mut TcpStream) -> (u16, Vec<(String, String)>) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                stream.read(&mut byte).expect("read head"),
                1,
                "head cut off"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("ascii head");
        let mut lines = head.lines();
        let status = lines
            .next()
            .expect("status line")
            .split(' ')
            .nth(1)
            .expect("code");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        (status.parse().expect("numeric status"), headers)
    }

    /// Reads one complete response framed by Content-Length.
    fn read_resp(stream: &mut TcpStream) -> Resp {
        let (status, headers) = read_resp_head(stream);
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = resp
            .header("Content-Length")
            .expect("Content-Length")
            .parse()
            .expect("numeric length");
        resp.body = vec![0; len];
        stream.read_exact(&mut resp.body).expect("read body");
        resp
    }

    fn get(addr: SocketAddr, target: &str) -> Resp {
        let mut stream = connect(addr);
        send(&mut stream, target, true);
        read_resp(&mut stream)
    }

    fn site(pages: u64, faults: impl IntoIterator<Item = (u64, Fault)>) -> DemoSite {
        DemoSite::start(SiteOptions {
            pages,
            faults: faults.into_iter().collect(),
            workers: 4,
            ..SiteOptions::default()
        })
        .expect("start site")
    }

    /// Waits, boundedly, until `cond` holds: the site counts a request before it acts on it.
    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// The items a naive scan finds: the first anchor after each `<div class="pl2">`, decoys too.
    fn scan_items(html: &str) -> Vec<DemoItem> {
        let mut items = Vec::new();
        for chunk in html.split("<div class=\"pl2\">").skip(1) {
            let anchor = &chunk[chunk.find("<a ").expect("anchor")..];
            let href = anchor.split("href=\"").nth(1).expect("href");
            let link = href[..href.find('"').expect("end of href")].to_string();
            let text = &anchor[anchor.find('>').expect("end of tag") + 1..];
            let text = &text[..text.find("</a>").expect("closing tag")];
            let title = text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            items.push(DemoItem { title, link });
        }
        items
    }

    fn real_items(html: &str) -> Vec<DemoItem> {
        scan_items(html)
            .into_iter()
            .filter(|item| !item.link.starts_with("https://decoy.example/"))
            .collect()
    }

    #[test]
    fn a_normal_page_looks_like_douban_and_lists_the_expected_items() {
        let site = site(3, []);
        let resp = get(site.addr(), "/top250?start=25");
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        let html = resp.text();
        assert!(
            (60_000..=80_000).contains(&html.len()),
            "{} bytes",
            html.len()
        );
        assert_eq!(real_items(html), expected_items(&site.options(), 1));
        assert_eq!(html.matches("<div class=\"pl2\">").count(), 25 + 2);
        assert!(html.contains("&amp;"), "some title has an entity");

        let comment = &html[html.find("<!--\n  旧版").expect("decoy comment")..];
        let comment = &comment[..comment.find("-->").expect("comment end")];
        assert!(comment.contains("https://decoy.example/comment"));
        let script = &html[html.find("var tpl =").expect("decoy script")..];
        let script = &script[..script.find("</script>").expect("script end")];
        assert!(script.contains("https://decoy.example/script"));
        assert_eq!(site.requests_for(1), 1);
        assert_eq!(site.total_requests(), 1);
    }

    #[test]
    fn both_servers_serve_the_same_page_and_keep_alive_works() {
        let site = site(3, []);
        let mut stream = connect(site.addr());
        send(&mut stream, "/top250?start=0", false);
        let first = read_resp(&mut stream);
        send(&mut stream, "/top250?page=2", false);
        let second = read_resp(&mut stream);
        assert_eq!((first.status, second.status), (200, 200));
        assert_eq!(first.text(), render_page(&site.options(), 0));
        assert_eq!(second.text(), render_page(&site.options(), 2));

        let raw = get(site.raw_addr(), "/top250?start=50");
        assert_eq!(raw.status, 200);
        assert_eq!(raw.text(), second.text());
        assert_eq!(site.requests_for(2), 2);
    }

    #[test]
    fn pages_past_the_end_and_empty_pages_have_no_items() {
        let site = site(3, [(1, Fault::Empty)]);
        for target in ["/top250?start=75", "/top250?start=25"] {
            let resp = get(site.addr(), target);
            assert_eq!(resp.status, 200, "{target}");
            assert!(real_items(resp.text()).is_empty(), "{target}");
            assert!(resp.text().contains("没有更多了"), "{target}");
        }
        assert!(expected_items(&site.options(), 3).is_empty());
        assert!(expected_items(&site.options(), 1).is_empty());
        assert_eq!(expected_items(&site.options(), 2).len(), 25);
    }

    #[test]
    fn past_the_end_a_site_may_repeat_its_last_page_or_answer_a_status() {
        let repeat = DemoSite::start(SiteOptions {
            pages: 3,
            past_end: PastEnd::RepeatLast,
            ..SiteOptions::default()
        })
        .unwrap();
        let last = real_items(get(repeat.addr(), "/top250?start=50").text());
        assert_eq!(last.len(), 25);
        for target in ["/top250?start=75", "/top250?start=2500"] {
            assert_eq!(
                real_items(get(repeat.addr(), target).text()),
                last,
                "{target}"
            );
        }
        assert_eq!(
            expected_items(&repeat.options(), 9),
            expected_items(&repeat.options(), 2)
        );

        let blocked = DemoSite::start(SiteOptions {
            pages: 3,
            past_end: PastEnd::Status(403),
            faults: BTreeMap::from([(4, Fault::Empty)]),
            ..SiteOptions::default()
        })
        .unwrap();
        assert_eq!(get(blocked.addr(), "/top250?start=50").status, 200);
        assert_eq!(get(blocked.addr(), "/top250?start=75").status, 403);
        assert_eq!(get(blocked.raw_addr(), "/top250?start=7500").status, 403);
        // A fault listed for a page past the end wins.
        assert_eq!(get(blocked.addr(), "/top250?start=100").status, 200);
    }

    #[test]
    fn a_slow_page_answers_after_its_own_latency() {
        let site = DemoSite::start(SiteOptions {
            pages: 3,
            slow: BTreeMap::from([(1, Duration::from_millis(300))]),
            ..SiteOptions::default()
        })
        .unwrap();
        for (target, slow) in [("/top250?start=25", true), ("/top250?start=50", false)] {
            for addr in [site.addr(), site.raw_addr()] {
                let started = std::time::Instant::now();
                assert_eq!(get(addr, target).status, 200);
                let took = started.elapsed();
                assert_eq!(
                    took >= Duration::from_millis(300),
                    slow,
                    "{target}: {took:?}"
                );
            }
        }
    }

    #[test]
    fn routing_reads_start_or_page_and_rejects_other_paths() {
        assert_eq!(route("/top250?start=50", 25), Route::Page(2));
        assert_eq!(route("/top250?start=49", 25), Route::Page(1));
        assert_eq!(route("/top250?filter=&start=75", 25), Route::Page(3));
        assert_eq!(route("/top250?page=7", 25), Route::Page(7));
        assert_eq!(route("/top250", 25), Route::Page(0));
        assert_eq!(route("/top250?start=abc", 25), Route::Page(0));
        assert_eq!(route("/top250?start=10", 0), Route::Page(10));
        assert_eq!(route("/", 25), Route::Index);
        assert_eq!(route("/favicon.ico", 25), Route::NotFound);

        let site = site(1, []);
        assert_eq!(get(site.addr(), "/favicon.ico").status, 404);
        assert_eq!(get(site.raw_addr(), "/nope").status, 404);
        assert_eq!(get(site.addr(), "/").status, 200);
        assert_eq!(site.total_requests(), 3);
    }

    #[test]
    fn a_status_fault_ends_after_its_count_on_either_server() {
        let retry = Some("7".to_string());
        let site = site(
            3,
            [(
                1,
                Fault::Status {
                    code: 503,
                    times: 2,
                    retry_after: retry,
                },
            )],
        );
        let first = get(site.addr(), "/top250?start=25");
        let second = get(site.raw_addr(), "/top250?start=25");
        let third = get(site.addr(), "/top250?start=25");
        for resp in [&first, &second] {
            assert_eq!(resp.status, 503);
            assert_eq!(resp.header("Retry-After"), Some("7"));
            assert!(resp.text().contains("503"));
        }
        assert_eq!(third.status, 200);
        assert_eq!(third.header("Retry-After"), None);
        assert_eq!(real_items(third.text()).len(), 25);
        assert_eq!(site.requests_for(1), 3);
    }

    #[test]
    fn a_permanent_status_fault_never_ends() {
        let fault = Fault::Status {
            code: 404,
            times: u32::MAX,
            retry_after: None,
        };
        let site = site(3, [(0, fault)]);
        for _ in 0..3 {
            let resp = get(site.addr(), "/top250?start=0");
            assert_eq!(resp.status, 404);
            assert_eq!(resp.header("Retry-After"), None);
        }
    }

    #[test]
    fn a_huge_page_is_padded_to_exactly_its_size() {
        let site = site(3, [(0, Fault::Huge { bytes: 300_000 })]);
        let resp = get(site.addr(), "/top250?start=0");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.len(), 300_000);
        assert_eq!(real_items(resp.text()), expected_items(&site.options(), 0));

        let page = render_page(&site.options(), 0);
        let len = page.len();
        for bytes in [0, len, len + 1, len + 8, len + 9, len + 10, len + 5000] {
            assert_eq!(
                pad_page(page.clone(), bytes).len(),
                bytes.max(len),
                "{bytes}"
            );
        }
    }

    #[test]
    fn the_raw_server_truncates_the_body_and_closes() {
        let site = site(3, [(1, Fault::Truncated)]);
        let mut stream = connect(site.raw_addr());
        send(&mut stream, "/top250?start=25", false);
        let (status, headers) = read_resp_head(&mut stream);
        assert_eq!(status, 200);
        let announced: usize = headers
            .iter()
            .find(|(n, _)| n == "Content-Length")
            .map(|(_, v)| v.parse().expect("length"))
            .expect("Content-Length");
        let mut body = Vec::new();
        // read_to_end only returns once read gives 0: the server closed the socket.
        stream.read_to_end(&mut body).expect("read to the end");
        assert!(body.len() < announced, "{} of {announced}", body.len());
        assert_eq!(announced, render_page(&site.options(), 1).len());

        // The main server cannot truncate, so it serves the page whole.
        assert_eq!(get(site.addr(), "/top250?start=25").body.len(), announced);
    }

    #[test]
    fn a_stalled_raw_client_gets_nothing_and_does_not_delay_drop() {
        let site = site(3, [(2, Fault::Stall)]);
        let mut stream = connect(site.raw_addr());
        send(&mut stream, "/top250?start=50", false);
        wait_until("the stalled request", || site.requests_for(2) == 1);
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("read timeout");
        let mut buf = [0u8; 64];
        let err = stream.read(&mut buf).expect_err("no bytes while stalled");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );

        let started = Instant::now();
        drop(site);
        assert!(started.elapsed() < Duration::from_secs(2));
        // The stall ended with the site: the socket is closed without a byte.
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        assert_eq!(stream.read(&mut buf).expect("read after drop"), 0);
    }

    #[test]
    fn stalls_and_latency_on_the_main_server_end_when_the_site_is_dropped() {
        let site = DemoSite::start(SiteOptions {
            pages: 3,
            latency: Duration::from_secs(60),
            faults: BTreeMap::from([(0, Fault::Stall)]),
            workers: 4,
            ..SiteOptions::default()
        })
        .expect("start site");
        let mut stalled = connect(site.addr());
        send(&mut stalled, "/top250?start=0", true);
        let mut slow = connect(site.addr());
        send(&mut slow, "/top250?start=25", true);
        wait_until("both requests", || site.total_requests() == 2);

        let started = Instant::now();
        drop(site);
        assert!(started.elapsed() < Duration::from_secs(2));
        // Neither client is left hanging: each connection is answered or closed at once.
        for stream in [&mut stalled, &mut slow] {
            let mut buf = [0u8; 1024];
            let waited = Instant::now();
            let _ = stream.read(&mut buf);
            assert!(waited.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn expected_items_are_unique_and_not_ascii_only() {
        let opts = SiteOptions {
            pages: 40,
            ..SiteOptions::default()
        };
        let mut titles = HashSet::new();
        let mut links = HashSet::new();
        for page in 0..40 {
            let items = expected_items(&opts, page);
            assert_eq!(items.len(), 25);
            for item in items {
                assert!(!item.title.is_ascii(), "{}", item.title);
                assert_eq!(item.title.trim(), item.title);
                assert!(!item.title.contains("  "), "{}", item.title);
                assert!(titles.insert(item.title));
                assert!(links.insert(item.link));
            }
        }
        assert_eq!(titles.len(), 1000);
        assert!(titles.iter().any(|t| t.contains('&')));
    }

    #[test]
    fn every_full_page_weighs_like_a_real_one() {
        let opts = SiteOptions {
            pages: 200,
            ..SiteOptions::default()
        };
        for page in 0..200 {
            let len = render_page(&opts, page).len();
            assert!((60_000..=80_000).contains(&len), "page {page}: {len} bytes");
        }
    }

    #[test]
    fn rendered_anchors_collapse_to_the_expected_items() {
        let opts = SiteOptions {
            page_size: 7,
            ..SiteOptions::default()
        };
        for page in [0, 3, 9] {
            let html = render_page(&opts, page);
            assert_eq!(
                real_items(&html),
                expected_items(&opts, page),
                "page {page}"
            );
            let decoys: Vec<_> = scan_items(&html)
                .into_iter()
                .filter(|item| item.link.starts_with("https://decoy.example/"))
                .map(|item| item.title)
                .collect();
            assert_eq!(decoys, ["DECOY in script", "DECOY in comment"]);
        }
    }

    #[test]
    fn a_burst_of_keep_alive_connections_is_served_together() {
        // Every connection stays open while the others are answered: a server that parks new
        // connections behind open ones (tiny_http 0.12 does) would time out here.
        let site = DemoSite::start(SiteOptions {
            pages: 3,
            ..SiteOptions::default()
        })
        .expect("start site");
        let mut streams: Vec<TcpStream> = (0..16).map(|_| connect(site.addr())).collect();
        for round in 0..3 {
            for stream in &mut streams {
                send(stream, "/top250?start=25", false);
            }
            for stream in &mut streams {
                let resp = read_resp(stream);
                assert_eq!(resp.status, 200, "round {round}");
                assert_ne!(resp.header("Connection"), Some("close"));
            }
        }
        assert_eq!(site.requests_for(1), 16 * 3);
    }

    #[test]
    fn raw_connections_beyond_the_workers_get_503() {
        let site = DemoSite::start(SiteOptions {
            workers: 2,
            faults: BTreeMap::from([(0, Fault::Stall)]),
            ..SiteOptions::default()
        })
        .expect("start site");
        // Two stalled requests hold both raw-server slots.
        let mut held: Vec<TcpStream> = (0..2).map(|_| connect(site.raw_addr())).collect();
        for stream in &mut held {
            send(stream, "/top250?start=0", true);
        }
        wait_until("both stalled requests", || site.requests_for(0) == 2);
        let busy = get(site.raw_addr(), "/top250?start=25");
        assert_eq!(busy.status, 503);
        assert_eq!(busy.header("Retry-After"), Some("1"));
        assert_eq!(
            site.requests_for(1),
            0,
            "a refused request is not a page request"
        );
        assert_eq!(site.total_requests(), 3);
    }

    #[test]
    fn request_heads_are_parsed_strictly() {
        fn parse(head: &str) -> Option<(&str, &str)> {
            parse_head(head.as_bytes()).map(|h| (h.method, h.target))
        }
        assert_eq!(
            parse("GET /top250?start=25 HTTP/1.1\r\nHost: a"),
            Some(("GET", "/top250?start=25"))
        );
        assert_eq!(parse("HEAD / HTTP/1.0"), Some(("HEAD", "/")));
        assert_eq!(parse("GET /top250 HTTP/2.0"), None);
        assert_eq!(parse("GET http://a/ HTTP/1.1"), None);
        assert_eq!(parse("nonsense"), None);

        // The main server (hyper) answers pipelined requests in order.
        let site = site(1, []);
        let mut stream = connect(site.addr());
        stream
            .write_all(b"GET /top250 HTTP/1.1\r\n\r\nGET /top250?page=1 HTTP/1.1\r\n\r\n")
            .expect("send two pipelined requests");
        assert_eq!(real_items(read_resp(&mut stream).text()).len(), 25);
        assert_eq!(real_items(read_resp(&mut stream).text()).len(), 0);
        assert_eq!(get(site.raw_addr(), "/top250 junk").status, 400);
    }
}
