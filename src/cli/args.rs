//! The command line: subcommands and their arguments (clap), with thread counts held to the
//! config file's bounds.

#[cfg(feature = "demo")]
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pagecrawl::config::keys;

/// Crawl page-numbered listings into JSON Lines, and stop without losing an item.
#[derive(Debug, Parser)]
#[command(name = "pagecrawl", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `pagecrawl --config PATH` is short for `pagecrawl run --config PATH`.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl as the config file says.
    Run(RunArgs),
    /// Crawl the built-in demo site (no internet needed), or serve it alone with --serve.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Validate a config file and print the effective settings.
    Check {
        /// The config file.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
    /// Fetch one page as the crawl would (every `[http]` setting, the config's extractor) and
    /// print its items as JSON, then how many items each field filled. Writes no file.
    Try {
        /// The config file.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
        /// The page number to fetch; `site.first_page` when not given.
        #[arg(long, value_name = "N")]
        page: Option<u64>,
        /// With `[follow]`: fetch the detail pages of the first N items and show those items
        /// whole (detail fields, and the files `[download]` would store, with their names).
        #[arg(long, value_name = "N", default_value_t = 3,
              value_parser = clap::value_parser!(u64).range(1..=1000))]
        items: u64,
    },
    /// Put the page range of a `[frontier] kind = "redis"` crawl into Redis (daemons also do
    /// it when they start; this is the same, exactly once), and put back pages that failed.
    Seed {
        /// The config file.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (TOML).
    #[arg(long, short, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Crawler threads, overriding `threads.crawlers`.
    #[arg(long, value_name = "N", value_parser = crawlers_arg)]
    pub crawlers: Option<NonZeroUsize>,
    /// Parser threads, overriding `threads.parsers`.
    #[arg(long, value_name = "N", value_parser = parsers_arg)]
    pub parsers: Option<NonZeroUsize>,
    /// Start over: move the old output and state aside (renamed, never deleted) instead of
    /// resuming from them.
    #[arg(long)]
    pub fresh: bool,
    /// With `[schedule]`: run one round now, as the service would run its next (a new round
    /// once the last one is finished), and exit with its exit code; for rounds driven by cron
    /// or a script instead of the schedule.
    #[arg(long)]
    pub once: bool,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pages with items on the demo site (25 items each).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub pages: u64,
    /// Where the demo crawl writes its items (replaced at each demo run).
    #[arg(long, default_value = "out/demo.jsonl", value_name = "PATH")]
    pub out: PathBuf,
    /// Crawler threads.
    #[arg(long, value_name = "N", value_parser = crawlers_arg)]
    pub crawlers: Option<NonZeroUsize>,
    /// Parser threads.
    #[arg(long, value_name = "N", value_parser = parsers_arg)]
    pub parsers: Option<NonZeroUsize>,
    /// Latency the site adds to every response, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "L")]
    pub latency_ms: u64,
    /// Also follow every book to its detail page (rating, summary, first image) and download
    /// the image (half of them from a second host), then verify every detail field and every
    /// file's bytes: the list → detail → files crawl. With --serve: serve the site that crawl
    /// reads, its books linking to its own detail pages (`/subject/<1000000 + book>/`) and
    /// images, for a crawler in another process (the benchmark's list + detail run).
    #[arg(long, conflicts_with = "verify")]
    pub follow: bool,
    /// Crawl galleries, the mzitu crawler's shape: each book's detail page is a gallery in
    /// parts (`/subject/<id>/`, `/subject/<id>/2` …, one image each) read through its next
    /// links (`follow.next`); each image answers 403 unless its part is the `Referer`
    /// (`download.referer`), and is stored as `<title>/<n>.png` (`download.name`). Then verify
    /// every gallery's images, their bytes and their names. With --serve: serve those galleries.
    #[arg(long, conflicts_with_all = ["follow", "verify"])]
    pub gallery: bool,
    /// The listing as a JSON API: the same pages at the same URLs answer JSON
    /// (`{"items": [...], "has_next": …}`); crawl them with `extract.format = "json"`
    /// (config/demo-json.toml) and verify every item as for HTML. With --serve: serve the JSON
    /// pages.
    #[arg(long, conflicts_with_all = ["follow", "gallery", "watch", "verify"])]
    pub json: bool,
    /// Page through the listing by its next links instead of its page numbers: `site.url` is
    /// the first page, `site.next` the paginator's next link (`span.next a@href`, absent on the
    /// last page); with --json, the API's opaque cursor (`$.cursor`) through `site.next_url`.
    /// Then verify every item as for the numbered listing.
    #[arg(long, conflicts_with_all = ["serve", "watch", "verify", "verify_changes"])]
    pub next: bool,
    /// With --follow: detail pages only, no downloads.
    #[arg(long, requires = "follow", conflicts_with = "serve")]
    pub no_download: bool,
    /// When the demo crawl syncs its output and state: page, batch or never.
    #[arg(long, default_value = "batch", value_name = "MODE", value_parser = ["page", "batch", "never"])]
    pub sync: String,
    /// Watch the site over three service rounds while it changes (1 % of prices move, books
    /// are taken down and added, then a round where every page answers 304), writing one line
    /// per new, changed or gone book, and check each round's events against the site's changes.
    #[arg(long, conflicts_with_all = ["follow", "gallery", "serve", "verify"])]
    pub watch: bool,
    /// Only serve the site, on --listen, until Ctrl-C.
    #[arg(long, conflicts_with = "verify")]
    pub serve: bool,
    /// Do not crawl: check the JSON Lines file PATH (any crawler's, with `title` and `link`
    /// fields) against the site of --pages pages, and print the counts as JSON.
    #[arg(long, value_name = "PATH")]
    pub verify: Option<PathBuf>,
    /// The address to serve on with --serve.
    #[arg(
        long,
        default_value = "127.0.0.1:8000",
        value_name = "ADDR",
        requires = "serve"
    )]
    pub listen: SocketAddr,
    /// With --serve: serve edition N of the listing (0, the first, unless set): from edition 1
    /// on, 1 % of the prices move from each edition to the next (the benchmark's watch
    /// rounds). With --verify-changes: the edition the events were crawled from.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub edition: u64,
    /// With --serve: list pages carry an `ETag`, and answer `304 Not Modified` to a request
    /// that has it.
    #[arg(long, requires = "serve")]
    pub etags: bool,
    /// Do not crawl: check the events of the last round in the JSON Lines file PATH (written
    /// with `output.key = "link"` and `output.changes = true`) against what changed from
    /// edition --edition minus 1 to --edition on a site of --pages pages, and print the counts
    /// as JSON. Exit 0 only when every expected event is there once and nothing else.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["serve", "verify", "watch", "follow", "gallery"])]
    pub verify_changes: Option<PathBuf>,
    /// With --serve: items on each list page (the benchmark's one page of 40 items).
    #[arg(
        long,
        default_value_t = 25,
        value_name = "N",
        requires = "serve",
        value_parser = clap::value_parser!(u64).range(1..=1000)
    )]
    pub page_size: u64,
}

/// `--crawlers`, within the bounds of `threads.crawlers`.
fn crawlers_arg(text: &str) -> Result<NonZeroUsize, String> {
    thread_count(keys::CRAWLERS, text)
}

/// `--parsers`, within the bounds of `threads.parsers`.
fn parsers_arg(text: &str) -> Result<NonZeroUsize, String> {
    thread_count(keys::PARSERS, text)
}

/// A thread count from the command line, held to the same bound as the config file's.
fn thread_count(key: keys::Key, text: &str) -> Result<NonZeroUsize, String> {
    let n: usize = text.parse().map_err(|err| format!("{err}"))?;
    key.check_usize(n).map_err(|err| err.to_string())?;
    NonZeroUsize::new(n).ok_or_else(|| "must be at least 1".to_string())
}
