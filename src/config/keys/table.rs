//! The keys themselves, one constant each, and [`ALL`] of them in the order `pagecrawl check`
//! prints them.

use super::Key;
use super::Measure::{Bytes, Entries, FileBytes, Number, Seconds};
use super::key;

/// The largest selector (`extract.item`, a field's short form), in bytes.
const SELECTOR_MAX: u64 = 1_024;

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
    "true with `[schedule]` and `output.key`",
    "send each list and detail page's `ETag` and `Last-Modified` of the last round back \
     (`If-None-Match`, `If-Modified-Since`): a `304 Not Modified` page keeps the items (a detail \
     page its fields) the store knows, and costs no body (see [watch a listing](watch.md)); \
     needs `output.key`",
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

// [follow]
/// `follow.field`.
pub const FOLLOW_FIELD: Key = key(
    "follow.field",
    "required in `[follow]`",
    "a list field holding each item's detail page URL (a list: its first); with it, each \
     detail page is fetched and `[follow.fields]` added to the item (see \
     [detail pages and files](detail-pages-and-files.md))",
);
/// `follow.crawlers`: each a thread with a connection of its own, like a crawler.
pub const FOLLOW_CRAWLERS: Key = key(
    "follow.crawlers",
    "`threads.crawlers`",
    "threads fetching detail pages",
)
.bounded(1, 512, Number);
/// `follow.hosts`.
pub const FOLLOW_HOSTS: Key = key(
    "follow.hosts",
    "`[]`",
    "hosts detail pages may be on besides the site's own (`\"cdn.example.com\"`, \
     `\"*.example.com\"`; any port); links elsewhere are not followed",
);
/// `follow.next`.
pub const FOLLOW_NEXT: Key = key(
    "follow.next",
    "unset",
    "`\"css@attr\"`: the link to a detail page's next part (a gallery's `/gallery/ID/2`, a long \
     article's page 2), followed part after part on the same host rules; an `all = true` \
     field collects every part's matches in order, the others keep the first part's value; a \
     link to a part already read ends it (see [detail pages and files](detail-pages-and-files.md))",
)
.unset("a detail page is one page")
.bounded(1, SELECTOR_MAX, Bytes);
/// `follow.max_pages`.
pub const FOLLOW_MAX_PAGES: Key = key(
    "follow.max_pages",
    "100",
    "with `follow.next`: the most parts read of one detail page, the first included; more are \
     left unread, warned of and counted (`detail_parts_cut`)",
)
.bounded(1, 100_000, Number);
/// `follow.format`.
pub const FOLLOW_FORMAT: Key = key(
    "follow.format",
    "`\"html\"`",
    "as `extract.format`, for detail pages: a JSON listing may follow HTML detail pages and \
     the other way round; with `\"json\"`, each detail field is a JSONPath on the whole page",
);
/// `follow.engine`.
pub const FOLLOW_ENGINE: Key = key(
    "follow.engine",
    "`\"stream\"`",
    "as `extract.engine`, for detail pages",
);
/// `[follow.fields]`.
pub const FOLLOW_FIELDS: Key = key(
    "follow.fields",
    "required in `[follow]`",
    "the detail page's fields (at least one), added after the list's",
)
.bounded(1, 100, Entries);
/// `follow.fields.<name>`.
pub const FOLLOW_FIELD_SPEC: Key = key(
    "follow.fields.*",
    "—",
    "as `extract.fields`, applied to the whole detail page",
)
.bounded(1, SELECTOR_MAX, Bytes);

// [download]
/// `download.field`.
pub const DOWNLOAD_FIELD: Key = key(
    "download.field",
    "required in `[download]`",
    "a field (list or detail) holding a file's URL, or a list of them (`all = true`); with it, \
     each file is downloaded and listed in the item's `\"files\"`, in order",
);
/// `download.dir`.
pub const DOWNLOAD_DIR: Key = key(
    "download.dir",
    "required in `[download]`",
    "where files are stored; created if missing",
);
/// `download.threads`.
pub const DOWNLOAD_THREADS: Key =
    key("download.threads", "4", "downloading threads").bounded(1, 512, Number);
/// `download.max_bytes`: 16 GiB at most.
pub const DOWNLOAD_MAX_BYTES: Key = key(
    "download.max_bytes",
    "20971520",
    "a larger file (after decoding) fails its page (20 MiB)",
)
.bounded(1, 16 << 30, Number);
/// `download.hosts`.
pub const DOWNLOAD_HOSTS: Key = key(
    "download.hosts",
    "`[]`",
    "hosts files may be on besides the site's own; other files are skipped",
);
/// `download.referer`.
pub const DOWNLOAD_REFERER: Key = key(
    "download.referer",
    "false",
    "send each file request a `Referer`: the page its URL was found on (the list page, or the \
     item's detail page for a `[follow.fields]` field), as hot-link protection asks",
);
/// `download.name`.
pub const DOWNLOAD_NAME: Key = key(
    "download.name",
    "unset",
    "a file name template from the item's fields, such as `\"{alt}{ext}\"`, or with folders, \
     `\"{title}/{n}{ext}\"` (`{n}`: the file's position in the item, from 1); each part made \
     safe (no `/`, `\\`, leading dots or `..` from a value, at most 200 bytes), never leaving \
     `dir`; without `{n}` an item's 2nd, 3rd … file gets `-2`, `-3` …; a name another URL holds \
     gets the next free suffix; unset = `<sha1 of the URL><ext>`, as Scrapy names them",
)
.bounded(1, SELECTOR_MAX, Bytes)
.unset("each file is <sha1 of its URL><ext>");

// [output]
/// `output.path`.
pub const OUTPUT_PATH: Key = key(
    "output.path",
    "required",
    "JSON Lines file, appended to; parent folders are created; relative to the working \
     directory. A pipe or a device is not resumed, and one in /dev (`/dev/stdout`) needs \
     `output.state` set (see [output](output.md))",
);
/// `output.state`.
pub const OUTPUT_STATE: Key = key(
    "output.state",
    "`<path>.state`",
    "the journal of committed pages, used to resume; `<state>.lock` keeps a second pagecrawl \
     off the output",
);
/// `output.sync`.
pub const OUTPUT_SYNC: Key = key(
    "output.sync",
    "`\"batch\"`",
    "`\"page\"`: fsync after every page; `\"batch\"`: every 250 ms or 64 pages; `\"never\"` \
     (see [guarantees](resume-and-guarantees.md))",
);
/// `output.key`.
pub const OUTPUT_KEY: Key = key(
    "output.key",
    "unset",
    "a list field whose value names an item across rounds: the store keeps each key's last \
     values, and the summary counts new, changed, unchanged and gone items (see \
     [watch a listing](watch.md)); an item without a value in it is written as always and \
     counted as `items_without_key`",
)
.unset("items are not followed across rounds");
/// `output.changes`.
pub const OUTPUT_CHANGES: Key = key(
    "output.changes",
    "false",
    "with `key`: instead of every item each round, one line per event: `\"new\"`, \
     `\"changed\"` (with the names of the fields that changed and their previous values), \
     `\"gone\"` (after a complete round)",
);
/// `output.store`.
pub const OUTPUT_STORE: Key = key(
    "output.store",
    "`<path without extension>.db`",
    "the SQLite database of `key`: each key's last values and page, each page's validators, \
     every event (see [watch a listing](watch.md#the-store) for its tables)",
);
/// `output.dedup`.
pub const OUTPUT_DEDUP: Key = key(
    "output.dedup",
    "unset",
    "a field name: write only items whose value of that field was never written before (across \
     rounds and restarts), each with `\"first_seen\"`; unset = every item, every round",
)
.unset("every item is written, every round");
/// `output.seen`.
pub const OUTPUT_SEEN: Key = key(
    "output.seen",
    "`<path>.seen`",
    "the seen-set of `dedup`: 16 bytes (a 128-bit hash) per unique key",
);

// [log], [schedule], [service]
/// `log.stats_interval_secs`.
pub const STATS_INTERVAL_SECS: Key = key(
    "log.stats_interval_secs",
    "60",
    "progress line interval; 0 = off (a terminal shows a progress bar, or a spinner with pages \
     and rate when the range is unknown, instead)",
)
.bounded(0, 86_400, Number);
/// `schedule.every_secs`: at most a (leap) year.
pub const EVERY_SECS: Key = key(
    "schedule.every_secs",
    "unset",
    "crawl the range again this often, start to start; unset = crawl once and exit (see \
     [run as a service](service.md))",
)
.bounded(0, 366 * 86_400, Number)
.unset("crawl once, then exit");
/// `service.listen`.
pub const LISTEN: Key = key(
    "service.listen",
    "unset",
    "address for `GET /metrics` (Prometheus) and `GET /healthz`, e.g. `\"127.0.0.1:9187\"`; \
     unset = none",
)
.unset("no /metrics or /healthz");

// [frontier]
/// `frontier.kind`.
pub const FRONTIER_KIND: Key = key(
    "frontier.kind",
    "`\"local\"`",
    "`\"redis\"`: share the crawl with other daemons through Redis (see \
     [several machines](several-machines.md))",
);
/// `frontier.url`.
pub const FRONTIER_URL: Key = key(
    "frontier.url",
    "`\"redis://127.0.0.1:6379/0\"`",
    "the Redis server, with `kind = \"redis\"`",
);
/// `frontier.name`.
pub const FRONTIER_NAME: Key = key(
    "frontier.name",
    "`\"pagecrawl\"`",
    "the crawl's name: its keys are `pagecrawl:<name>:…`",
);
/// `frontier.lease_secs`.
pub const LEASE_SECS: Key = key(
    "frontier.lease_secs",
    "60",
    "a page taken and not acknowledged for this long goes to another daemon",
)
.bounded(0, 86_400, Seconds);

/// Every key, in the order `pagecrawl check` prints them and the docs list them.
pub const ALL: &[Key] = &[
    SITE_URL,
    FIRST_PAGE,
    LAST_PAGE,
    HAS_NEXT,
    NEXT,
    NEXT_URL,
    PAGE_SIZE,
    MAX_PAGES,
    MAX_FAILED_IN_A_ROW,
    CRAWLERS,
    PARSERS,
    QUEUE_PAGES,
    QUEUE_HTML,
    QUEUE_ITEMS,
    QUEUE_ITEMS_BYTES,
    USER_AGENT,
    TIMEOUT_SECS,
    CONNECT_TIMEOUT_SECS,
    RETRIES,
    BACKOFF_MS,
    DELAY_MS,
    MAX_BODY_BYTES,
    SHUTDOWN_GRACE_SECS,
    MAX_REDIRECTS,
    FOLLOW_OFFSITE_REDIRECTS,
    PROXY,
    PER_HOST,
    ROBOTS,
    CONDITIONAL,
    CA_FILE,
    HEADERS,
    FORMAT,
    ITEM,
    ENGINE,
    MAX_ITEMS_PER_PAGE,
    MAX_BYTES_PER_PAGE,
    FIELDS,
    FIELD,
    FOLLOW_FIELD,
    FOLLOW_CRAWLERS,
    FOLLOW_HOSTS,
    FOLLOW_NEXT,
    FOLLOW_MAX_PAGES,
    FOLLOW_FORMAT,
    FOLLOW_ENGINE,
    FOLLOW_FIELDS,
    FOLLOW_FIELD_SPEC,
    DOWNLOAD_FIELD,
    DOWNLOAD_DIR,
    DOWNLOAD_THREADS,
    DOWNLOAD_MAX_BYTES,
    DOWNLOAD_HOSTS,
    DOWNLOAD_NAME,
    DOWNLOAD_REFERER,
    OUTPUT_PATH,
    OUTPUT_STATE,
    OUTPUT_SYNC,
    OUTPUT_KEY,
    OUTPUT_CHANGES,
    OUTPUT_STORE,
    OUTPUT_DEDUP,
    OUTPUT_SEEN,
    STATS_INTERVAL_SECS,
    EVERY_SECS,
    LISTEN,
    FRONTIER_KIND,
    FRONTIER_URL,
    FRONTIER_NAME,
    LEASE_SECS,
];
