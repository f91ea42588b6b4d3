//! `[download]`: the files an item names, stored under `download.dir` and listed in the item's
//! `files`, with the crawl's guarantees: every file's bytes on disk with one and many threads,
//! up to date on a re-run, `max_bytes`, no partial file under its final name after `kill -9`,
//! a page's files spread over every downloader, `download.referer`, and a redirect to a private
//! address refused. How files are named is in `file_names.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::files::{
    check, check_after_kill, files_dir, first_image, hex, lines, names_in, site, tables,
};
use common::{Knobs, TestEnv, kill_9_cycles};
use demo_site::{Fault, SiteOptions, expected_detail};
use md5::Digest;
use pagecrawl::{ExitCode, FetchError, FileError, PageError};
use sha1::Sha1;

const LIMIT: Duration = Duration::from_secs(120);

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
    let images = image_requests(&env);
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

/// `download.referer` beside a `Referer` in `[http.headers]`: each file's own page is its
/// only `Referer`, never a second header (a request no browser sends, which hot-link
/// protection reads the first of).
#[test]
fn a_files_own_referer_replaces_the_configured_one() {
    let env = TestEnv::new(SiteOptions {
        pages: 1,
        self_links: true,
        images_need_referer: true,
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(0),
        retries: 0,
        http: "[http.headers]\nReferer = \"https://elsewhere.example/\"\n".to_string(),
        extra: tables(&env, 2, 2, "referer = true"),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    check(&env, false);
    let images = image_requests(&env);
    assert_eq!(images.len(), 25, "one request per image, none refused");
    for request in &images {
        let referers: Vec<&str> = request
            .headers
            .iter()
            .filter(|(name, _)| name == "referer")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(referers.len(), 1, "{}: {referers:?}", request.target);
        assert!(referers[0].contains("/subject/"), "{referers:?}");
    }
    // The list page, on the site's origin, still carries the configured one.
    let list = env
        .site
        .requests_seen()
        .into_iter()
        .find(|r| r.target.starts_with("/top250"))
        .unwrap();
    assert_eq!(list.header("referer"), Some("https://elsewhere.example/"));
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

/// The requests for images the site has seen so far, in order.
fn image_requests(env: &TestEnv) -> Vec<demo_site::SeenRequest> {
    env.site
        .requests_seen()
        .into_iter()
        .filter(|r| r.target.starts_with("/img/"))
        .collect()
}
