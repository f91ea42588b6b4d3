//! The keys of what is crawled and how: `[site]`, `[threads]`, `[queues]`, `[http]` and
//! `[extract]`, one constant each.

use super::Key;
use super::Measure::{Bytes, Entries, FileBytes, Number, Seconds};
use super::key;

/// The largest selector (`extract.item`, a field's short form), in bytes.
pub(super) const SELECTOR_MAX: u64 = 1_024;

// [site]
/// `site.url`.
pub const SITE_URL: Key = key(
    "site.url",
    "required",
    "page URL; `{page}` = page number, `{offset}` = page × `page_size` (at least one, unless \
     `site.next` is set: then it is the first page, without either; any other `{name}` is \
     refused; `{{` and `}}` are literal braces); http or https",
);
/// `site.first_page`.
pub const FIRST_PAGE: Key = key("site.first_page", "0", "first page number");
/// `site.last_page`.
pub const LAST_PAGE: Key = key(
    "site.last_page",
    "unset",
    "last page, inclusive; unset = \"until empty\": crawl until a page yields no items, answers \
     404/410 or repeats the page before it (see [the end of the listing](listing-end.md))",
)
.unset("crawl until a page yields no items");
/// `site.has_next`.
pub const HAS_NEXT: Key = key(
    "site.has_next",
    "unset",
    "without `last_page`, on JSON pages: the JSONPath of each page's \"another page follows\" \
     flag (`\"$.has_next\"`); the page where it is `false` is the last (see \
     [the end of the listing](listing-end.md))",
)
.unset("the end is a page without items, a 404 or 410, or a repeated page")
.bounded(1, SELECTOR_MAX, Bytes);
/// `site.next`.
pub const NEXT: Key = key(
    "site.next",
    "unset",
    "a listing paged by next links: each page's link to the next, `\"a[rel=next]@href\"` on HTML, \
     `\"$.next\"` on JSON; `site.url` is then the first page; the listing ends at a page without \
     one (see [next links and cursors](listing-end.md#next-links-and-cursors))",
)
.unset("pages are numbered: `site.url` has `{page}` or `{offset}`")
.bounded(1, SELECTOR_MAX, Bytes);
/// `site.next_url`.
pub const NEXT_URL: Key = key(
    "site.next_url",
    "unset",
    "with `site.next`: the URL its value goes into when it is a cursor, not a URL, as \
     `\"https://site.example/api/items?cursor={next}\"` (percent-encoded)",
)
.unset("`site.next` finds the next page's URL itself, resolved against its page")
.bounded(1, 8_192, Bytes);
/// `site.page_size`.
pub const PAGE_SIZE: Key =
    key("site.page_size", "25", "items per page, for `{offset}`").bounded(1, u64::MAX, Number);
/// `site.max_pages`.
pub const MAX_PAGES: Key = key(
    "site.max_pages",
    "100000",
    "without `last_page`: stop (exit 3) if the listing has not ended after this many pages from \
     `first_page`",
)
.bounded(1, 100_000_000, Number);
/// `site.max_failed_in_a_row`.
pub const MAX_FAILED_IN_A_ROW: Key = key(
    "site.max_failed_in_a_row",
    "20",
    "without `last_page`: stop (exit 3) after this many failed pages in a row (in page order)",
)
.bounded(1, 1_000_000, Number);

// [threads]
/// `threads.crawlers`: each is a thread with a connection (and a file descriptor) of its own.
pub const CRAWLERS: Key = key(
    "threads.crawlers",
    "3",
    "fetching threads, sharing one connection pool",
)
.bounded(1, 512, Number);
/// `threads.parsers`: CPU-bound, so more than the cores only costs memory.
pub const PARSERS: Key =
    key("threads.parsers", "CPU cores", "parsing threads").bounded(1, 256, Number);

// [queues]
/// `queues.pages` (the channel's slots are allocated up front).
pub const QUEUE_PAGES: Key = key(
    "queues.pages",
    "20",
    "page numbers waiting for a crawler (a bounded channel)",
)
.bounded(1, 65_536, Number);
/// `queues.html`: each page may hold a body of `max_body_bytes`.
pub const QUEUE_HTML: Key = key(
    "queues.html",
    "16",
    "fetched pages waiting for a parser (and, with `[follow]` or `[download]`, parsed pages \
     waiting for each of those stages)",
)
.bounded(1, 4_096, Number);
/// `queues.items`.
pub const QUEUE_ITEMS: Key = key(
    "queues.items",
    "1024",
    "parsed pages (all items of one page per entry) waiting for the writer",
)
.bounded(1, 65_536, Number);
/// `queues.items_bytes`.
pub const QUEUE_ITEMS_BYTES: Key = key(
    "queues.items_bytes",
    "16777216",
    "what the pages waiting for the writer may weigh together, in bytes of items (16 MiB); a \
     single heavier page still passes, alone",
)
.bounded(1, 4 << 30, Number);

// [http]
/// `http.user_agent`.
pub const USER_AGENT: Key = key(
    "http.user_agent",
    "`pagecrawl/<version>`",
    "User-Agent header",
)
.bounded(1, 512, Bytes);
/// `http.timeout_secs`.
pub const TIMEOUT_SECS: Key = key(
    "http.timeout_secs",
    "30",
    "budget for a whole request, connect to last byte and every redirect hop included (stops a \
     trickling server)",
)
.bounded(0, 3_600, Seconds);
/// `http.connect_timeout_secs`.
pub const CONNECT_TIMEOUT_SECS: Key =
    key("http.connect_timeout_secs", "10", "budget for connecting").bounded(0, 3_600, Seconds);
/// `http.retries`.
pub const RETRIES: Key = key(
    "http.retries",
    "3",
    "extra attempts after a connect error, timeout, broken body, 5xx or 429",
)
.bounded(0, 20, Number);
/// `http.backoff_ms` (the backoff itself is capped at a minute).
pub const BACKOFF_MS: Key = key(
    "http.backoff_ms",
    "500",
    "backoff base: `backoff × 2^(attempt-1)`, up to 60 s, +0–50 % jitter; `Retry-After: N` wins \
     (up to 300 s)",
)
.bounded(0, 60_000, Number);
/// `http.delay_ms`: at most an hour.
pub const DELAY_MS: Key = key(
    "http.delay_ms",
    "0",
    "minimum gap between two request starts to one host (scheme, host and port), across all \
     threads; a 429 from a host widens its gap only, and its robots.txt `Crawl-delay` raises it",
)
.bounded(0, 3_600_000, Number);
/// `http.max_body_bytes`.
pub const MAX_BODY_BYTES: Key = key(
    "http.max_body_bytes",
    "10485760",
    "a larger body, measured after gzip/deflate/br decoding (and on the wire), fails the page \
     (not retried)",
)
.bounded(1, 1 << 30, Number);
/// `http.shutdown_grace_secs`.
pub const SHUTDOWN_GRACE_SECS: Key = key(
    "http.shutdown_grace_secs",
    "30",
    "after a stop is requested, requests in flight get this long; then they are abandoned",
)
.bounded(0, 3_600, Seconds);
/// `http.max_redirects` (browsers stop at 20).
pub const MAX_REDIRECTS: Key = key(
    "http.max_redirects",
    "5",
    "redirects followed per request; one more fails the page",
)
.bounded(0, 20, Number);
/// `http.follow_offsite_redirects`.
pub const FOLLOW_OFFSITE_REDIRECTS: Key = key(
    "http.follow_offsite_redirects",
    "false",
    "follow redirects to another site; the same site is `site.url`'s scheme, host and port",
);
/// `http.proxy`.
pub const PROXY: Key = key(
    "http.proxy",
    "unset",
    "`http://`, `https://` or `socks5://` proxy; unset means none, whatever `HTTP_PROXY` says",
)
.unset("none is used, whatever the environment says");
/// `http.per_host`.
pub const PER_HOST: Key = key(
    "http.per_host",
    "unset",
    "requests in flight to one host at once, by every stage together (Scrapy's \
     `CONCURRENT_REQUESTS_PER_DOMAIN`); unset = only the thread counts cap them",
)
.bounded(1, 512, Number)
.unset("requests to one host are capped by the thread counts");
/// `http.robots`.
pub const ROBOTS: Key = key(
    "http.robots",
    "true",
    "obey each site's robots.txt: skip the pages it disallows (`pages_disallowed`) and honour \
     its `Crawl-delay` (see [robots.txt](http.md#robotstxt)); `false` reads no robots.txt",
);
/// `http.conditional`.
pub const CONDITIONAL: Key = key(
    "http.conditional",
    "true with `output.key` and `[schedule]` or a Redis frontier",
    "send each list and detail page's `ETag` and `Last-Modified` of the last round back \
     (`If-None-Match`, `If-Modified-Since`): a `304 Not Modified` page keeps the items (a detail \
     page its fields) the store knows, and costs no body (see [watch a listing](watch.md)); \
     needs `output.key`; with `frontier.kind = \"redis\"` (also on by default there) the list \
     pages' validators are shared in Redis, detail pages asked in full",
);
/// `http.ca_file` (Mozilla's whole root list is about 250 KB).
pub const CA_FILE: Key = key(
    "http.ca_file",
    "unset",
    "a PEM file of CA certificates trusted **in addition to** the built-in (Mozilla) roots: an \
     internal site's CA, an inspecting proxy's. Read and checked at load. There is no switch \
     that turns verification off",
)
.bounded(1, 4 << 20, FileBytes)
.unset("the built-in (Mozilla) roots only");
/// `[http.headers]`.
pub const HEADERS: Key = key(
    "http.headers",
    "none",
    "extra request headers, `Name = \"value\"` (e.g. `Accept-Language`, `Cookie`, `Referer`), \
     sent with every request to the site's origin (see [request headers](http.md#request-headers))",
)
.bounded(0, 64, Entries);

// [extract]
/// `extract.format`.
pub const FORMAT: Key = key(
    "extract.format",
    "`\"html\"`",
    "`\"html\"`: pages are HTML, read with CSS selectors; `\"json\"`: pages are JSON (an \
     API's answers), `extract.item` and every field a JSONPath (RFC 9535) (see \
     [field forms](field-forms.md#json-pages))",
);
/// `extract.item`.
pub const ITEM: Key = key(
    "extract.item",
    "required",
    "CSS selector, one item per match; with `format = \"json\"`, a JSONPath selecting the \
     items (`\"$.items[*]\"`)",
)
.bounded(1, SELECTOR_MAX, Bytes);
/// `extract.engine`.
pub const ENGINE: Key = key(
    "extract.engine",
    "`\"stream\"`",
    "`\"stream\"`: follow the HTML5 tree builder on the token stream without building a \
     document tree, and hand the pages it cannot follow exactly to `\"dom\"` (see \
     [how pages are parsed](parsing.md)); `\"dom\"`: build every page's full HTML5 tree. Both \
     give the same items",
);
/// `extract.max_items_per_page`: each item takes a copy of its fields' text.
pub const MAX_ITEMS_PER_PAGE: Key = key(
    "extract.max_items_per_page",
    "10000",
    "a page with more items fails with a one-line reason; the crawl goes on",
)
.bounded(1, 1_000_000, Number);
/// `extract.max_bytes_per_page`.
pub const MAX_BYTES_PER_PAGE: Key = key(
    "extract.max_bytes_per_page",
    "8388608",
    "the same for the bytes of a page's field values (8 MiB)",
)
.bounded(1, 1 << 30, Number);
/// `[extract.fields]`.
pub const FIELDS: Key = key(
    "extract.fields",
    "required",
    "the item's fields, in output order (at least one); each as below",
)
.bounded(1, 100, Entries);
/// `extract.fields.<name>`.
pub const FIELD: Key = key(
    "extract.fields.*",
    "—",
    "`\"sel\"`: text of the first match (whitespace collapsed); `\"sel@attr\"`: its attribute; \
     `\"@attr\"`: the item's own attribute (names as `getAttribute` takes them: any case on HTML \
     elements, exact on SVG, e.g. `use@xlink:href`); or a table `{ css, attr, all, re, type }` \
     (see [field forms](field-forms.md)). URL attributes (`href`, `src` …) come out absolute",
)
.bounded(1, SELECTOR_MAX, Bytes);
