//! The benchmark's spider peer: pagecrawl's job done with the `spider` crate, the usual way.
//!
//! Run by bench/run.py as
//!     spider-peer --url TEMPLATE --pages N --threads T --out PATH
//! TEMPLATE holds `{offset}` (page * 25) and/or `{page}`. It crawls pages 0..N-1 by number: the N
//! URLs are spider's start links (`set_extra_links` + `persist_links`, spider's documented way to
//! give a crawl more links than its start URL), fetched with at most T requests in flight
//! (`with_concurrency_limit`). Every page spider fetches arrives on its subscription channel
//! (`subscribe`) and is parsed with `scraper`: one item per `div.pl2`, the first `a`'s text with
//! whitespace collapsed as `title` and its `href` as `link`, written as JSON Lines to PATH.
//!
//! Why by number, not by following links: spider follows every same-site link it finds, but the
//! demo site's paginator (like Douban's) links only pages 1-10 and the next page, so past page 10
//! each page is found only once its predecessor is fetched: one request in flight whatever T is.
//! The pages also link 20 tag pages and a search page that no other peer fetches. Handing spider
//! the page list keeps T requests in flight, as pagecrawl and Scrapy do, and a should-crawl
//! callback that answers false (spider's documented "do not crawl the links found on this page")
//! keeps it to that list. spider still extracts every page's links, as its crawl loop always does.
//!
//! Why a thread pool behind the subscription: spider's channel is a tokio broadcast channel with
//! no backpressure. A subscriber that falls more than its capacity behind loses pages (counted
//! here as `lost`), and spider's own idle receiver keeps up to `capacity` pages alive all crawl
//! long, so a capacity as large as the crawl would hold every page in memory. So one thread only
//! moves pages from the channel to a queue (it never falls behind) and one parser thread per core
//! parses them, as pagecrawl's parsers do.
//!
//! Settings, so that it does what the other peers do and nothing more: no robots.txt, no delay,
//! 2 retries and a 30 s timeout per request (pagecrawl's benchmark config), spider's own HTTP
//! client otherwise as it comes. Exit codes: 0 every page fetched and parsed, 1 some page failed
//! or was never parsed, 2 usage.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use scraper::{ElementRef, Html, Selector};
use spider::CaseInsensitiveString;
use spider::page::Page;
use spider::tokio;
use spider::tokio::sync::broadcast::{self, error::RecvError};
use spider::website::Website;

/// Items per listing page; `{offset}` in the template is the page number times this.
const PAGE_SIZE: u64 = 25;

/// Pages the subscription channel holds for a receiver that is behind. The forwarding thread
/// only moves each page to a queue, so it is never far behind; spider's own idle receiver keeps
/// this many pages (about 70 KB each) alive, so it is not made larger than that needs.
const CHANNEL_CAPACITY: usize = 64;

const USAGE: &str = "usage: spider-peer --url TEMPLATE --pages N --threads T --out PATH";

/// The command line.
struct Args {
    /// The page URL template, with `{offset}` and/or `{page}`.
    url: String,
    /// Pages 0..pages are crawled.
    pages: u64,
    /// The most requests in flight at once.
    threads: usize,
    /// Where the JSON Lines go (replaced).
    out: PathBuf,
}

impl Args {
    /// Parses `--url`, `--pages`, `--threads` and `--out` (each required).
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut url, mut pages, mut threads, mut out) = (None, None, None, None);
        while let Some(flag) = argv.next() {
            let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |what: &str| -> Result<u64, String> {
                match value.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!(
                        "{what} must be a whole number above 0, not {value:?}"
                    )),
                }
            };
            match flag.as_str() {
                "--url" => url = Some(value.clone()),
                "--pages" => pages = Some(number("--pages")?),
                "--threads" => threads = Some(number("--threads")? as usize),
                "--out" => out = Some(PathBuf::from(&value)),
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        match (url, pages, threads, out) {
            (Some(url), Some(pages), Some(threads), Some(out)) => Ok(Args {
                url,
                pages,
                threads,
                out,
            }),
            _ => Err("--url, --pages, --threads and --out are all required".to_string()),
        }
    }
}

/// What the parsers saw, for the summary on stderr and the exit code.
#[derive(Default)]
struct Tally {
    /// Listed pages parsed.
    parsed: HashSet<u64>,
    /// Items written.
    items: u64,
    /// Pages that came back with an error status (after spider's retries).
    failed: u64,
    /// Pages received that are not in the list (none should be: counted to show it).
    unlisted: u64,
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("spider-peer: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (tally, lost) = match run(&args) {
        Ok(outcome) => outcome,
        Err(msg) => {
            eprintln!("spider-peer: {msg}");
            return ExitCode::from(1);
        }
    };
    let parsed = tally.parsed.len() as u64;
    eprintln!(
        "spider-peer: {parsed} of {} pages parsed, {} items written to {}; {} failed, {lost} lost \
         by the subscription channel, {} outside the list",
        args.pages,
        tally.items,
        args.out.display(),
        tally.failed,
        tally.unlisted
    );
    if parsed == args.pages && tally.failed == 0 && lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Crawls the listed pages with spider while the parser threads scrape them into `args.out`;
/// returns what the parsers saw and how many pages the subscription channel dropped.
fn run(args: &Args) -> Result<(Tally, u64), String> {
    let pages: HashMap<String, u64> = (0..args.pages)
        .map(|page| (page_url(&args.url, page), page))
        .collect();
    let out =
        File::create(&args.out).map_err(|err| format!("creating {}: {err}", args.out.display()))?;

    let mut website = Website::new(&page_url(&args.url, 0));
    website
        .with_concurrency_limit(Some(args.threads))
        .with_on_should_crawl_callback(Some(|_| false))
        .with_respect_robots_txt(false)
        .with_delay(0)
        .with_retry(2)
        .with_request_timeout(Some(Duration::from_secs(30)));
    website.set_extra_links(
        pages
            .keys()
            .map(|url| CaseInsensitiveString::from(url.as_str()))
            .collect(),
    );
    // Without it, the crawl's set-up clears the links above as left over from a previous run.
    website.persist_links();
    let receiver = website.subscribe(CHANNEL_CAPACITY);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("starting the tokio runtime: {err}"))?;
    let parsers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = Mutex::new(BufWriter::new(out));
    let (queue, queued) = crossbeam_channel::unbounded::<Page>();
    let (tally, lost) = std::thread::scope(|scope| {
        let forwarder = scope.spawn(move || forward(receiver, &queue));
        let workers: Vec<_> = (0..parsers)
            .map(|_| {
                let queued = queued.clone();
                scope.spawn(|| parse_pages(queued, &pages, &out))
            })
            .collect();
        drop(queued);
        runtime.block_on(website.crawl());
        // Dropping the last sender ends the forwarder once it has passed every page on, which
        // ends the parsers once they have parsed them.
        website.unsubscribe();
        drop(website);
        let lost = forwarder
            .join()
            .expect("the forwarding thread never panics");
        let mut tally = Tally::default();
        for worker in workers {
            let part = worker
                .join()
                .map_err(|_| "a parser thread panicked".to_string())?
                .map_err(|err| format!("writing {}: {err}", args.out.display()))?;
            tally.parsed.extend(part.parsed);
            tally.items += part.items;
            tally.failed += part.failed;
            tally.unlisted += part.unlisted;
        }
        Ok::<_, String>((tally, lost))
    })?;
    out.into_inner()
        .expect("no parser panicked holding the output")
        .flush()
        .map_err(|err| format!("writing {}: {err}", args.out.display()))?;
    Ok((tally, lost))
}

/// The URL of `page`: the template with `{offset}` and `{page}` filled in.
fn page_url(template: &str, page: u64) -> String {
    template
        .replace("{offset}", &(page * PAGE_SIZE).to_string())
        .replace("{page}", &page.to_string())
}

/// Moves every page from spider's channel to the parsers' queue until the channel closes;
/// returns how many pages the channel dropped because this thread fell behind.
fn forward(
    mut receiver: broadcast::Receiver<Page>,
    queue: &crossbeam_channel::Sender<Page>,
) -> u64 {
    let mut lost = 0;
    loop {
        match receiver.blocking_recv() {
            Ok(page) => {
                if queue.send(page).is_err() {
                    break; // every parser is gone (one failed to write): nothing left to do
                }
            }
            Err(RecvError::Lagged(n)) => lost += n,
            Err(RecvError::Closed) => break,
        }
    }
    lost
}

/// One parser thread: the items of every queued page, written to `out` a page at a time.
fn parse_pages(
    queued: crossbeam_channel::Receiver<Page>,
    pages: &HashMap<String, u64>,
    out: &Mutex<BufWriter<File>>,
) -> std::io::Result<Tally> {
    let item_selector = Selector::parse("div.pl2").expect("a valid selector");
    let anchor_selector = Selector::parse("a").expect("a valid selector");
    let mut tally = Tally::default();
    let mut lines = Vec::new();
    for page in queued {
        if !page.status_code.is_success() {
            tally.failed += 1;
            eprintln!(
                "spider-peer: {} answered {}",
                page.get_url(),
                page.status_code
            );
            continue;
        }
        let number = pages.get(page.get_url()).copied();
        match number {
            Some(n) => {
                tally.parsed.insert(n);
            }
            None => tally.unlisted += 1,
        }
        let html = Html::parse_document(&page.get_html());
        lines.clear();
        for node in html.select(&item_selector) {
            if let Some(item) = item(node, &anchor_selector, number) {
                serde_json::to_writer(&mut lines, &item)?;
                lines.push(b'\n');
                tally.items += 1;
            }
        }
        out.lock()
            .expect("no parser panicked holding the output")
            .write_all(&lines)?;
    }
    Ok(tally)
}

/// The item in `node`: its first link's text, whitespace collapsed, and `href`; None without one.
fn item(node: ElementRef, anchor: &Selector, page: Option<u64>) -> Option<serde_json::Value> {
    let anchor = node.select(anchor).next()?;
    let text: String = anchor.text().collect();
    let title = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(serde_json::json!({
        "page": page,
        "title": title,
        "link": anchor.value().attr("href"),
    }))
}
