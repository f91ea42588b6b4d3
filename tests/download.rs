//! `[download]`: the files an item names, stored under `download.dir` and listed in the item's
//! `files`, with the crawl's guarantees: every file's bytes on disk with one and many threads,
//! up to date on a re-run, `max_bytes`, no partial file under its final name after `kill -9`,
//! names from a template kept inside the folder, files that want one name each under a name of
//! its own (the same on every run), and a redirect to a private address refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, kill_9_cycles};
use demo_site::{Fault, SiteOptions, expected_detail, expected_items};
use md5::{Digest, Md5};
use pagecrawl::{ExitCode, FetchError, FileError, PageError};
use sha1::Sha1;

const LIMIT: Duration = Duration::from_secs(120);

fn site(pages: u64, latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        latency: Duration::from_millis(latency_ms),
        self_links: true,
        ..SiteOptions::default()
    })
}

fn files_dir(env: &TestEnv) -> PathBuf {
    env.dir.path().join("files")
}

/// `[follow]` taking each book's first image and its alt text, and `[download]` of that image
/// with `threads` threads and `extra` keys.
fn tables(env: &TestEnv, followers: usize, threads: usize, extra: &str) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = {followers}\n[follow.fields]\n\
         cover = \"div.gallery img@src\"\nalt = \"div.gallery img@alt\"\n\
         [download]\nfield = \"cover\"\ndir = {dir:?}\nthreads = {threads}\n\
         hosts = [\"localhost\"]\n{extra}\n",
        dir = files_dir(env).display().to_string()
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each line of `text`, as JSON.
fn parse(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The output lines, as JSON; the output must end on a line boundary.
fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(env.out_path()).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    parse(&text)
}

/// Checks every line: its item, its one file (named by the sha1 of its URL unless `named`),
/// whose bytes on disk are the image's and whose checksum is their md5. Returns the pages
/// present and the statuses seen.
fn check(env: &TestEnv, named: bool) -> (BTreeSet<u64>, BTreeMap<String, usize>) {
    check_lines(env, lines(env), named, false)
}

/// [`check`] on what a `kill -9` left: the whole lines only, and the page of the last one may
/// hold only its first items, since its write may have been cut short
/// ([`common::cut_after_kill`]). Every other page present must have all of its items.
fn check_after_kill(env: &TestEnv) {
    let text = std::fs::read_to_string(env.out_path()).unwrap_or_default();
    check_lines(env, parse(common::cut_after_kill(&text)), false, true);
}

/// The checks of [`check`] on `lines`; with `last_may_be_cut`, the page of the last line may
/// hold fewer items than the site served, but never others, nor any twice.
fn check_lines(
    env: &TestEnv,
    lines: Vec<serde_json::Value>,
    named: bool,
    last_may_be_cut: bool,
) -> (BTreeSet<u64>, BTreeMap<String, usize>) {
    let opts = env.site.options();
    let cut = lines
        .last()
        .filter(|_| last_may_be_cut)
        .map(|line| line["page"].as_u64().unwrap());
    let mut pages: BTreeMap<u64, usize> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for line in lines {
        let page = line["page"].as_u64().unwrap();
        let i = pages.entry(page).or_default();
        let global = page * opts.page_size as u64 + *i as u64;
        *i += 1;
        let item = &expected_items(&opts, page)[(global % opts.page_size as u64) as usize];
        assert_eq!(line["link"], item.link.as_str());
        let image = &expected_detail(&opts, global).images[0];
        let files = line["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{line}");
        let file = &files[0];
        assert_eq!(file["url"], image.url.as_str());
        let path = Path::new(file["path"].as_str().unwrap());
        assert_eq!(path.parent().unwrap(), files_dir(env), "{line}");
        let name = path.file_name().unwrap().to_str().unwrap();
        if !named {
            assert_eq!(
                name,
                format!("{}.png", hex(&Sha1::digest(image.url.as_bytes())))
            );
        }
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes == image.bytes,
            "{}: not the bytes of {}",
            path.display(),
            image.url
        );
        assert_eq!(file["checksum"], hex(&Md5::digest(&bytes)).as_str());
        *statuses
            .entry(file["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (page, n) in &pages {
        if cut == Some(*page) {
            assert!(
                *n <= opts.page_size,
                "page {page}, the last one written: duplicated items"
            );
        } else {
            assert_eq!(*n, opts.page_size, "page {page}: lost or duplicated items");
        }
    }
    (pages.into_keys().collect(), statuses)
}

/// The names in `dir`, but for the file names registry (and its SQLite companions, which a
/// `kill -9` may leave).
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| !name.starts_with(".pagecrawl-names.db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Asserts that no image was stored in `dir` itself, outside the files folder.
fn assert_no_png_outside(dir: &Path) {
    let outside: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

/// Book `book`'s first image: its URL, and its path on the site (where a fault is set).
fn first_image(env: &TestEnv, book: u64) -> (String, String) {
    let url = expected_detail(&env.site.options(), book).images[0]
        .url
        .clone();
    let path = url
        .split_once("/img/")
        .map(|(_, p)| format!("/img/{p}"))
        .expect("an image URL has /img/");
    (url, path)
}

#[test]
fn every_file_is_stored_whole_with_one_and_many_threads_then_up_to_date() {
    for (followers, threads) in [(1, 1), (4, 6)] {
        let env = site(6, 0);
        let knobs = Knobs {
            last_page: Some(5),
            extra: tables(&env, followers, threads, ""),
            ..Knobs::default()
        };
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        let (pages, statuses) = check(&env, false);
        assert_eq!(pages.len(), 6);
        assert_eq!(statuses, BTreeMap::from([("downloaded".to_string(), 150)]));
        assert_eq!(outcome.summary.files_downloaded, 150);
        assert_eq!(names_in(&files_dir(&env)).len(), 150, "no temporaries left");
        // Half the images are on the second host ("localhost"), listed in download.hosts.
        let opts = env.site.options();
        let on_second = (0..150)
            .filter(|&g| {
                expected_detail(&opts, g).images[0]
                    .url
                    .contains("localhost")
            })
            .count();
        assert!(on_second > 50, "{on_second}");

        // The same crawl again from scratch: every file is on disk already.
        env.reset();
        let again = env.crawl(&knobs, LIMIT);
        assert_eq!(again.exit_code(), ExitCode::Success, "{again:?}");
        let (_, statuses) = check(&env, false);
        assert_eq!(statuses, BTreeMap::from([("uptodate".to_string(), 150)]));
        assert_eq!(again.summary.files_downloaded, 0);
        assert_eq!(
            env.site.requests_for_path("/img/0-0.png"),
            1,
            "not fetched again"
        );
    }
}

#[test]
fn a_file_over_max_bytes_fails_its_page_and_leaves_nothing_behind() {
    let env = site(3, 0);
    // Book 30's first image (page 1), padded to 50 kB.
    let (url, path) = first_image(&env, 30);
    env.site
        .set_path_faults(BTreeMap::from([(path, Fault::Huge { bytes: 50_000 })]));
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(2),
            extra: tables(&env, 2, 2, "max_bytes = 10000"),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = &outcome.failed_pages[&1];
    assert!(
        matches!(reason, PageError::File { url: u, error: FileError::TooLarge(10000) } if *u == url),
        "{reason}"
    );
    assert_eq!(check(&env, false).0, BTreeSet::from([0, 2]));
    let names = names_in(&files_dir(&env));
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    let digest = hex(&Sha1::digest(url.as_bytes()));
    assert!(!names.iter().any(|n| n.starts_with(&digest)), "{names:?}");
}

#[test]
fn an_image_bomb_is_stopped_at_max_bytes_after_decoding() {
    let env = site(2, 0);
    let (url, path) = first_image(&env, 7);
    // A few kilobytes on the wire, 200 MB once decoded.
    env.site.set_path_faults(BTreeMap::from([(
        path,
        Fault::GzipBomb {
            decoded_bytes: 200 << 20,
        },
    )]));
    let started = Instant::now();
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra: tables(&env, 2, 2, "max_bytes = 100000"),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    assert!(
        matches!(
            outcome.failed_pages[&0],
            PageError::File {
                error: FileError::TooLarge(100000),
                ..
            }
        ),
        "{:?}",
        outcome.failed_pages
    );
    assert_eq!(check(&env, false).0, BTreeSet::from([1]));
    let names = names_in(&files_dir(&env));
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    // Page 1's files, and those of page 0 started before the bomb failed it (page 0's files
    // go out over both downloaders): stored, and up to date next run. Never the bomb.
    assert!((25..=25 + 24).contains(&names.len()), "{names:?}");
    let digest = hex(&Sha1::digest(url.as_bytes()));
    assert!(!names.iter().any(|n| n.starts_with(&digest)), "{names:?}");
}

#[test]
fn names_from_a_template_stay_in_the_folder() {
    let env = site(1, 0);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            extra: tables(&env, 2, 2, "name = \"{alt}{ext}\""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    check(&env, true);
    let opts = env.site.options();
    let climbing = expected_detail(&opts, 3).images[0].alt.clone();
    assert!(climbing.starts_with("../../"), "{climbing}");
    let names = names_in(&files_dir(&env));
    assert_eq!(names.len(), 25);
    // "../../<title> 图1" becomes "_._<title> 图1.png", inside the folder.
    let want = format!("{}.png", climbing.replace("../../", "_._"));
    assert!(names.contains(&want), "{want} not in {names:?}");
    assert_no_png_outside(env.dir.path());
}

#[test]
fn an_image_redirecting_to_a_private_address_is_refused() {
    let env = site(2, 0);
    let (url, path) = first_image(&env, 4);
    env.site.set_path_faults(BTreeMap::from([(
        path,
        Fault::Redirect {
            status: 302,
            location: "http://169.254.169.254/latest/meta-data/".to_string(),
        },
    )]));
    let knobs = Knobs {
        last_page: Some(1),
        extra: tables(&env, 2, 2, ""),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    // Without follow_offsite_redirects, the other site is refused first.
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    assert!(
        matches!(
            outcome.failed_pages[&0].fetch_error(),
            Some(FetchError::Redirect(why)) if why.contains("redirect to another site")
        ),
        "{:?}",
        outcome.failed_pages
    );
    // Even with redirects to other sites allowed, a private address is not.
    let text = env.config_toml(&knobs).replace(
        "shutdown_grace_secs",
        "follow_offsite_redirects = true\nshutdown_grace_secs",
    );
    env.reset();
    let config = pagecrawl::Config::from_toml(&text).unwrap();
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = &outcome.failed_pages[&0];
    assert!(
        matches!(
            reason,
            PageError::File { url: u, error: FileError::Fetch(err) }
                if *u == url && matches!(&**err, FetchError::Redirect(why)
                    if why.starts_with("redirect to 169.254.169.254 refused: not a public address"))
        ),
        "{reason}"
    );
    assert_eq!(check(&env, false).0, BTreeSet::from([1]));
}

#[test]
fn kill_9_leaves_no_partial_file_under_a_final_name() {
    let env = site(60, 3);
    let config = env.write_config(&Knobs {
        last_page: Some(59),
        crawlers: 3,
        queues: (4, 4, 16),
        sync: "page",
        extra: tables(&env, 4, 4, ""),
        ..Knobs::default()
    });
    // Every name a file may have, and its bytes.
    let opts = env.site.options();
    let want: BTreeMap<String, Vec<u8>> = (0..60 * 25)
        .map(|g| {
            let image = &expected_detail(&opts, g).images[0];
            let name = format!("{}.png", hex(&Sha1::digest(image.url.as_bytes())));
            (name, image.bytes.clone())
        })
        .collect();
    let check_files = || {
        for name in names_in(&files_dir(&env)) {
            if name.ends_with(".part") {
                continue;
            }
            let bytes = std::fs::read(files_dir(&env).join(&name)).unwrap();
            assert_eq!(Some(&bytes), want.get(&name), "{name}: partial or unknown");
        }
    };
    // After each kill, the whole lines are whole items with their files, none twice, and every
    // page but the one being written at the kill is complete; the final run's output must end
    // on a line boundary.
    let (kills, _) = kill_9_cycles(&config, 6, 0x1234_5678_9abc_def1, LIMIT, || {
        check_files();
        check_after_kill(&env);
    });
    assert!(kills >= 3, "only {kills} kills landed mid-crawl");
    let (pages, _) = check(&env, false);
    assert_eq!(pages.len(), 60);
    assert_eq!(lines(&env).len(), 1500);
    check_files();
    let names = names_in(&files_dir(&env));
    assert_eq!(names.len(), 1500, "every file once, no temporary left");
}

/// The race hammer with the two new stages: every mix of thread counts and tiny queues, some
/// crawls interrupted at a random moment. Each must end in bounded time, and every page that
/// was fetched must be in the output exactly once, each item with its detail fields and its
/// file on disk.
#[test]
fn race_hammer_with_follow_and_download() {
    let env = site(4, 0);
    let mut interrupted = 0;
    for round in 0..48usize {
        let knobs = Knobs {
            last_page: Some(3),
            crawlers: 1 + (round * 7) % 6,
            parsers: 1 + (round * 5) % 3,
            queues: (1 + round % 3, 1 + (round / 3) % 3, 1 + (round / 9) % 3),
            extra: tables(&env, 1 + (round * 3) % 7, 1 + (round * 11) % 5, ""),
            ..Knobs::default()
        };
        env.reset();
        let shutdown = pagecrawl::Shutdown::new();
        let stopper = (round % 4 == 3).then(|| {
            let shutdown = shutdown.clone();
            let after = Duration::from_micros(300 * (round as u64 % 11));
            std::thread::spawn(move || {
                std::thread::sleep(after);
                shutdown.request();
            })
        });
        let outcome = common::run_bounded(env.config(&knobs), shutdown, Duration::from_secs(30));
        if let Some(stopper) = stopper {
            stopper.join().unwrap();
        }
        let s = outcome.summary;
        assert!(outcome.failures.is_empty(), "{outcome:?}");
        assert_eq!(s.failed, 0, "round {round}: {s:?}");
        assert_eq!(
            s.fetched, s.written_pages,
            "round {round} {knobs:?}: a fetched page was not written"
        );
        let (pages, _) = check(&env, false);
        assert_eq!(pages.len() as u64, s.fetched, "round {round}");
        assert_eq!(s.fetched + s.not_crawled, 4, "round {round}: {s:?}");
        if outcome.interrupted {
            interrupted += 1;
        } else {
            assert_eq!(pages.len(), 4, "round {round}");
        }
    }
    assert!(
        interrupted >= 8,
        "only {interrupted} crawls were interrupted"
    );
}

#[test]
fn every_url_of_a_list_field_is_stored_in_order_and_named_apart() {
    let env = site(2, 0);
    let extra = format!(
        "[follow]\nfield = \"link\"\ncrawlers = 3\n[follow.fields]\n\
         images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
         rating = {{ css = \"strong.rating_num\", type = \"number\" }}\n\
         [download]\nfield = \"images\"\ndir = {dir:?}\nthreads = 3\nname = \"{{title}}{{ext}}\"\n\
         hosts = [\"localhost\"]\n",
        dir = files_dir(&env).display().to_string()
    );
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra,
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let opts = env.site.options();
    let mut stored = 0;
    // Pages are written in the order they complete, a page's items in their order: sort by
    // page (stably) to number the books.
    let mut lines = lines(&env);
    lines.sort_by_key(|line| line["page"].as_u64().unwrap());
    for (global, line) in lines.iter().enumerate() {
        let detail = expected_detail(&opts, global as u64);
        let title = line["title"].as_str().unwrap();
        assert_eq!(
            line["rating"].as_f64(),
            detail.rating.parse().ok(),
            "{line}"
        );
        let files = line["files"].as_array().unwrap();
        assert_eq!(files.len(), detail.images.len(), "{line}");
        for (n, (file, image)) in files.iter().zip(&detail.images).enumerate() {
            assert_eq!(file["url"], image.url.as_str(), "in the order of the URLs");
            let name = match n {
                0 => format!("{title}.png"),
                n => format!("{title}-{}.png", n + 1),
            };
            let path = files_dir(&env).join(&name);
            assert_eq!(file["path"], path.display().to_string().as_str());
            assert_eq!(std::fs::read(&path).unwrap(), image.bytes, "{name}");
            stored += 1;
        }
    }
    assert_eq!(outcome.summary.files_downloaded, stored);
    assert_eq!(names_in(&files_dir(&env)).len() as u64, stored);
}

#[test]
fn a_file_on_a_listed_host_may_redirect_within_that_host() {
    let env = site(1, 0);
    let opts = env.site.options();
    // The first book whose first image is on the second host ("localhost").
    let book = (0..25)
        .find(|&g| {
            expected_detail(&opts, g).images[0]
                .url
                .contains("localhost")
        })
        .unwrap();
    let url = expected_detail(&opts, book).images[0].url.clone();
    let (origin, path) = url.split_once("/img/").unwrap();
    env.site.set_path_faults(BTreeMap::from([(
        format!("/img/{path}"),
        Fault::Redirect {
            status: 302,
            location: format!("{origin}/img/999-0.png"),
        },
    )]));
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            extra: tables(&env, 2, 2, ""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let lines = lines(&env);
    let line = lines
        .iter()
        .find(|l| l["cover"] == url.as_str())
        .unwrap_or_else(|| panic!("no line for {url}"));
    let file = &line["files"][0];
    assert_eq!(
        file["url"],
        url.as_str(),
        "recorded under the URL asked for"
    );
    let bytes = std::fs::read(file["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        bytes,
        demo_site::image_bytes(999, 0),
        "the bytes the redirect led to"
    );
}

#[test]
fn files_that_want_one_name_get_their_own_names_and_bytes_the_same_on_every_run() {
    // Named by the book's rating, which many books share: each image must still be stored
    // under a name of its own, with its own bytes, never taken as "uptodate" for another's.
    let env = site(1, 0);
    let extra = format!(
        "[follow]\nfield = \"link\"\ncrawlers = 2\n[follow.fields]\n\
         cover = \"div.gallery img@src\"\nrating = \"strong.rating_num\"\n\
         [download]\nfield = \"cover\"\ndir = {dir:?}\nthreads = 2\nhosts = [\"localhost\"]\n\
         name = \"{{rating}}{{ext}}\"\n",
        dir = files_dir(&env).display().to_string()
    );
    let knobs = Knobs {
        last_page: Some(0),
        extra,
        ..Knobs::default()
    };
    let ratings: BTreeSet<String> = (0..25)
        .map(|book| expected_detail(&env.site.options(), book).rating.clone())
        .collect();
    assert!(
        ratings.len() < 25,
        "the test needs books that share a rating"
    );
    let mut runs = Vec::new();
    for run in 0..2 {
        if run == 1 {
            std::fs::remove_file(env.out_path()).unwrap();
            std::fs::remove_file(env.state_path()).unwrap();
        }
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        // Every item's file holds that item's image (check reads each one's bytes).
        let (_, statuses) = check(&env, true);
        let want = if run == 0 { "downloaded" } else { "uptodate" };
        assert_eq!(statuses, BTreeMap::from([(want.to_string(), 25)]));
        let names: Vec<String> = lines(&env)
            .iter()
            .map(|line| line["files"][0]["path"].as_str().unwrap().to_string())
            .collect();
        runs.push(names);
    }
    assert_eq!(runs[0], runs[1], "the same name for each URL on every run");
    let distinct: BTreeSet<&String> = runs[0].iter().collect();
    assert_eq!(distinct.len(), 25);
    // The first of each rating has the plain name, the others a suffix.
    let files: Vec<String> = names_in(&files_dir(&env))
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(files.len(), 25);
    for rating in &ratings {
        assert!(
            files.contains(&format!("{rating}.png")),
            "{rating}: {files:?}"
        );
    }
    assert!(
        files.iter().any(|name| name.ends_with("-2.png")),
        "{files:?}"
    );
}

#[test]
fn hot_link_protected_images_need_the_referer_of_the_page_they_were_found_on() {
    let env = TestEnv::new(SiteOptions {
        pages: 1,
        self_links: true,
        images_need_referer: true,
        ..SiteOptions::default()
    });
    // Without `download.referer`: every image answers 403, and the page fails.
    let knobs = |extra: &str| Knobs {
        last_page: Some(0),
        retries: 0,
        extra: tables(&env, 2, 2, extra),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs(""), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = &outcome.failed_pages[&0];
    assert!(
        matches!(reason, PageError::File { error: FileError::Fetch(err), .. }
            if matches!(**err, FetchError::Status { code: 403, .. })),
        "{reason}"
    );
    assert!(lines(&env).is_empty());

    // With it, each image is asked for with its detail page's URL, as a browser would.
    let outcome = env.crawl(&knobs("referer = true"), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    check(&env, false);
    let images: Vec<_> = env
        .site
        .requests_seen()
        .into_iter()
        .filter(|r| r.target.starts_with("/img/"))
        .collect();
    // At least one refused in the first run, then the 25 of the second.
    assert!(images.len() > 25, "{}", images.len());
    let origin = format!("http://{}", env.site.addr());
    for line in lines(&env) {
        let detail = line["link"].as_str().unwrap();
        assert!(detail.starts_with(&origin), "{detail}");
        let file = line["files"][0]["url"].as_str().unwrap();
        let path = &file[file.find("/img/").unwrap()..];
        let asked: Vec<_> = images.iter().filter(|r| r.target == path).collect();
        assert!(!asked.is_empty(), "{path} never asked for");
        for request in asked.iter().filter(|r| r.header("referer").is_some()) {
            assert_eq!(request.header("referer"), Some(detail), "{path}");
        }
        assert!(asked.iter().any(|r| r.header("referer") == Some(detail)));
    }
}

/// `[follow]` taking every image of a book and its first image's alt text, downloaded under
/// `name = "{alt}/{n}{ext}"`: a folder per book, its images `1.png`, `2.png` … in it.
fn gallery_tables(env: &TestEnv) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = 3\n[follow.fields]\n\
         images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
         alt = \"div.gallery img@alt\"\n\
         [download]\nfield = \"images\"\ndir = {dir:?}\nthreads = 3\n\
         name = \"{{alt}}/{{n}}{{ext}}\"\nhosts = [\"localhost\"]\n",
        dir = files_dir(env).display().to_string()
    )
}

#[test]
fn a_name_with_folders_gives_each_gallery_a_folder_that_never_leaves_the_dir() {
    let env = site(1, 0);
    let knobs = Knobs {
        last_page: Some(0),
        extra: gallery_tables(&env),
        ..Knobs::default()
    };
    let opts = env.site.options();
    for (run, want) in [(0, "downloaded"), (1, "uptodate")] {
        if run == 1 {
            env.reset();
        }
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        let lines = lines(&env);
        assert_eq!(lines.len(), 25);
        for (book, line) in lines.iter().enumerate() {
            let detail = expected_detail(&opts, book as u64);
            // "../../<title> 图1" becomes the folder "_._<title> 图1", inside the dir.
            let folder = detail.images[0].alt.replace("../../", "_._");
            let files = line["files"].as_array().unwrap();
            assert_eq!(files.len(), detail.images.len(), "{line}");
            for (n, (file, image)) in files.iter().zip(&detail.images).enumerate() {
                let path = files_dir(&env).join(&folder).join(format!("{}.png", n + 1));
                assert_eq!(file["path"], path.display().to_string().as_str(), "{line}");
                assert_eq!(file["status"], want);
                assert!(
                    std::fs::read(&path).unwrap() == image.bytes,
                    "{}",
                    path.display()
                );
            }
        }
    }
    // Nothing but folders at the top, and nothing outside the dir.
    let top: Vec<PathBuf> = std::fs::read_dir(files_dir(&env))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(top.len(), 25);
    assert!(top.iter().all(|p| p.is_dir()), "{top:?}");
    assert_no_png_outside(env.dir.path());
}

#[test]
fn a_folder_that_is_a_symbolic_link_is_never_stored_through() {
    let env = site(1, 0);
    let elsewhere = tempfile::tempdir().unwrap();
    let opts = env.site.options();
    let folder = expected_detail(&opts, 0).images[0]
        .alt
        .replace("../../", "_._");
    std::fs::create_dir_all(files_dir(&env)).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), files_dir(&env).join(&folder)).unwrap();
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            retries: 0,
            extra: gallery_tables(&env),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = outcome.failed_pages[&0].to_string();
    assert!(reason.contains("is a symbolic link"), "{reason}");
    assert!(lines(&env).is_empty());
    assert!(
        names_in(elsewhere.path()).is_empty(),
        "stored through the link"
    );
}

#[test]
fn the_files_of_one_page_go_out_over_every_downloader() {
    // One list page, one crawler and one detail crawler: any requests at once beyond two come
    // from the eight downloaders sharing that page's files. Each answer takes 50 ms.
    let env = site(1, 50);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            crawlers: 1,
            extra: tables(&env, 1, 8, ""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let (_, statuses) = check(&env, false);
    assert_eq!(statuses, BTreeMap::from([("downloaded".to_string(), 25)]));
    let most = env.site.most_in_flight();
    assert!(most >= 4, "{most} requests at once");
}
