//! The built-in sample site: a local imitation of Douban's "Top 250" book listing.
//!
//! This crate owns the site's content (deterministic pages of about 70 KB of Douban-like markup,
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
//!
//! The crate's files: `options.rs` (how the site behaves: pages, faults, latency), `reply.rs`
//! (how one request is answered, the same for both servers), `pages.rs` (the content, with its
//! constant text in `corpus.rs`), `server.rs` (the hyper server), `raw.rs` (the hostile one),
//! and this file, the running site that starts and stops them.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use log::warn;
use tokio::sync::watch;

mod api;
mod corpus;
mod detail;
mod options;
mod pages;
mod raw;
mod reply;
mod server;
#[cfg(test)]
mod tests;
#[cfg(feature = "tls")]
mod tls;

pub use detail::{expected_detail, gallery_parts, image_bytes};
pub use options::{
    DEFAULT_PAGE_SIZE, DemoDetail, DemoImage, DemoItem, Edition, Fault, Galleries, PastEnd,
    RobotsTxt, SiteOptions, TlsIdentity, Validators,
};
pub use pages::{detail_book, expected_items, render_page};
use raw::accept_raw;
pub use reply::SeenRequest;
use reply::Shared;
use server::spawn_main;
#[cfg(feature = "tls")]
pub use tls::{TestCa, Validity};

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
    /// Where the second host listens: the main server again, on another port, for images.
    img_addr: SocketAddr,
    /// Set to `true` on drop: the main server stops accepting and its runtime is shut down,
    /// which closes every connection, stalled ones included.
    main_stop: watch::Sender<bool>,
    /// The thread running the main server's runtime, joined on drop.
    main_thread: Option<JoinHandle<()>>,
    /// Where the HTTPS server listens, with `SiteOptions::tls`.
    https_addr: Option<SocketAddr>,
    /// The thread running the HTTPS server's runtime, joined on drop.
    https_thread: Option<JoinHandle<()>>,
    /// The raw server's accept thread, joined on drop; it owns its listener, so joining closes
    /// it. Its connection threads are detached: once the site is dropped they answer nothing
    /// more and end when their client closes or times out.
    raw_thread: Option<JoinHandle<()>>,
}

impl DemoSite {
    /// Bind both servers on 127.0.0.1 ephemeral ports and start serving.
    pub fn start(opts: SiteOptions) -> io::Result<DemoSite> {
        DemoSite::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), opts)
    }

    /// Bind the main server on `addr`, the raw server on 127.0.0.1:0, and start serving.
    pub fn bind(addr: SocketAddr, mut opts: SiteOptions) -> io::Result<DemoSite> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let raw_listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let raw_addr = raw_listener.local_addr()?;
        let img_listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let img_addr = img_listener.local_addr()?;
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        opts.origin = Some(format!("{scheme}://{}", connectable(addr)));
        if opts.self_links {
            opts.links_to = Some(format!("http://{}", connectable(addr)));
            // Another host name for the same machine: another host, as a crawler sees it.
            opts.img_origin = Some(format!("http://localhost:{}", img_addr.port()));
        }

        let tls = match &opts.tls {
            Some(identity) => Some(tls_acceptor(identity)?),
            None => None,
        };
        let (stop_tx, stop) = crossbeam_channel::bounded(0);
        let shared = Arc::new(Shared {
            opts: RwLock::new(Arc::new(opts)),
            per_page: Mutex::new(HashMap::new()),
            per_path: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            robots: AtomicU64::new(0),
            seen: Mutex::new(std::collections::VecDeque::new()),
            live: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stop,
            not_modified: AtomicU64::new(0),
        });
        let (main_stop, main_stop_rx) = watch::channel(false);
        // Built before any thread starts, so that if the second spawn fails, dropping this
        // half-made site stops and joins the first.
        let mut site = DemoSite {
            shared,
            stop_tx: Some(stop_tx),
            addr,
            raw_addr,
            img_addr,
            main_stop,
            main_thread: None,
            https_addr: None,
            https_thread: None,
            raw_thread: None,
        };
        site.main_thread = Some(spawn_main(
            vec![listener, img_listener],
            Arc::clone(&site.shared),
            main_stop_rx.clone(),
            None,
        )?);
        if let Some(acceptor) = tls {
            let https = TcpListener::bind(SocketAddr::from((addr.ip(), 0)))?;
            site.https_addr = Some(https.local_addr()?);
            site.https_thread = Some(spawn_main(
                vec![https],
                Arc::clone(&site.shared),
                main_stop_rx,
                Some(acceptor),
            )?);
        }
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

    /// Where the second host (images) listens, on 127.0.0.1; its URLs say `localhost`.
    pub fn img_addr(&self) -> SocketAddr {
        self.img_addr
    }

    /// How many requests for `path` (a detail page or an image, without a query) arrived so
    /// far, on any server.
    pub fn requests_for_path(&self, path: &str) -> u64 {
        let counts = self
            .shared
            .per_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.get(path).copied().unwrap_or(0)
    }

    /// Where the HTTPS server listens, if the site serves HTTPS (`SiteOptions::tls`).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The HTTPS server's listing URL, with a literal `{offset}` placeholder.
    ///
    /// # Panics
    /// If the site was started without `SiteOptions::tls`.
    pub fn https_url_template(&self) -> String {
        let addr = self
            .https_addr
            .expect("the site serves HTTPS (SiteOptions::tls)");
        format!("https://{addr}/top250?start={{offset}}")
    }

    /// How many requests for `/robots.txt` arrived so far.
    pub fn robots_requests(&self) -> u64 {
        self.shared.robots.load(Ordering::SeqCst)
    }

    /// The most recent requests of the main and HTTPS servers (up to 1024), oldest first,
    /// with their headers.
    pub fn requests_seen(&self) -> Vec<SeenRequest> {
        let seen = self
            .shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.iter().cloned().collect()
    }

    /// From now on, `/robots.txt` answers as `robots` says: a server that recovers, say.
    pub fn set_robots(&self, robots: RobotsTxt) {
        self.update(|opts| opts.robots = robots);
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

    /// The most requests the main server (its own port and the second host's) answered at
    /// once so far, latency included.
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests were answered `304 Not Modified` so far.
    pub fn not_modified_answers(&self) -> u64 {
        self.shared.not_modified.load(Ordering::SeqCst)
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

    /// From now on, detail pages and images misbehave as `faults` says (see
    /// [`SiteOptions::path_faults`]), and only those.
    pub fn set_path_faults(&self, faults: std::collections::BTreeMap<String, Fault>) {
        self.update(|opts| opts.path_faults = faults);
    }

    /// From now on, the site behaves as `opts` says (the origins it filled in are kept).
    pub fn set_options(&self, opts: SiteOptions) {
        self.update(|now| {
            let (links_to, img_origin) = (now.links_to.clone(), now.img_origin.clone());
            let origin = now.origin.clone();
            *now = SiteOptions {
                links_to,
                img_origin,
                origin,
                ..opts
            };
        });
    }

    /// From now on, the listing is `edition`: what changed since the first one.
    pub fn set_edition(&self, edition: Edition) {
        self.update(|opts| opts.edition = edition);
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
        for handle in [self.main_thread.take(), self.https_thread.take()]
            .into_iter()
            .flatten()
        {
            if handle.join().is_err() {
                warn!("demo site: a main server's thread panicked");
            }
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

/// The HTTPS acceptor for `identity`.
#[cfg(feature = "tls")]
fn tls_acceptor(identity: &TlsIdentity) -> io::Result<server::Acceptor> {
    tls::acceptor(identity)
}

/// Without the `tls` feature, a site asked to serve HTTPS is refused.
#[cfg(not(feature = "tls"))]
fn tls_acceptor(_: &TlsIdentity) -> io::Result<server::Acceptor> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the demo site was built without its `tls` feature",
    ))
}

/// `addr`, with an unspecified IP (a server bound to 0.0.0.0) replaced by loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => (Ipv4Addr::LOCALHOST, v4.port()).into(),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => (Ipv6Addr::LOCALHOST, v6.port()).into(),
        _ => addr,
    }
}
