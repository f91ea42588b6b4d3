//! The keys of what follows a page and where it goes: `[follow]`, `[download]`, `[output]`,
//! `[log]`, `[schedule]`, `[service]` and `[frontier]`, one constant each.

use super::Key;
use super::Measure::{Bytes, Entries, Number, Seconds};
use super::key;

use super::crawl_table::SELECTOR_MAX;

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
     counted as `items_without_key`; with `frontier.kind = \"redis\"` the daemons share the \
     last values in Redis, rounds started by `pagecrawl seed`",
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
     [run as a service](service.md)); with `frontier.kind = \"redis\"`, only with \
     `output.key` (see [several daemons](watch.md#several-daemons))",
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
