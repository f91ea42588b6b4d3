//! Watching a listing with several daemons on Redis (`output.key` with `frontier.kind =
//! "redis"`): rounds started by `pagecrawl seed`, the events of each round in the union of the
//! daemons' outputs exactly once (new, changed against the value some daemon wrote, gone once
//! every daemon completed the round), and a daemon killed with SIGKILL mid-round loses none and
//! writes none twice once it is started again.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use common::events::{counted, prices};
use common::frontier::{LIMIT, RedisServer, daemon_config, exit_ok, site};
use common::service::{Service, lines};
use common::{Knobs, TestEnv, run_bin, spawn_bin, wait_bounded};
use common::{num, summary_of};
use demo_site::{Edition, SiteOptions, Validators};

const PAGES: u64 = 30;

/// The crawl every daemon runs: pages 0..PAGES, keyed by link, events written.
fn knobs() -> Knobs {
    Knobs {
        last_page: Some(PAGES - 1),
        crawlers: 2,
        extra_fields: common::PRICE,
        output: "key = \"link\"\nchanges = true\n".to_string(),
        ..Knobs::default()
    }
}

/// Daemon `n`'s config and output.
fn daemon(env: &TestEnv, redis: &RedisServer, n: usize) -> (PathBuf, PathBuf) {
    daemon_config(env, redis, n, &knobs())
}

/// Starts daemon `n`.
fn start(config: &std::path::Path) -> Child {
    spawn_bin(&["run", "--config", config.to_str().unwrap()])
}

/// Runs a daemon on each of `configs` to the end of the round, each exiting 0: their logs.
fn run_daemons(configs: &[PathBuf]) -> Vec<String> {
    let daemons: Vec<Child> = configs.iter().map(|c| start(c)).collect();
    daemons
        .into_iter()
        .enumerate()
        .map(|(n, child)| exit_ok(&wait_bounded(child, LIMIT), &format!("daemon {n}")))
        .collect()
}

/// Runs daemons `0..count` to the end of the round, each exiting 0: the sums of their
/// summaries' `pages_fetched` and `pages_not_modified`.
fn round_of(env: &TestEnv, redis: &RedisServer, count: usize) -> (u64, u64) {
    let configs: Vec<PathBuf> = (0..count).map(|n| daemon(env, redis, n).0).collect();
    let (mut fetched, mut not_modified) = (0, 0);
    for stderr in run_daemons(&configs) {
        fetched += num(&summary_of(&stderr), "pages_fetched");
        // A daemon that judged no page has no watch counters in its summary.
        let summary = summary_of(&stderr);
        not_modified += summary
            .get("pages_not_modified")
            .map_or(0, |_| num(&summary, "pages_not_modified"));
    }
    (fetched, not_modified)
}

/// A site of `PAGES` pages answered after `latency_ms`, with an `ETag` on every list page.
fn etag_site(latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages: PAGES,
        latency: Duration::from_millis(latency_ms),
        validators: Validators::ETag,
        ..SiteOptions::default()
    })
}

/// `pagecrawl seed` on daemon 0's config: what it printed.
fn seed(env: &TestEnv, redis: &RedisServer) -> String {
    let out = run_bin(
        &[
            "seed",
            "--config",
            daemon(env, redis, 0).0.to_str().unwrap(),
        ],
        LIMIT,
    );
    exit_ok(&out, "pagecrawl seed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every line of every daemon's output `0..count`.
fn union(env: &TestEnv, redis: &RedisServer, count: usize) -> Vec<serde_json::Value> {
    let outputs: Vec<PathBuf> = (0..count).map(|n| daemon(env, redis, n).1).collect();
    union_of(&outputs)
}

/// Every line of `outputs`.
fn union_of(outputs: &[PathBuf]) -> Vec<serde_json::Value> {
    outputs.iter().flat_map(|out| lines(out)).collect()
}

/// The edition after `number - 1`: books `moved` at a new price, `removed` gone, two pages
/// with books added.
fn edition(number: u64, moved: &[u64], removed: &[u64]) -> Edition {
    Edition {
        number,
        prices: moved
            .iter()
            .map(|&b| (b, format!("{number}23.45")))
            .collect(),
        removed: removed.iter().copied().collect(),
        added: BTreeMap::from([(3 + number, 2), (20, number as usize)]),
        ..Edition::default()
    }
}

/// Checks round `n`'s events in `lines` against the prices before (`was`) and now (`now`):
/// the books whose price moved changed, the books no longer listed gone, the books listed
/// first now new, each once.
fn check_round(
    n: u64,
    lines: &[serde_json::Value],
    was: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) {
    let once = |links: Vec<&String>| -> BTreeMap<String, usize> {
        links.into_iter().map(|l| (l.clone(), 1)).collect()
    };
    let changed = once(
        now.iter()
            .filter(|(l, p)| was.get(*l).is_some_and(|old| old != *p))
            .map(|(l, _)| l)
            .collect(),
    );
    let gone = once(was.keys().filter(|l| !now.contains_key(*l)).collect());
    let new = once(now.keys().filter(|l| !was.contains_key(*l)).collect());
    assert_eq!(counted(n, "changed", lines), changed, "round {n}: changed");
    assert_eq!(counted(n, "gone", lines), gone, "round {n}: gone");
    assert_eq!(counted(n, "new", lines), new, "round {n}: new");
    for line in lines
        .iter()
        .filter(|l| l["round"] == n && l["event"] == "changed")
    {
        let link = line["link"].as_str().unwrap();
        assert_eq!(line["previous"]["price"].to_string(), was[link], "{line}");
        assert_eq!(line["price"].to_string(), now[link], "{line}");
        assert_eq!(line["changed"], serde_json::json!(["price"]), "{line}");
    }
}

#[test]
fn three_daemons_watch_a_changing_listing_round_after_round_each_event_once() {
    let redis = RedisServer::start();
    let env = etag_site(20);
    assert_eq!(round_of(&env, &redis, 3), (PAGES, 0));
    let first = prices(&env, PAGES);
    let lines_1 = union(&env, &redis, 3);
    check_round(1, &lines_1, &BTreeMap::new(), &first);
    assert_eq!(lines_1.len(), first.len(), "round 1 writes only new events");
    let working = (0..3)
        .filter(|&n| !lines(&daemon(&env, &redis, n).1).is_empty())
        .count();
    assert!(working >= 2, "only {working} daemon wrote events");

    // The round is over: `seed` starts the next; another `seed` while it runs starts none.
    env.site
        .set_edition(edition(1, &[5, 200, 420, 700], &[100, 101, 650]));
    let second = prices(&env, PAGES);
    assert!(seed(&env, &redis).contains("round 2 starts: 30 pages"));
    assert!(seed(&env, &redis).contains("round 2 goes on"));
    // Each daemon asks with the validators any daemon committed: the pages whose books did
    // not change answer 304, and none of their books is gone.
    let (fetched, not_modified) = round_of(&env, &redis, 2);
    assert_eq!(fetched + not_modified, PAGES);
    assert!(
        fetched > 0 && not_modified > 0,
        "{fetched} fetched, {not_modified} not modified"
    );
    let all = union(&env, &redis, 3);
    check_round(2, &all, &first, &second);

    // Nothing changed: every page answers 304, and no event at all.
    assert!(seed(&env, &redis).contains("round 3 starts"));
    assert_eq!(round_of(&env, &redis, 3), (0, PAGES));
    let all = union(&env, &redis, 3);
    assert!(
        all.iter().all(|l| l["round"].as_u64().unwrap() <= 2),
        "round 3 found nothing new"
    );
    assert!(all.len() > lines_1.len());
}

/// Kills daemon 0 (SIGKILL) a random moment after it starts crawling, while daemon 1 goes on,
/// then starts it again; both exit 0. Returns whether the kill landed before daemon 0 ended.
fn kill_one(env: &TestEnv, redis: &RedisServer, seed: &mut u64) -> bool {
    let (config_0, out_0) = daemon(env, redis, 0);
    let mut victim = start(&config_0);
    let other = start(&daemon(env, redis, 1).0);
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let delay = Duration::from_millis(30 + *seed % 400);
    let started = Instant::now();
    let mut landed = false;
    while started.elapsed() < LIMIT {
        if victim.try_wait().expect("polling daemon 0").is_some() {
            break;
        }
        if started.elapsed() >= delay {
            victim.kill().expect("SIGKILL");
            landed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = victim.wait();
    exit_ok(&wait_bounded(other, LIMIT), "daemon 1");
    // Started again on its output, it writes what it committed in Redis and did not write.
    exit_ok(&wait_bounded(start(&config_0), LIMIT), "daemon 0, again");
    let text = std::fs::read_to_string(&out_0).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn line");
    landed
}

#[test]
fn sigkill_of_one_daemon_mid_round_loses_no_event_and_writes_none_twice() {
    let redis = RedisServer::start();
    let env = etag_site(15);
    let mut moment = 0x2545_f491_4f6c_dd1du64;
    let mut landed = 0;
    let mut was = BTreeMap::new();
    let removals: [&[u64]; 3] = [&[], &[40, 41, 300], &[10, 600, 610]];
    let moves: [&[u64]; 3] = [&[], &[5, 200, 420, 700], &[6, 201, 421]];
    for round in 1..=3u64 {
        if round > 1 {
            env.site.set_edition(edition(
                round - 1,
                moves[round as usize - 1],
                removals[round as usize - 1],
            ));
            assert!(
                seed(&env, &redis).contains(&format!("round {round} starts")),
                "round {round}"
            );
        }
        let now = prices(&env, PAGES);
        landed += kill_one(&env, &redis, &mut moment) as u32;
        let all = union(&env, &redis, 2);
        check_round(round, &all, &was, &now);
        was = now;
    }
    assert!(landed >= 2, "only {landed} kills landed mid-round");
}

#[test]
fn an_until_empty_listing_watched_by_two_daemons_ends_its_rounds_and_finds_the_gone() {
    let redis = RedisServer::start();
    let env = site(PAGES, 10);
    let until_empty = Knobs {
        last_page: None,
        ..knobs()
    };
    let (configs, outputs): (Vec<PathBuf>, Vec<PathBuf>) = (0..2)
        .map(|n| daemon_config(&env, &redis, n, &until_empty))
        .unzip();
    run_daemons(&configs);
    let first = prices(&env, PAGES);
    check_round(1, &union_of(&outputs), &BTreeMap::new(), &first);
    env.site
        .set_edition(edition(1, &[3, 333], &[0, 1, 2, 724, 725]));
    let second = prices(&env, PAGES);
    let out = run_bin(&["seed", "--config", configs[1].to_str().unwrap()], LIMIT);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("round 2 starts"), "{said}");
    run_daemons(&configs);
    check_round(2, &union_of(&outputs), &first, &second);
}

#[test]
fn detail_fields_are_watched_across_daemons_their_pages_asked_in_full() {
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 4,
        self_links: true,
        validators: Validators::ETag,
        ..SiteOptions::default()
    });
    let follow = Knobs {
        last_page: Some(3),
        extra: "[follow]\nfield = \"link\"\ncrawlers = 2\n[follow.fields]\n\
                rating = \"strong.rating_num\"\n"
            .to_string(),
        ..knobs()
    };
    let (configs, outputs): (Vec<PathBuf>, Vec<PathBuf>) = (0..2)
        .map(|n| daemon_config(&env, &redis, n, &follow))
        .unzip();
    run_daemons(&configs);
    let first = union_of(&outputs);
    assert_eq!(first.len(), 100);
    assert!(
        first
            .iter()
            .all(|l| l["event"] == "new" && l["rating"].is_string())
    );
    // One price moves: the only event of round 2, the detail fields unchanged.
    env.site.set_edition(Edition {
        number: 1,
        prices: BTreeMap::from([(6, "99.99".to_string())]),
        ..Edition::default()
    });
    let out = run_bin(&["seed", "--config", configs[0].to_str().unwrap()], LIMIT);
    assert!(String::from_utf8_lossy(&out.stdout).contains("round 2 starts"));
    run_daemons(&configs);
    let second: Vec<serde_json::Value> = union_of(&outputs)
        .into_iter()
        .filter(|l| l["round"] == 2)
        .collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["event"], "changed");
    assert_eq!(second[0]["changed"], serde_json::json!(["price"]));
}

#[test]
fn two_services_on_redis_run_the_rounds_themselves_each_event_once() {
    let redis = RedisServer::start();
    let env = etag_site(5);
    let service = Knobs {
        extra: "[schedule]\nevery_secs = 3\n".to_string(),
        ..knobs()
    };
    let (configs, outputs): (Vec<PathBuf>, Vec<PathBuf>) = (0..2)
        .map(|n| daemon_config(&env, &redis, n, &service))
        .unzip();
    let services: Vec<Service> = configs.iter().map(|c| Service::start(c)).collect();
    for s in &services {
        s.wait_line("round 1 done");
    }
    let first = prices(&env, PAGES);
    // Between rounds (each daemon waits 3 s from its last round's start), the site changes.
    env.site
        .set_edition(edition(1, &[5, 200, 420], &[100, 101]));
    let second = prices(&env, PAGES);
    let (moved, removed, added) = (3, 2, second.len() + 2 - first.len());
    let started = Instant::now();
    loop {
        let all = union_of(&outputs);
        let count = |event: &str| all.iter().filter(|l| l["event"] == event).count();
        if count("changed") == moved && count("gone") == removed {
            break;
        }
        assert!(started.elapsed() < LIMIT, "the changes never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in &services {
        s.signal(libc::SIGTERM);
    }
    for s in services {
        let (code, log) = s.wait(LIMIT);
        assert_eq!(code, Some(0), "{log}");
    }
    // Every event once across the daemons and the rounds, whichever round saw it.
    let all = union_of(&outputs);
    let mut by_event: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for line in &all {
        let link = line["link"].as_str().unwrap().to_string();
        *by_event
            .entry(line["event"].as_str().unwrap())
            .or_default()
            .entry(link)
            .or_default() += 1;
    }
    let new: BTreeMap<String, usize> = first
        .keys()
        .chain(second.keys())
        .map(|l| (l.clone(), 1))
        .collect();
    assert_eq!(by_event["new"], new);
    assert_eq!(by_event["changed"].len(), moved);
    assert_eq!(by_event["gone"].len(), removed);
    assert!(by_event.values().flat_map(|m| m.values()).all(|&n| n == 1));
    assert_eq!(all.len(), first.len() + added + moved + removed);
}
