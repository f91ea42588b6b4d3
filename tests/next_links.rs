//! Listings paged by next links (`site.next`) and cursors (`site.next_url`): each page is fetched
//! at the URL the page before it names, numbered by its position; the listing ends at a page
//! without a next link, at a link back to a page already crawled, or at `site.max_pages`; a
//! failed page, a `kill -9` or a finished round leave a state the next run goes on from exactly
//! once; each service round starts again from `site.url`, and a page that answers 304 names
//! the page it named before; detail pages stay parallel.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::service::schedule;
use common::{Knobs, TestEnv, check_pages, kill_9_cycles, num, run_bounded};
use demo_site::{Fault, SiteOptions, expected_items};
use pagecrawl::{Config, ExitCode};

const LIMIT: Duration = Duration::from_secs(120);

/// The `[extract]` table of a JSON listing: config/demo-json.toml's.
const JSON_EXTRACT: &str = include_str!("../config/demo-json.toml");

/// The config text of `knobs` for a next-link listing: `site.url` the listing's first page
/// (`/top250`, no placeholder), "until empty", and `site` keys added.
fn next_toml(env: &TestEnv, knobs: &Knobs, site: &str) -> String {
    let knobs = Knobs {
        last_page: None,
        ..knobs.clone()
    };
    let text = env.config_toml(&knobs);
    let text = text.replacen("?start={offset}\"", "\"", 1);
    assert!(!text.contains("{offset}"), "{text}");
    text.replacen("[site]\n", &format!("[site]\n{site}\n"), 1)
}

/// The same with the JSON `[extract]` table.
fn json_toml(env: &TestEnv, knobs: &Knobs, site: &str) -> String {
    let text = next_toml(env, knobs, site);
    let (before, rest) = text.split_once("[extract]\n").unwrap();
    let (_, after) = rest.split_once("\n[output]").unwrap();
    format!("{before}{JSON_EXTRACT}\n[output]{after}")
}

/// The listing's first page, as `site.url` names it.
fn first_url(env: &TestEnv) -> String {
    format!("http://{}/top250", env.site.addr())
}

/// A JSON API of `pages` pages whose page `page` has its items (price aside) and the keys of
/// `links` (`next`, `has_next` …) instead of the site's own: a page that links elsewhere.
fn json_site_linking(pages: u64, page: u64, links: serde_json::Value) -> TestEnv {
    let opts = SiteOptions {
        pages,
        json: true,
        ..SiteOptions::default()
    };
    let body = json_page(&opts, page, links);
    TestEnv::new(SiteOptions {
        faults: BTreeMap::from([(page, Fault::Body(body))]),
        ..opts
    })
}

/// Page `page` of the JSON API of `opts`, its items' price aside, with `links` for its links.
fn json_page(opts: &SiteOptions, page: u64, links: serde_json::Value) -> String {
    let items: Vec<serde_json::Value> = expected_items(opts, page)
        .iter()
        .map(|item| {
            serde_json::json!({"title": item.title, "link": item.link, "rank": item.rank,
                               "price": {"amount": 1.5}, "tags": item.tags})
        })
        .collect();
    let mut body = links;
    body["items"] = serde_json::Value::Array(items);
    body.to_string()
}

/// The output's lines, as JSON.
fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    common::service::lines(&env.out_path())
}

#[test]
fn an_html_listing_is_read_through_its_next_links() {
    // Douban's paginator: `<span class="next"><a href="?start=25">`, and on the last page the
    // same span without a link. Odd pages have a `<base href>` on another host (their
    // paginator names the site in full).
    let env = TestEnv::with_pages(7);
    let knobs = Knobs {
        crawlers: 3,
        ..Knobs::default()
    };
    let config =
        Config::from_toml(&next_toml(&env, &knobs, "next = \"span.next a@href\"")).unwrap();
    let outcome = run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let items = env.items();
    let counts = check_pages(&items, &env.site.options());
    assert_eq!(counts, (0..7).map(|p| (p, 25)).collect());
    // Each page was asked for once, at the URL the page before it named.
    for page in 0..7 {
        assert_eq!(env.site.requests_for(page), 1, "page {page}");
        let url = items.iter().find(|i| i.page == page).unwrap().url.clone();
        let want = match page {
            0 => first_url(&env),
            n => format!("{}?start={}", first_url(&env), n * 25),
        };
        assert_eq!(url, want, "page {page}");
    }
    assert_eq!(env.site.requests_for(7), 0, "the last page names none");
    assert_eq!(outcome.end_of_listing, Some(7));
    assert_eq!(outcome.summary.not_crawled, 0);
}

#[test]
fn a_cursor_goes_into_next_url_percent_encoded() {
    // The JSON API's cursor is `p+1/`, `p+2/` …: sent as `p%2B1%2F`, or the server reads a
    // space.
    let env = TestEnv::new(SiteOptions {
        pages: 5,
        json: true,
        ..SiteOptions::default()
    });
    let site = format!(
        "next = \"$.cursor\"\nnext_url = \"{}?cursor={{next}}\"",
        first_url(&env)
    );
    let config = Config::from_toml(&json_toml(&env, &Knobs::default(), &site)).unwrap();
    let outcome = run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let lines = lines(&env);
    assert_eq!(lines.len(), 5 * 25);
    let opts = env.site.options();
    for line in &lines {
        let page = line["page"].as_u64().unwrap();
        let want = match page {
            0 => first_url(&env),
            n => format!("{}?cursor=p%2B{n}%2F", first_url(&env)),
        };
        assert_eq!(line["url"], want.as_str());
        assert!(
            expected_items(&opts, page)
                .iter()
                .any(|item| line["link"] == item.link.as_str()),
            "not an item of page {page}: {line}"
        );
    }
    for page in 0..5 {
        assert_eq!(env.site.requests_for(page), 1, "page {page}");
    }
}

#[test]
fn a_next_link_back_to_a_page_already_crawled_ends_the_listing() {
    // Page 3's next link goes back to page 1 (a site whose last page links to its start, or a
    // cursor that wraps round): the listing ends after page 3, nothing is fetched twice.
    let env = json_site_linking(8, 3, serde_json::json!({"next": "/top250?start=25#again"}));
    let config =
        Config::from_toml(&json_toml(&env, &Knobs::default(), "next = \"$.next\"")).unwrap();
    let outcome = run_bounded(config.clone(), pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let pages: BTreeMap<u64, usize> = lines(&env).iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l["page"].as_u64().unwrap()).or_insert(0) += 1;
        m
    });
    assert_eq!(pages, (0..4).map(|p| (p, 25)).collect());
    assert_eq!(outcome.end_of_listing, Some(4));
    for page in 0..4 {
        assert_eq!(env.site.requests_for(page), 1, "page {page}");
    }
    assert_eq!(env.site.requests_for(4), 0);

    // `try` walking to page 6 sees the loop too, and says where.
    let err = format!("{:#}", pagecrawl::preview(&config, 6, 0).unwrap_err());
    assert!(
        err.contains(&format!(
            "page 3 links back to {}?start=25#again, a page before it",
            first_url(&env)
        )),
        "{err}"
    );
    let asked: Vec<u64> = (0..5).map(|p| env.site.requests_for(p)).collect();
    assert_eq!(
        asked,
        [2, 2, 2, 2, 0],
        "each page once more, then the loop is seen"
    );
}

#[test]
fn max_pages_stops_a_next_link_listing_that_does_not_end() {
    let env = TestEnv::with_pages(10);
    let text = next_toml(
        &env,
        &Knobs::default(),
        "next = \"span.next a@href\"\nmax_pages = 3",
    );
    let outcome = run_bounded(
        Config::from_toml(&text).unwrap(),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    let stopped = outcome.stopped.clone().unwrap_or_default();
    assert!(stopped.contains("`site.max_pages` (3 pages"), "{stopped}");
    assert_eq!(
        check_pages(&env.items(), &env.site.options()),
        (0..3).map(|p| (p, 25)).collect()
    );
    assert_eq!(env.site.requests_for(3), 0, "page 3 is past max_pages");
}

#[test]
fn a_failed_page_ends_the_run_and_the_next_run_goes_on_from_it() {
    // Page 2 answers 500 once; without retries it fails, and no page after it can be known.
    let env = TestEnv::with_pages(5);
    env.site.set_options(SiteOptions {
        pages: 5,
        faults: BTreeMap::from([(
            2,
            Fault::Status {
                code: 500,
                times: 1,
                retry_after: None,
            },
        )]),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        retries: 0,
        ..Knobs::default()
    };
    let text = next_toml(&env, &knobs, "next = \"span.next a@href\"");
    let outcome = run_bounded(
        Config::from_toml(&text).unwrap(),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    assert_eq!(
        outcome.failed_pages.keys().copied().collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(
        check_pages(&env.items(), &env.site.options()),
        (0..2).map(|p| (p, 25)).collect()
    );
    assert_eq!(env.site.requests_for(3), 0);

    // The next run starts at page 2, at the URL page 1 named: pages 0 and 1 are not asked again.
    let outcome = run_bounded(
        Config::from_toml(&text).unwrap(),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.resumed_pages, 2);
    assert_eq!(
        check_pages(&env.items(), &env.site.options()),
        (0..5).map(|p| (p, 25)).collect()
    );
    let asked: Vec<u64> = (0..6).map(|p| env.site.requests_for(p)).collect();
    assert_eq!(asked, [1, 1, 2, 1, 1, 0]);
}

#[test]
fn kill_9_at_any_moment_then_a_resume_writes_every_page_once() {
    let env = TestEnv::new(SiteOptions {
        pages: 40,
        latency: Duration::from_millis(15),
        ..SiteOptions::default()
    });
    let config = env.dir.path().join("next.toml");
    let text = next_toml(&env, &Knobs::default(), "next = \"span.next a@href\"");
    std::fs::write(&config, text).unwrap();
    let (kills, stderr) = kill_9_cycles(&config, 6, 0x9e37_79b9_7f4a_7c15, LIMIT, || {});
    assert!(kills >= 3, "only {kills} kills landed mid-crawl: {stderr}");
    let items = env.items();
    assert_eq!(
        check_pages(&items, &env.site.options()),
        (0..40).map(|p| (p, 25)).collect(),
        "every page once, whole"
    );
    // Pages in order, as the listing gives them.
    assert!(items.windows(2).all(|w| w[0].page <= w[1].page));
}

#[test]
fn each_round_starts_again_from_site_url_and_unchanged_pages_answer_304() {
    // The site sends ETags. A 304 has no body to read a next link in: the store keeps what each
    // page named, and an unchanged page names it again.
    let env = TestEnv::new(SiteOptions {
        pages: 4,
        validators: demo_site::Validators::ETag,
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        output: "key = \"link\"\nchanges = true\n".to_string(),
        extra: schedule(3600),
        extra_fields: common::PRICE,
        ..Knobs::default()
    };
    let config = env.dir.path().join("rounds.toml");
    std::fs::write(
        &config,
        next_toml(&env, &knobs, "next = \"span.next a@href\""),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let once = || common::service::run_once(config);
    let first = once();
    assert_eq!((num(&first, "round"), num(&first, "items_new")), (1, 100));

    // Round 2: nothing changed. Every page answers 304 and names the page after it as before;
    // the listing's end is found (no item gone), and nothing is written.
    let second = once();
    assert_eq!(num(&second, "round"), 2);
    assert_eq!(num(&second, "pages_fetched"), 0);
    assert_eq!(num(&second, "pages_not_modified"), 4);
    assert_eq!(num(&second, "items_unchanged"), 100);
    assert_eq!(num(&second, "items_gone"), 0);
    for page in 0..5 {
        assert_eq!(
            env.site.requests_for(page),
            2 * u64::from(page < 4),
            "page {page}"
        );
    }
    assert_eq!(env.site.not_modified_answers(), 4);
    assert_eq!(lines(&env).len(), 100, "round 2 wrote no event");

    // Round 3: a price moves on page 2 and a book leaves page 1. Those two pages are read
    // again; pages 0 and 3 answer 304 and still lead on, so the round is complete: one book
    // changed, one gone.
    env.site.set_edition(demo_site::Edition {
        number: 1,
        prices: BTreeMap::from([(55, "99.99".to_string())]),
        removed: [30].into_iter().collect(),
        ..demo_site::Edition::default()
    });
    let third = once();
    assert_eq!(num(&third, "pages_fetched"), 2);
    assert_eq!(num(&third, "pages_not_modified"), 2);
    assert_eq!(
        (num(&third, "items_changed"), num(&third, "items_gone")),
        (1, 1)
    );
    let events: Vec<(String, u64)> = lines(&env)[100..]
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_string(),
                l["page"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(events, [("changed".into(), 2), ("gone".into(), 1)]);

    // Round 4: the listing grows by two pages. Page 3's paginator now has a next link, so its
    // body (and ETag) changed: it is read, and the chain goes on to the new pages.
    env.site.set_pages(6);
    let fourth = once();
    assert_eq!(num(&fourth, "items_new"), 50, "{fourth:?}");
    assert_eq!(num(&fourth, "items_gone"), 0);
    for page in 4..6 {
        assert_eq!(env.site.requests_for(page), 1, "page {page}");
    }
    assert_eq!(env.site.requests_for(6), 0);
}

#[test]
fn detail_pages_of_a_next_link_listing_are_fetched_in_parallel() {
    let env = TestEnv::new(SiteOptions {
        pages: 3,
        self_links: true,
        latency: Duration::from_millis(20),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        extra: "[follow]\nfield = \"link\"\ncrawlers = 4\n[follow.fields]\n\
                rating = { css = \"strong.rating_num\", type = \"number\" }\n"
            .to_string(),
        ..Knobs::default()
    };
    let text = next_toml(&env, &knobs, "next = \"span.next a@href\"");
    let outcome = run_bounded(
        Config::from_toml(&text).unwrap(),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let lines = lines(&env);
    assert_eq!(lines.len(), 75);
    assert!(
        lines.iter().all(|line| line["rating"].is_number()),
        "{lines:?}"
    );
    assert!(
        env.site.most_in_flight() > 1,
        "detail pages were fetched one at a time"
    );
}

#[test]
fn try_walks_the_next_links_to_the_page_asked_for() {
    let env = TestEnv::with_pages(4);
    let config = env.dir.path().join("try.toml");
    let text = next_toml(&env, &Knobs::default(), "next = \"span.next a@href\"");
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let out = common::run_bin(&["try", "-c", config, "--page", "2"], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let first = first_url(&env);
    assert!(
        stderr.contains(&format!("page 2: {first}?start=50\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("next page (`site.next`): {first}?start=75\n")),
        "{stderr}"
    );
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items.len(), 25);
    assert_eq!(items[0]["page"], 2);
    // Pages 0 and 1 were read for their links, page 2 for its items; nothing else.
    let asked: Vec<u64> = (0..4).map(|p| env.site.requests_for(p)).collect();
    assert_eq!(asked, [1, 1, 1, 0]);

    let out = common::run_bin(&["try", "-c", config, "--page", "3"], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(
            "no next page (`site.next` found none): the listing would end after this page"
        ),
        "{stderr}"
    );
    let out = common::run_bin(&["try", "-c", config, "--page", "5"], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "page 3 ({first}?start=75) names no next page (`site.next` = \"span.next a@href\"): \
             the listing ends there, before page 5"
        )),
        "{stderr}"
    );
    assert!(!env.out_path().exists(), "try writes nothing");
}

#[test]
fn has_next_false_ends_a_next_link_listing_whatever_the_page_links_to() {
    // Page 2 still names page 3, but says no page follows it: the listing ends after it, page
    // 3 is never asked for, and a second run has nothing left to do.
    let env = json_site_linking(
        6,
        2,
        serde_json::json!({"has_next": false, "next": "/top250?start=75"}),
    );
    let text = json_toml(
        &env,
        &Knobs::default(),
        "next = \"$.next\"\nhas_next = \"$.has_next\"",
    );
    for run in 0..2 {
        let outcome = run_bounded(
            Config::from_toml(&text).unwrap(),
            pagecrawl::Shutdown::new(),
            LIMIT,
        );
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(outcome.end_of_listing, Some(3), "run {run}");
        assert_eq!(lines(&env).len(), 75, "run {run}");
        let asked: Vec<u64> = (0..4).map(|p| env.site.requests_for(p)).collect();
        assert_eq!(asked, [1, 1, 1, 0], "run {run}");
    }
}
