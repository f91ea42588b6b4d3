//! Several daemons sharing one crawl through Redis (`[frontier] kind = "redis"`): the union of
//! their outputs holds every page exactly once, `output.dedup` uses the shared seen-set, and
//! every way an "until empty" listing ends (an empty page, a repeated last page, a block past
//! the end) ends it for all of them.
//!
//! Every test starts its own `redis-server` on a free loopback port, in a temp folder, and stops
//! it (`common::frontier::RedisServer`). `.ci/run` installs the server from Debian's packages.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::frontier::{
    LIMIT, RedisServer, exit_ok, knobs, run_until_empty, site, start_daemons, union,
};
use common::{Knobs, TestEnv, num, read_items, summary_of, wait_bounded};
use demo_site::{PastEnd, SiteOptions, expected_items};

#[test]
fn three_daemons_share_a_crawl_exactly_once() {
    let redis = RedisServer::start();
    let env = site(600, 5);
    let (daemons, outputs) = start_daemons(&env, &redis, 3, &knobs(600));
    let mut fetched = Vec::new();
    for (n, daemon) in daemons.into_iter().enumerate() {
        let stderr = exit_ok(&wait_bounded(daemon, LIMIT), &format!("daemon {n}"));
        fetched.push(num(&summary_of(&stderr), "pages_fetched"));
    }
    let copies = union(&outputs, &env.site.options());
    assert_eq!(copies.len(), 600, "every page is in the union");
    assert!(copies.values().all(|&n| n == 1), "no page twice");
    for (n, out) in outputs.iter().enumerate() {
        let pages: BTreeSet<u64> = read_items(out).iter().map(|i| i.page).collect();
        assert!(!pages.is_empty(), "daemon {n} did a share of the work");
        assert_eq!(pages.len() as u64, fetched[n], "daemon {n}");
    }
    assert_eq!(fetched.iter().sum::<u64>(), 600);
}

#[test]
fn dedup_uses_the_shared_seen_set() {
    let redis = RedisServer::start();
    let env = site(40, 0);
    let mut conn = redis::Client::open(redis.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // Items of page 3 were written by some daemon before: their keys are in Redis.
    let known: Vec<Vec<u8>> = expected_items(&env.site.options(), 3)
        .iter()
        .map(|i| {
            pagecrawl::testing::key_of([Some(i.link.as_str())])
                .to_le_bytes()
                .to_vec()
        })
        .collect();
    let _: () = redis::cmd("SADD")
        .arg("pagecrawl:books:seen")
        .arg(&known)
        .query(&mut conn)
        .unwrap();
    let knobs = Knobs {
        dedup: Some("link"),
        ..knobs(40)
    };
    let (daemons, outputs) = start_daemons(&env, &redis, 2, &knobs);
    for (n, daemon) in daemons.into_iter().enumerate() {
        exit_ok(&wait_bounded(daemon, LIMIT), &format!("daemon {n}"));
    }
    let mut links = BTreeSet::new();
    let mut lines = 0;
    for out in &outputs {
        for line in std::fs::read_to_string(out).unwrap_or_default().lines() {
            let item: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(item["first_seen"].is_string(), "{line}");
            assert_ne!(item["page"], 3, "page 3's items were seen before: {line}");
            links.insert(item["link"].as_str().unwrap().to_string());
            lines += 1;
        }
    }
    assert_eq!(
        (lines, links.len()),
        (39 * 25, 39 * 25),
        "each new item once"
    );
    // Every written item's key is now in Redis, with the 25 known before.
    let members: u64 = redis::cmd("SCARD")
        .arg("pagecrawl:books:seen")
        .query(&mut conn)
        .unwrap();
    assert_eq!(members, 40 * 25);
}

#[test]
fn the_shared_seen_set_spares_the_detail_pages_of_items_some_daemon_wrote() {
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 20,
        self_links: true,
        ..SiteOptions::default()
    });
    let mut conn = redis::Client::open(redis.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // Items of pages 3 and 7 were written by some daemon before.
    let opts = env.site.options();
    let known: Vec<Vec<u8>> = [3, 7]
        .iter()
        .flat_map(|&page| expected_items(&opts, page))
        .map(|i| {
            pagecrawl::testing::key_of([Some(i.link.as_str())])
                .to_le_bytes()
                .to_vec()
        })
        .collect();
    let _: () = redis::cmd("SADD")
        .arg("pagecrawl:books:seen")
        .arg(&known)
        .query(&mut conn)
        .unwrap();
    let knobs = Knobs {
        dedup: Some("link"),
        extra: "[follow]\nfield = \"link\"\ncrawlers = 2\n[follow.fields]\n\
                rating = \"strong.rating_num\"\n"
            .to_string(),
        ..knobs(20)
    };
    let (daemons, outputs) = start_daemons(&env, &redis, 2, &knobs);
    let mut detail_fetched = 0;
    for (n, daemon) in daemons.into_iter().enumerate() {
        let stderr = exit_ok(&wait_bounded(daemon, LIMIT), &format!("daemon {n}"));
        // A daemon that fetched no detail page leaves the counter out of its summary.
        let summary = summary_of(&stderr);
        if summary.contains_key("detail_pages_fetched") {
            detail_fetched += num(&summary, "detail_pages_fetched");
        }
    }
    let mut lines = 0;
    for out in &outputs {
        for line in std::fs::read_to_string(out).unwrap_or_default().lines() {
            let item: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(item["rating"].is_string(), "{line}");
            assert!(![3, 7].contains(&item["page"].as_u64().unwrap()), "{line}");
            lines += 1;
        }
    }
    assert_eq!(lines, 18 * 25, "each new item once");
    assert_eq!(
        detail_fetched,
        18 * 25,
        "no detail page fetched for an item written before"
    );
}

#[test]
fn until_empty_is_shared_and_every_way_a_listing_ends_ends_it_for_all() {
    let knobs = Knobs {
        last_page: None,
        crawlers: 4,
        retries: 0,
        ..Knobs::default()
    };
    let once =
        |copies: &BTreeMap<u64, usize>, pages: u64| (0..pages).all(|p| copies.get(&p) == Some(&1));

    // The end: an empty page, found by whichever daemon fetches it.
    let redis = RedisServer::start();
    let env = site(150, 2);
    let (codes, logs, copies) = run_until_empty(&env, &redis, 2, &knobs);
    assert_eq!(codes, [Some(0), Some(0)], "{logs:?}");
    assert!(once(&copies, 150) && copies.len() == 150, "{copies:?}");
    drop(redis);

    // A site that repeats its last page: a repeated page that comes after a higher one might
    // be the listing's last and is written, so pages fetched or parsed at the same time can
    // each put one page past the end in a daemon's output, and no more.
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 100,
        past_end: PastEnd::RepeatLast,
        ..SiteOptions::default()
    });
    let (codes, logs, copies) = run_until_empty(&env, &redis, 2, &knobs);
    assert_eq!(codes, [Some(0), Some(0)], "{logs:?}");
    assert!(once(&copies, 100), "{copies:?}");
    let in_flight_together = knobs.crawlers + knobs.parsers;
    assert!(
        copies.range(100..).count() <= 2 * in_flight_together,
        "{copies:?}"
    );
    drop(redis);

    // A site that blocks every page past the end: each daemon stops after its failed pages in
    // a row (exit 3), with the listing's pages each written once.
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 30,
        past_end: PastEnd::Status(403),
        ..SiteOptions::default()
    });
    let (codes, logs, copies) = run_until_empty(&env, &redis, 2, &knobs);
    assert_eq!(codes, [Some(3), Some(3)], "{logs:?}");
    assert!(
        logs.iter()
            .all(|log| log.contains("`site.max_failed_in_a_row` = 20")),
        "{logs:?}"
    );
    assert!(once(&copies, 30) && copies.len() == 30, "{copies:?}");
    let past: u64 = (30..2000).map(|p| env.site.requests_for(p)).sum();
    assert!(past <= 2 * 20 + 2 * 64, "{past} requests past the end");
}
