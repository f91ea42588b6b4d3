//! `[follow]`: each item's detail page fetched and merged into the item, with the crawl's
//! guarantees: complete with one and with many threads, one list page's detail pages spread over
//! every detail crawler, a failing detail page fails its whole
//! list page (retried by the next run), nothing written without its detail fields, a stop
//! finishing or dropping whole pages, and `kill -9` leaving every item once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, kill_9_cycles, num, run_bounded, summary_of};
use demo_site::{Fault, SiteOptions, detail_book, expected_detail, expected_items};
use pagecrawl::{DetailError, ExitCode, FetchError, PageError, Shutdown};

const LIMIT: Duration = Duration::from_secs(120);

/// A site whose items link to its own detail pages.
fn site(pages: u64, latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        latency: Duration::from_millis(latency_ms),
        self_links: true,
        ..SiteOptions::default()
    })
}

/// `[follow]` with `crawlers` threads: the rating, the summary and the first image.
fn follow_table(crawlers: usize) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = {crawlers}\n[follow.fields]\n\
         rating = \"strong.rating_num\"\nsummary = \"div.intro p\"\ncover = \"div.gallery img@src\"\n"
    )
}

/// The output's text, empty before the file exists.
fn output(env: &TestEnv) -> String {
    match std::fs::read_to_string(env.out_path()) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => panic!("{err}"),
    }
}

/// Each line of `text`, as a JSON object.
fn parse(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// One output line, as a JSON object; the output must end on a line boundary.
fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = output(env);
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    parse(&text)
}

/// Checks that every line is a whole item of its page with its detail fields, that no item is
/// there twice, and that each page present has all of its items; returns the pages present.
fn check(env: &TestEnv) -> BTreeSet<u64> {
    check_lines(env, lines(env), false)
}

/// [`check`] on what a `kill -9` left: the whole lines only, and the page of the last one may
/// hold only its first items, since its write may have been cut short
/// ([`common::cut_after_kill`]). Every other page present must have all of its items.
fn check_after_kill(env: &TestEnv) {
    let text = output(env);
    check_lines(env, parse(common::cut_after_kill(&text)), true);
}

/// The checks of [`check`] on `lines`; with `last_may_be_cut`, the page of the last line may
/// hold fewer items than the site served, but never others, nor any twice.
fn check_lines(
    env: &TestEnv,
    lines: Vec<serde_json::Value>,
    last_may_be_cut: bool,
) -> BTreeSet<u64> {
    let opts = env.site.options();
    let cut = lines
        .last()
        .filter(|_| last_may_be_cut)
        .map(|line| line["page"].as_u64().unwrap());
    let mut by_page: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
    for line in lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            ["page", "url", "title", "link", "rating", "summary", "cover"]
        );
        by_page
            .entry(line["page"].as_u64().unwrap())
            .or_default()
            .push(line);
    }
    for (page, got) in &by_page {
        let want = expected_items(&opts, *page);
        if cut == Some(*page) {
            assert!(
                got.len() <= want.len(),
                "page {page}, the last one written: duplicated items"
            );
        } else {
            assert_eq!(
                got.len(),
                want.len(),
                "page {page}: lost or duplicated items"
            );
        }
        for (i, (line, item)) in got.iter().zip(&want).enumerate() {
            let global = page * opts.page_size as u64 + i as u64;
            let detail = expected_detail(&opts, detail_book(&opts, global));
            assert_eq!(line["title"], item.title.as_str());
            assert_eq!(line["link"], item.link.as_str());
            assert_eq!(line["rating"], detail.rating.as_str(), "{line}");
            assert_eq!(line["summary"], detail.summary.as_str(), "{line}");
            assert_eq!(line["cover"], detail.images[0].url.as_str(), "{line}");
        }
    }
    by_page.into_keys().collect()
}

#[test]
fn every_item_gets_its_detail_fields_with_one_and_many_threads() {
    for (crawlers, followers) in [(1, 1), (4, 8)] {
        let env = site(12, 0);
        let outcome = env.crawl(
            &Knobs {
                last_page: Some(11),
                crawlers,
                queues: (2, 2, 4),
                extra: follow_table(followers),
                ..Knobs::default()
            },
            LIMIT,
        );
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(check(&env).len(), 12, "{crawlers}/{followers}");
        let s = outcome.summary;
        assert_eq!((s.items, s.detail_fetched), (300, 300));
        // Each detail page once: no follow-up is fetched twice.
        for global in [0, 137, 299] {
            let path = format!("/subject/{}/", 1_000_000 + global);
            assert_eq!(env.site.requests_for_path(&path), 1, "{path}");
        }
    }
}

#[test]
fn the_detail_pages_of_one_list_page_go_out_over_every_detail_crawler() {
    // One list page of 25 items and one crawler: all the parallelism there is comes from the
    // eight detail crawlers sharing that page's detail pages. Each answer takes 50 ms, so
    // requests sent together are answered together.
    let env = site(1, 50);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            crawlers: 1,
            extra: follow_table(8),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check(&env).len(), 1);
    assert_eq!(outcome.summary.detail_fetched, 25);
    // One at a time (the list page's own thread) would be 1; all eight is the ideal.
    let most = env.site.most_in_flight();
    assert!((4..=8).contains(&most), "{most} requests at once");
}

#[test]
fn a_detail_page_many_items_link_to_is_fetched_once_per_round() {
    // 100 books in pairs: 50 detail pages, each linked from two items, often on two pages
    // crawled at the same time.
    let env = TestEnv::new(SiteOptions {
        pages: 4,
        self_links: true,
        detail_shared_by: 2,
        ..SiteOptions::default()
    });
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(3),
            extra: follow_table(8),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check(&env).len(), 4);
    let s = outcome.summary;
    assert_eq!((s.items, s.detail_fetched), (100, 50));
    for global in (0..100).step_by(2) {
        let path = format!("/subject/{}/", 1_000_000 + global);
        assert_eq!(env.site.requests_for_path(&path), 1, "{path}");
    }
    assert_eq!(env.site.requests_for_path("/subject/1000001/"), 0);
}

#[test]
fn a_failing_detail_page_fails_its_list_page_which_the_next_run_retries() {
    let env = site(4, 0);
    // Item 5 of page 2: three 500s, as many as the first run's attempts.
    let bad = "/subject/1000055/";
    env.site.set_path_faults(BTreeMap::from([(
        bad.to_string(),
        Fault::Status {
            code: 500,
            times: 3,
            retry_after: None,
        },
    )]));
    let knobs = Knobs {
        last_page: Some(3),
        retries: 2,
        extra: follow_table(3),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = &outcome.failed_pages[&2];
    assert!(
        matches!(
            reason,
            PageError::Detail { url, error: DetailError::Fetch(err) }
                if *url == format!("http://{}{bad}", env.site.addr())
                    && matches!(&**err, FetchError::Status { code: 500, .. })
        ),
        "{reason}"
    );
    assert_eq!(outcome.failed_pages.len(), 1);
    assert_eq!(outcome.summary.detail_failed, 1);
    // No item of page 2 is written, not even those whose detail pages answered.
    assert_eq!(check(&env), BTreeSet::from([0, 1, 3]));

    let again = env.crawl(&knobs, LIMIT);
    assert_eq!(again.exit_code(), ExitCode::Success, "{again:?}");
    assert_eq!(
        again.summary.fetched, 1,
        "only the failed page is fetched again"
    );
    assert_eq!(check(&env).len(), 4);
    assert_eq!(lines(&env).len(), 100);
}

#[test]
fn a_stalled_detail_page_times_out_and_fails_only_its_page() {
    let env = site(3, 0);
    env.site.set_path_faults(BTreeMap::from([(
        "/subject/1000030/".to_string(),
        Fault::Stall,
    )]));
    let started = Instant::now();
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(2),
            timeout_secs: 0.5,
            retries: 0,
            extra: follow_table(2),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    assert!(
        matches!(
            &outcome.failed_pages[&1],
            PageError::Detail { url, .. } if url.ends_with("/subject/1000030/")
        ),
        "{:?}",
        outcome.failed_pages
    );
    assert_eq!(check(&env), BTreeSet::from([0, 2]));
}

#[test]
fn a_stop_finishes_the_follow_ups_of_fetched_pages_within_the_grace_period() {
    let env = site(30, 5);
    // A detail page that never answers holds its list page until the grace deadline.
    let stalled = "/subject/1000007/";
    env.site
        .set_path_faults(BTreeMap::from([(stalled.to_string(), Fault::Stall)]));
    let knobs = Knobs {
        last_page: Some(29),
        crawlers: 2,
        grace_secs: 0.5,
        timeout_secs: 60.0,
        extra: follow_table(2),
        ..Knobs::default()
    };
    let shutdown = Shutdown::new();
    let config = env.config(&knobs);
    let stop = shutdown.clone();
    let handle = std::thread::spawn(move || run_bounded(config, stop, LIMIT));
    common::wait_for("the stalled detail page to be asked for", LIMIT, || {
        env.site.requests_for_path(stalled) >= 1
    });
    let stopped = Instant::now();
    shutdown.request();
    let outcome = handle.join().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "the grace period holds"
    );
    assert_eq!(outcome.exit_code(), ExitCode::Interrupted);
    let written = check(&env);
    assert!(
        !written.contains(&0),
        "page 0 waited on the stalled detail page"
    );
    assert!(written.len() < 30);

    // The next run fetches what is missing: every item once.
    env.site.set_path_faults(BTreeMap::new());
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check(&env).len(), 30);
    assert_eq!(lines(&env).len(), 750);
}

#[test]
fn links_to_unlisted_hosts_are_not_followed() {
    // Items link to book.example: not the site's host, and not listed.
    let env = TestEnv::with_pages(2);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra: follow_table(2),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(outcome.summary.detail_refused, 50);
    assert_eq!(outcome.summary.detail_fetched, 0);
    let lines = lines(&env);
    assert_eq!(lines.len(), 50);
    assert!(
        lines
            .iter()
            .all(|l| l["rating"].is_null() && l["cover"].is_null())
    );
}

#[test]
fn kill_9_with_follow_up_keeps_every_item_once() {
    let env = site(120, 3);
    let config = env.write_config(&Knobs {
        last_page: Some(119),
        crawlers: 4,
        queues: (4, 4, 16),
        sync: "page",
        extra: follow_table(6),
        ..Knobs::default()
    });
    // After each kill, the whole lines are whole items, none twice, and every page but the one
    // being written at the kill is complete; the final run's output must end on a line boundary.
    let (kills, stderr) = kill_9_cycles(&config, 6, 0x2545_f491_4f6c_dd1d, LIMIT, || {
        check_after_kill(&env);
    });
    assert!(kills >= 3, "only {kills} kills landed mid-crawl");
    assert_eq!(check(&env).len(), 120);
    assert_eq!(lines(&env).len(), 3000);
    let summary = summary_of(&stderr);
    assert!(num(&summary, "detail_pages_fetched") > 0, "{summary:?}");
}

#[test]
fn per_host_caps_requests_to_one_host_across_every_stage() {
    for per_host in [None, Some(2)] {
        let env = site(6, 30);
        let http = per_host.map_or(String::new(), |n| format!("per_host = {n}\n"));
        let text = env
            .config_toml(&Knobs {
                last_page: Some(5),
                crawlers: 4,
                extra: follow_table(4),
                ..Knobs::default()
            })
            .replace("[http]\n", &format!("[http]\n{http}"));
        let config = pagecrawl::Config::from_toml(&text).unwrap();
        let outcome = run_bounded(config, Shutdown::new(), LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(check(&env).len(), 6);
        let most = env.site.most_in_flight();
        match per_host {
            // 4 crawlers and 4 detail crawlers: more than 2 at once without a cap.
            None => assert!(most > 2, "{most}"),
            Some(n) => assert_eq!(most, n, "never more than per_host, and all of it used"),
        }
    }
}

#[test]
fn with_dedup_the_detail_pages_of_items_written_before_are_not_fetched_again() {
    let env = site(2, 0);
    let config = env.config(&Knobs {
        last_page: Some(3),
        dedup: Some("link"),
        extra: follow_table(3),
        ..Knobs::default()
    });
    let rounds = pagecrawl::RunOptions {
        scheduled: true,
        ..Default::default()
    };
    let round = || {
        let outcome =
            pagecrawl::run_with(&config, &Shutdown::new(), &Default::default(), &rounds).unwrap();
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        outcome
    };
    assert_eq!(round().summary.detail_fetched, 50);
    env.site.set_pages(3); // the listing grows between the rounds
    let second = round();
    assert_eq!(second.summary.items, 25, "only page 2's items are new");
    assert_eq!(
        second.summary.detail_fetched, 25,
        "only the new items' detail pages"
    );
    assert_eq!(env.site.requests_for_path("/subject/1000000/"), 1);
    assert_eq!(env.site.requests_for_path("/subject/1000050/"), 1);
    let new: Vec<serde_json::Value> = lines(&env).into_iter().filter(|l| l["page"] == 2).collect();
    assert_eq!(new.len(), 25);
    let opts = env.site.options();
    assert_eq!(new[0]["rating"], expected_detail(&opts, 50).rating.as_str());
}

#[test]
fn an_until_empty_crawl_with_follow_up_ends_at_the_end_of_the_listing() {
    let env = site(7, 0);
    let outcome = env.crawl(
        &Knobs {
            last_page: None,
            crawlers: 3,
            queues: (2, 2, 4),
            extra: follow_table(3),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.end_of_listing, Some(7));
    assert_eq!(check(&env).len(), 7);
    assert_eq!(outcome.summary.detail_fetched, 175);
}

#[test]
fn detail_pages_that_robots_txt_disallows_are_not_fetched() {
    let env = TestEnv::new(SiteOptions {
        pages: 2,
        self_links: true,
        robots: demo_site::RobotsTxt::Text("User-agent: *\nDisallow: /subject/1000001/\n".into()),
        ..SiteOptions::default()
    });
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra: follow_table(2),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.summary.detail_fetched, 49);
    assert_eq!(outcome.summary.detail_refused, 1);
    assert_eq!(env.site.requests_for_path("/subject/1000001/"), 0);
    assert_eq!(env.site.requests_for_path("/subject/1000002/"), 1);
    let lines = lines(&env);
    assert_eq!(lines.len(), 50);
    let book = |n: u64| {
        let link = format!("/subject/{}/", 1_000_000 + n);
        lines
            .iter()
            .find(|l| l["link"].as_str().unwrap().ends_with(&link))
            .unwrap()
    };
    assert!(book(1)["rating"].is_null() && book(1)["summary"].is_null());
    assert!(book(2)["rating"].is_string());
}

#[test]
fn sigint_with_follow_ups_exits_130_with_whole_pages_and_the_next_run_completes() {
    let env = site(80, 10);
    let config = env.write_config(&Knobs {
        last_page: Some(79),
        crawlers: 4,
        extra: follow_table(4),
        ..Knobs::default()
    });
    let child = common::spawn_bin(&["run", "--config", config.to_str().unwrap()]);
    common::wait_for("items on disk", LIMIT, || {
        std::fs::metadata(env.out_path()).is_ok_and(|m| m.len() > 0)
    });
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = common::wait_bounded(child, LIMIT);
    assert_eq!(out.status.code(), Some(130));
    let written = check(&env);
    assert!(
        !written.is_empty() && written.len() < 80,
        "{}",
        written.len()
    );

    let out = common::run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(check(&env).len(), 80);
    assert_eq!(lines(&env).len(), 2000);
}
