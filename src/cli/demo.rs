//! The `demo` subcommand: crawl the built-in sample site, or serve it alone.
//!
//! `pagecrawl demo` starts [`demo_site`] in-process on an ephemeral loopback port, crawls it
//! with the ordinary pipeline and a config built from the ordinary TOML format, then reads the
//! output back and checks it against what the site served. `--serve` runs the site alone for
//! other crawlers and benchmarks. Nothing here reaches beyond 127.0.0.1.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use log::info;

use demo_site::{
    DemoItem, DemoSite, Galleries, SiteOptions, Validators, expected_detail, expected_items,
};
use pagecrawl::config::{SyncMode, demo_toml};
use pagecrawl::{Config, ExitCode, OutputLock, OwnerLock, RunOptions, Shutdown};

use super::args::DemoArgs;
use super::demo_leftovers::{remove_demo_files, remove_gallery_files, remove_old};
use super::service::Overrides;
use super::signals;
use super::watch::Watch;

/// `pagecrawl demo`: verify a file, serve the site, or crawl it, as `args` say.
pub fn command(args: DemoArgs) -> Result<ExitCode> {
    if let Some(path) = &args.verify {
        return verify_file(path, args.pages);
    }
    if let Some(path) = &args.verify_changes {
        return super::demo_watch::verify_changes(path, args.pages, args.edition);
    }
    let shutdown = Shutdown::new();
    let output_lock = OutputLock::default();
    // Nothing to reload in a demo: SIGHUP is logged and ignored.
    drop(signals::install(shutdown.clone(), output_lock.clone())?);
    let latency = Duration::from_millis(args.latency_ms);
    if args.serve {
        let shape = Shape {
            pages: args.pages,
            page_size: args.page_size as usize,
            latency,
            detail_pages: args.follow || args.gallery,
            galleries: args.gallery,
            edition: args.edition,
            etags: args.etags,
            json: args.json,
        };
        return serve(args.listen, &shape, &shutdown);
    }
    if args.watch {
        return super::demo_watch::run(args.pages, &args.out, &shutdown, &output_lock);
    }
    let opts = DemoOptions {
        pages: args.pages,
        out: args.out,
        threads: Overrides {
            crawlers: args.crawlers,
            parsers: args.parsers,
            once: false,
        },
        latency,
        follow: match (args.follow, args.no_download, args.gallery) {
            (_, _, true) => Follow::Gallery,
            (false, _, false) => Follow::No,
            (true, true, false) => Follow::Detail,
            (true, false, false) => Follow::DetailAndFiles,
        },
        json: args.json,
        next: args.next,
        sync: match args.sync.as_str() {
            "page" => SyncMode::Page,
            "never" => SyncMode::Never,
            _ => SyncMode::Batch,
        },
    };
    run(&opts, &shutdown, &output_lock)
}

/// The site `pagecrawl demo --serve` serves.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Pages that carry items.
    pages: u64,
    /// Items on each of them.
    page_size: usize,
    /// Latency added to every response.
    latency: Duration,
    /// Whether books link to the site's own detail pages.
    detail_pages: bool,
    /// Whether those are galleries in parts, their images behind hot-link protection.
    galleries: bool,
    /// The edition of the listing ([`super::demo_watch::repriced_edition`]).
    edition: u64,
    /// Whether list pages carry an `ETag`.
    etags: bool,
    /// Whether the listing answers JSON.
    json: bool,
}

/// What `pagecrawl demo` was asked to do.
#[derive(Debug, Clone)]
struct DemoOptions {
    /// Pages that carry items; the crawl covers exactly these.
    pub pages: u64,
    /// The output file, replaced at the start of the demo.
    pub out: PathBuf,
    /// Crawler and parser threads, overriding the demo config's.
    pub threads: Overrides,
    /// Latency the site adds to every response.
    pub latency: Duration,
    /// When the crawl syncs its output and state.
    pub sync: SyncMode,
    /// Whether items are followed to their detail pages, and their images downloaded.
    pub follow: Follow,
    /// Whether the listing is the JSON API, crawled with config/demo-json.toml's fields.
    pub json: bool,
    /// Whether the listing is read through its next links (or, with `json`, its cursors).
    pub next: bool,
}

/// How far `pagecrawl demo` follows each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// The list only.
    No,
    /// The list and each item's detail page.
    Detail,
    /// The list, the detail pages and their images.
    DetailAndFiles,
    /// The list, each detail page as a gallery in parts, and their images (sent with their
    /// part as `Referer`), a folder per title: mzitu's shape.
    Gallery,
}

impl Follow {
    /// Whether images are downloaded.
    fn downloads(self) -> bool {
        matches!(self, Follow::DetailAndFiles | Follow::Gallery)
    }
}

/// Crawls the built-in site and verifies the output against it.
fn run(opts: &DemoOptions, shutdown: &Shutdown, output_lock: &OutputLock) -> Result<ExitCode> {
    if opts.pages == 0 {
        bail!("--pages must be at least 1");
    }
    let gallery = opts.follow == Follow::Gallery;
    let site = DemoSite::start(SiteOptions {
        pages: opts.pages,
        latency: opts.latency,
        self_links: opts.follow != Follow::No,
        galleries: match gallery {
            true => Galleries::Parts,
            false => Galleries::Off,
        },
        images_need_referer: gallery,
        json: opts.json,
        ..SiteOptions::default()
    })
    .context("starting the demo site on 127.0.0.1")?;
    info!(
        "demo site serving {} pages at http://{}/top250",
        opts.pages,
        site.addr()
    );

    let mut text = demo_toml(&site.url_template(), opts.pages - 1, &opts.out);
    if opts.json {
        text = json_demo_toml(&text);
    }
    if opts.next {
        text = next_demo_toml(&text, &format!("http://{}/top250", site.addr()), opts.json)?;
    }
    let files = files_dir(&opts.out, opts.follow);
    match opts.follow {
        Follow::No => {}
        Follow::Gallery => text.push_str(&gallery_toml(&files)),
        follow => text.push_str(&follow_toml(&files, follow.downloads())),
    }
    let mut config = Config::from_toml(&text).context("the built-in demo config")?;
    opts.threads.apply(&mut config);
    config.output.sync = opts.sync;
    let _owner = OwnerLock::acquire(&config.output)?;
    // A demo starts from an empty file and no state, so that its check below is meaningful.
    for path in [&config.output.path, &config.output.state] {
        remove_old(path)?;
    }

    match opts.follow {
        Follow::DetailAndFiles => remove_demo_files(&files)?,
        Follow::Gallery => remove_gallery_files(&files)?,
        Follow::No | Follow::Detail => {}
    }

    // Progress lines as the config says; never a bar, whatever stderr is.
    let options = RunOptions {
        scheduled: false,
        observer: Some(Arc::new(Watch::new(None, None))),
    };
    let outcome = pagecrawl::run_with(&config, shutdown, output_lock, &options)?;
    print_summary(opts, &outcome.summary, &files);
    let code = outcome.exit_code();
    if code == ExitCode::Success {
        let check = verify(&opts.out, &site.options(), true)?;
        println!("{check}");
        let mut complete = check.is_complete();
        if opts.follow != Follow::No {
            let details = verify_details(&opts.out, &site.options(), gallery)?;
            println!("{details}");
            complete &= details.is_complete(opts.follow.downloads());
        }
        if !complete {
            return Ok(ExitCode::Error);
        }
    }
    Ok(code)
}

/// The demo's lines about what it crawled.
fn print_summary(opts: &DemoOptions, s: &pagecrawl::stats::Summary, files: &Path) {
    println!(
        "demo: {} pages fetched, {} failed, {} items written to {} in {:.2}s ({:.0} pages/s, \
         {:.0} items/s)",
        s.fetched,
        s.failed,
        s.items,
        opts.out.display(),
        s.elapsed.as_secs_f64(),
        s.pages_per_sec(),
        s.items_per_sec()
    );
    if opts.follow != Follow::No {
        let parts = match opts.follow {
            Follow::Gallery => format!(" (and {} later parts)", s.detail_parts),
            _ => String::new(),
        };
        println!(
            "demo: {} detail pages fetched{parts}, {} files downloaded ({} bytes) into {}, {} up \
             to date",
            s.detail_fetched,
            s.files_downloaded,
            s.file_bytes,
            files.display(),
            s.files_uptodate
        );
    }
}

/// Where `demo --follow` stores images: `<out's name>-files` beside the output (with
/// `--gallery`, `<out's name>-galleries`, a folder per title).
fn files_dir(out: &Path, follow: Follow) -> PathBuf {
    let mut name = out.file_stem().unwrap_or_default().to_owned();
    name.push(match follow {
        Follow::Gallery => "-galleries",
        _ => "-files",
    });
    out.with_file_name(name)
}

/// The `[follow]` (and, with `download`, `[download]`) tables of `demo --follow`
/// (`config/demo-follow.toml`), images stored in `files`.
fn follow_toml(files: &Path, download: bool) -> String {
    let text = include_str!("../../config/demo-follow.toml").replace(
        "{files}",
        &toml::Value::String(files.display().to_string()).to_string(),
    );
    match text.split_once("\n[download]\n") {
        Some((follow, _)) if !download => follow.to_string(),
        _ => text,
    }
}

/// The demo config `text` with its `[extract]` table replaced by
/// `config/demo-json.toml`'s: the same fields, read from the JSON pages.
fn json_demo_toml(text: &str) -> String {
    let (before, rest) = text
        .split_once("[extract]\n")
        .expect("demo.toml has [extract]");
    let after = rest.split_once("\n[output]").map_or("", |(_, after)| after);
    format!(
        "{before}{}\n[output]{after}",
        include_str!("../../config/demo-json.toml")
    )
}

/// The demo config `text` reading the listing through its next links: `site.url` is `first`,
/// the first page, and the end is where a page names no next one. On HTML pages the next link
/// is the paginator's; on the JSON API (`json`) the cursor goes into `site.next_url`.
fn next_demo_toml(text: &str, first: &str, json: bool) -> Result<String> {
    let mut table: toml::Table = text.parse().context("the built-in demo config")?;
    let Some(toml::Value::Table(site)) = table.get_mut("site") else {
        bail!("the built-in demo config has no [site]");
    };
    site.remove("last_page");
    site.insert("url".into(), first.into());
    if json {
        site.insert("next".into(), "$.cursor".into());
        site.insert("next_url".into(), format!("{first}?cursor={{next}}").into());
    } else {
        site.insert("next".into(), "span.next a@href".into());
    }
    Ok(toml::to_string(&table)?)
}

/// The `[follow]` and `[download]` tables of `demo --gallery` (`config/demo-gallery.toml`),
/// images stored in folders in `files`.
fn gallery_toml(files: &Path) -> String {
    include_str!("../../config/demo-gallery.toml").replace(
        "{files}",
        &toml::Value::String(files.display().to_string()).to_string(),
    )
}

/// Serves the built-in site on `listen` until shutdown is requested; with `detail_pages`, its
/// books link to its own detail pages and images (what `demo --follow` crawls).
fn serve(listen: SocketAddr, shape: &Shape, shutdown: &Shutdown) -> Result<ExitCode> {
    let Shape {
        pages,
        page_size,
        latency,
        detail_pages,
        galleries,
        edition,
        etags,
        json,
    } = *shape;
    let site = DemoSite::bind(
        listen,
        SiteOptions {
            pages,
            page_size,
            latency,
            self_links: detail_pages,
            galleries: match galleries {
                true => Galleries::Parts,
                false => Galleries::Off,
            },
            images_need_referer: galleries,
            edition: super::demo_watch::repriced_edition(edition),
            json,
            validators: match etags {
                true => Validators::ETag,
                false => Validators::None,
            },
            ..SiteOptions::default()
        },
    )
    .with_context(|| format!("binding the demo site to {listen}"))?;
    let mut edition_note = match edition {
        0 => String::new(),
        n => format!(", edition {n}"),
    };
    if etags {
        edition_note.push_str(", ETags");
    }
    if json {
        edition_note.push_str(", JSON pages");
    }
    println!(
        "serving {pages} pages of {page_size} items at {} (latency {} ms{edition_note}{}); Ctrl-C \
         to stop",
        site.url_template(),
        latency.as_millis(),
        match (detail_pages, galleries) {
            (_, true) => {
                ", books link to galleries at /subject/<1000000 + book>/, /subject/<id>/2 …, \
                 images need their part as Referer"
            }
            (true, false) => ", books link to detail pages at /subject/<1000000 + book>/",
            (false, false) => "",
        }
    );
    shutdown.wait();
    drop(site);
    Ok(ExitCode::Success)
}

/// Checks any JSON Lines file against the items the site serves with `pages` pages, and prints
/// the counts as one JSON object on stdout. Exit status 0 only when nothing is missing,
/// duplicated or unexpected. The benchmark checks every crawler's output with this.
fn verify_file(path: &Path, pages: u64) -> Result<ExitCode> {
    let site = SiteOptions {
        pages,
        ..SiteOptions::default()
    };
    let check = verify(path, &site, false)?;
    println!("{}", serde_json::to_string(&check)?);
    Ok(if check.is_complete() {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

/// The result of comparing an output file with what the demo site served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
struct Verification {
    /// Items expected.
    pub expected: u64,
    /// Expected items not found in the file.
    pub missing: u64,
    /// Extra copies of expected items.
    pub duplicated: u64,
    /// Lines that are not an expected item (or do not parse).
    pub unexpected: u64,
}

impl Verification {
    /// No item missing, duplicated or unexpected.
    pub fn is_complete(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.unexpected == 0
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified against the site: {} items expected, {} missing, {} duplicated, {} unexpected",
            self.expected, self.missing, self.duplicated, self.unexpected
        )
    }
}

/// Compares the JSON Lines at `path` with every item the site serves.
///
/// An item is known by its `link` (unique across the site) and must carry the expected `title`;
/// a `page` field, when present, must name the page the item is on. With `strict` (our own
/// output, crawled with config/demo.toml), the `rank`, `price` and `tags` fields must hold the
/// expected integer, number and list. Other crawlers' output (the benchmark's peers) is checked
/// without `strict`, as long as it has `title` and `link`; a relative link there is taken as
/// the odd pages' `<base href>` makes it, since the peers do not resolve links.
fn verify(path: &Path, site: &SiteOptions, strict: bool) -> Result<Verification> {
    let mut wanted: HashMap<String, (u64, DemoItem, u32)> = HashMap::new();
    for page in 0..site.pages {
        for item in expected_items(site, page) {
            wanted.insert(item.link.clone(), (page, item, 0));
        }
    }
    let expected = wanted.len() as u64;
    let mut unexpected = 0;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let value = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default();
        let link = match value["link"].as_str() {
            Some(link) if !strict && !link.contains("://") => {
                format!("https://book.example/{link}")
            }
            Some(link) => link.to_string(),
            None => String::new(),
        };
        match wanted.get_mut(&link) {
            Some((page, item, seen))
                if value["title"].as_str() == Some(item.title.as_str())
                    && value["page"].as_u64().is_none_or(|p| p == *page)
                    && (!strict || has_the_demo_values(&value, item)) =>
            {
                *seen += 1;
            }
            _ => unexpected += 1,
        }
    }
    let missing = wanted.values().filter(|(_, _, n)| *n == 0).count() as u64;
    let duplicated = wanted
        .values()
        .map(|(_, _, n)| u64::from(n.saturating_sub(1)))
        .sum();
    Ok(Verification {
        expected,
        missing,
        duplicated,
        unexpected,
    })
}

/// Whether a line of our own demo output holds the rank, price and tags the site served, as
/// config/demo.toml's table forms turn them into JSON: an integer, an exact number and a list.
fn has_the_demo_values(value: &serde_json::Value, item: &DemoItem) -> bool {
    let tags: Option<Vec<&str>> = value["tags"]
        .as_array()
        .and_then(|tags| tags.iter().map(serde_json::Value::as_str).collect());
    value["rank"].as_u64() == Some(item.rank)
        && value["price"].as_f64() == item.price.parse::<f64>().ok()
        && tags.is_some_and(|tags| tags == item.tags)
}

/// What `demo --follow` found of the detail fields and files, item by item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DetailCheck {
    /// Items whose rating, summary and images are the detail page's.
    details_ok: u64,
    /// Items with a detail field missing or wrong.
    details_wrong: u64,
    /// Images the items of the file should have (1 to 3 per book).
    files_expected: u64,
    /// Files whose URL, bytes on disk and checksum are the image's, in the image's place.
    files_ok: u64,
    /// Files missing, out of place, with other bytes, or with a wrong checksum.
    files_wrong: u64,
}

impl DetailCheck {
    /// Every item's details right, and (with `files`) every file.
    fn is_complete(&self, files: bool) -> bool {
        self.details_wrong == 0
            && self.details_ok > 0
            && (!files || (self.files_wrong == 0 && self.files_ok == self.files_expected))
    }
}

impl std::fmt::Display for DetailCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified against the detail pages: {} items right, {} wrong; files: {} of {} right \
             (bytes and md5), {} wrong or missing",
            self.details_ok,
            self.details_wrong,
            self.files_ok,
            self.files_expected,
            self.files_wrong
        )
    }
}

/// Compares the detail fields and files of the items at `path` with the site's detail pages
/// and images; with `gallery`, each file must also be named by its place in the gallery, in a
/// folder of its own (`<title>/3.png`).
fn verify_details(path: &Path, site: &SiteOptions, gallery: bool) -> Result<DetailCheck> {
    use md5::{Digest, Md5};
    let mut books: HashMap<String, u64> = HashMap::new();
    for page in 0..site.pages {
        for (i, item) in expected_items(site, page).into_iter().enumerate() {
            books.insert(item.link, page * site.page_size as u64 + i as u64);
        }
    }
    let mut check = DetailCheck::default();
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let value = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default();
        let Some(&book) = value["link"].as_str().and_then(|link| books.get(link)) else {
            continue;
        };
        let want = expected_detail(site, book);
        let urls: Vec<&str> = want.images.iter().map(|image| image.url.as_str()).collect();
        let images: Option<Vec<&str>> = value["images"]
            .as_array()
            .and_then(|images| images.iter().map(serde_json::Value::as_str).collect());
        if value["rating"].as_f64() == want.rating.parse().ok()
            && value["summary"] == want.summary.as_str()
            && images.is_some_and(|images| images == urls)
        {
            check.details_ok += 1;
        } else {
            check.details_wrong += 1;
        }
        let Some(files) = value["files"].as_array() else {
            continue;
        };
        check.files_expected += want.images.len() as u64;
        for (n, image) in want.images.iter().enumerate() {
            let right = files.get(n).is_some_and(|file| {
                let bytes = file["path"]
                    .as_str()
                    .and_then(|path| std::fs::read(path).ok());
                let md5: String = Md5::digest(&image.bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let named = file["path"]
                    .as_str()
                    .is_some_and(|path| !gallery || path.ends_with(&format!("/{}.png", n + 1)));
                file["url"] == image.url.as_str()
                    && bytes.as_deref() == Some(image.bytes.as_slice())
                    && file["checksum"] == md5.as_str()
                    && named
            });
            if right {
                check.files_ok += 1;
            } else {
                check.files_wrong += 1;
            }
        }
        check.files_wrong += files.len().saturating_sub(want.images.len()) as u64;
    }
    Ok(check)
}
