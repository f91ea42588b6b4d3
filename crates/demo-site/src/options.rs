//! How the site behaves: its pages, the faults of each page, its latency and what lies past the
//! end of its listing; and what a crawler should find on it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Items per listing page, as on Douban.
pub const DEFAULT_PAGE_SIZE: usize = 25;

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
    /// Item links point at this site's own detail pages (`/subject/<id>/`, each with a rating,
    /// a summary and 1 to 3 images, some on the second host), instead of at book.example.
    /// Off by default, which keeps every listing page's bytes as they always were.
    pub self_links: bool,
    /// Books in groups of this many link to one detail page, the first book's of the group (0
    /// or 1: each book its own): 100 books linking to 50 detail pages, as quotes link to their
    /// authors.
    pub detail_shared_by: u64,
    /// With `self_links`: this site's origin (`http://127.0.0.1:<port>`), which item links and
    /// half of the images use. Filled in by [`crate::DemoSite::start`]; read, do not set.
    pub links_to: Option<String>,
    /// This site's own origin (`http://127.0.0.1:<port>`, `https://…` with TLS): where the
    /// paginator of a page whose `<base href>` is elsewhere points. Filled in by
    /// [`crate::DemoSite::start`]; read, do not set.
    pub origin: Option<String>,
    /// With `self_links`: the second host's origin (`http://localhost:<port>`, the same server
    /// on another port and host name, as a CDN would be), which the other images use. Filled
    /// in by [`crate::DemoSite::start`]; read, do not set.
    pub img_origin: Option<String>,
    /// Misbehaviour per path of a detail page or image (`/subject/1000003/`, `/img/3-0.png`),
    /// on both hosts. `Fault::Huge` pads an image with zeros to that many bytes.
    pub path_faults: BTreeMap<String, Fault>,
    /// How `/robots.txt` answers.
    pub robots: RobotsTxt,
    /// Hot-link protection: an image answers 403 unless the request's `Referer` is the detail
    /// page that shows it (`/subject/<1000000 + book>/`, on either host).
    pub images_need_referer: bool,
    /// With `self_links`: every detail page is a gallery in parts, as mzitu's are: part 1 at
    /// `/subject/<id>/` shows the summary and the first image, part `k` at
    /// `/subject/<id>/<k>` the `k`th image (each the title and the rating), each part but the last linking to the next with
    /// `a.next` (a relative link). 1 to 6 parts per book ([`crate::expected_detail`]). With
    /// `images_need_referer`, an image needs its own part as `Referer`.
    pub galleries: Galleries,
    /// The listing's pages answer JSON instead of HTML, at the same URLs: the API behind an
    /// infinite scroll ([`crate::api`](crate) module). Faults, the end of the listing and
    /// editions apply as for HTML.
    pub json: bool,
    /// Serve HTTPS too, with this certificate, on a port of its own ([`crate::DemoSite::https_addr`]).
    /// Needs the crate's `tls` feature.
    pub tls: Option<TlsIdentity>,
    /// How the listing differs from its first edition: prices that moved, books taken down,
    /// books added. The first edition by default.
    pub edition: Edition,
    /// Which validators listing and detail pages carry, and so which conditional requests
    /// they answer `304 Not Modified` to. None by default.
    pub validators: Validators,
}

/// How a listing differs from its first edition: what a watched listing changes between
/// two rounds. Books are numbered by their place in the whole first edition (page × page size
/// + index on the page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edition {
    /// Which edition this is (0: the first). It is part of every page's `Last-Modified`.
    pub number: u64,
    /// Books whose price is this (`"12.50"`) instead of their own.
    pub prices: BTreeMap<u64, String>,
    /// Books no longer listed: their page lists the others.
    pub removed: BTreeSet<u64>,
    /// Per page, how many new books it lists after its own: book `10_000_000 + page × 100 + k`.
    pub added: BTreeMap<u64, usize>,
    /// Per thousand of the books, whose price moves in this edition (chosen by the book and
    /// the edition's number, the same every time): a listing where 1 % changed is 10.
    pub repriced_per_mille: u64,
}

/// Whether detail pages are galleries in parts ([`SiteOptions::galleries`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Galleries {
    /// A detail page is one page (the default).
    #[default]
    Off,
    /// Galleries in parts; the last part has no next link.
    Parts,
    /// Galleries in parts whose last part's next link leads back to part 1, as some sites
    /// wrap around: a loop a crawler must end.
    Looping,
}

/// Which validators the site's pages carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Validators {
    /// None: every request gets the whole page (the default).
    #[default]
    None,
    /// An `ETag` (a hash of the body), answering `If-None-Match`.
    ETag,
    /// A `Last-Modified` (the edition's date), answering `If-Modified-Since`.
    LastModified,
}

/// How the site's `/robots.txt` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RobotsTxt {
    /// 404: no file, so everything is allowed (the default).
    #[default]
    Missing,
    /// 200 with this text (`text/plain`).
    Text(String),
    /// This status (a 500, a 403 …), with an error page.
    Status(u16),
    /// A `301` to `location` (sent verbatim); `/robots.txt?direct=1` answers `text`, so that a
    /// redirect back to the site's own file ends.
    Redirect {
        /// The `Location` header value.
        location: String,
        /// What `/robots.txt?direct=1` answers.
        text: String,
    },
    /// 200 with this text, after `delay` on top of the site's latency: a server slow to answer.
    Slow {
        /// The file.
        text: String,
        /// The extra wait before answering.
        delay: Duration,
    },
}

/// A certificate chain and its key, in PEM, for the HTTPS server.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The server's certificate, then the certificates that issued it.
    pub chain_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A test key, but a key: not printed.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
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
            self_links: false,
            detail_shared_by: 1,
            links_to: None,
            origin: None,
            img_origin: None,
            path_faults: BTreeMap::new(),
            robots: RobotsTxt::Missing,
            images_need_referer: false,
            galleries: Galleries::Off,
            json: false,
            tls: None,
            edition: Edition::default(),
            validators: Validators::None,
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
    /// Serve this body, verbatim, with status 200: a broken page (JSON that does not parse).
    Body(String),
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

/// A book's detail page as a crawler should extract it (see [`crate::expected_detail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoDetail {
    /// The rating, as shown: `8.7`.
    pub rating: String,
    /// The summary paragraph's text.
    pub summary: String,
    /// Its images, in page order.
    pub images: Vec<DemoImage>,
}

/// One image of a detail page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoImage {
    /// Its absolute URL, on this site or the second host.
    pub url: String,
    /// Its `alt` text.
    pub alt: String,
    /// Its bytes, as served.
    pub bytes: Vec<u8>,
}

/// One item as a crawler should extract it: the text and `href` of the first `a` in `div.pl2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoItem {
    /// The anchor text with whitespace collapsed and trimmed, entities decoded.
    pub title: String,
    /// The anchor's `href` made absolute, unique across the site. Odd pages write it relative
    /// (`subject/1000025/`) under a `<base href="https://book.example/">`; even pages write it
    /// absolute: either way it is `https://book.example/subject/{id}/`.
    pub link: String,
    /// The rank, written `61.` in a `span.rank`.
    pub rank: u64,
    /// The price as a JSON number (`47.01`), written `£47.01` in a `span.price`.
    pub price: String,
    /// The texts of the `a.tag` links, in order: none to three.
    pub tags: Vec<String>,
}
