//! The shared frontier's stream of pages in Redis (`[frontier] kind = "redis"`): seeding is done
//! once and another crawl under the same name is refused, the frontier lag counts every page not
//! yet acknowledged, and a page robots.txt disallows is handed back (with the failed pages, for
//! the next seed) instead of staying leased.
//!
//! Every test starts its own `redis-server` on a free loopback port, in a temp folder, and stops
//! it (`common::frontier::RedisServer`). `.ci/run` installs the server from Debian's packages.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::frontier::{LIMIT, RedisServer, daemon_config, exit_ok, knobs, site, start_daemons};
use common::{Knobs, TestEnv, num, read_items, run_bin, summary_of, wait_bounded};
use demo_site::SiteOptions;

#[test]
fn seeding_is_once_and_a_different_crawl_is_refused() {
    let redis = RedisServer::start();
    let env = site(50, 0);
    let (config, _) = daemon_config(&env, &redis, 0, &knobs(50));
    let config = config.to_str().unwrap();
    let first = run_bin(&["seed", "--config", config], LIMIT);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("seeded pagecrawl:books:pages: 50 pages"),
        "{stdout}"
    );
    let again = run_bin(&["seed", "--config", config], LIMIT);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("was seeded already"), "{stdout}");
    let mut conn = redis::Client::open(redis.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg("pagecrawl:books:pages")
        .query(&mut conn)
        .unwrap();
    assert_eq!(len, 50, "seeded exactly once");

    // Another selector under the same name is another crawl.
    let other = Knobs {
        extra_fields: "subtitle = \"span\"",
        ..knobs(50)
    };
    let (other, _) = daemon_config(&env, &redis, 1, &other);
    let refused = run_bin(&["run", "--config", other.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds another crawl"), "{stderr}");
}

#[test]
fn frontier_lag_counts_every_page_not_yet_acknowledged() {
    let redis = RedisServer::start();
    let env = site(80, 50);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let knobs = Knobs {
        crawlers: 1,
        extra: format!("[service]\nlisten = \"127.0.0.1:{port}\"\n"),
        ..knobs(80)
    };
    let (mut daemons, _) = start_daemons(&env, &redis, 1, &knobs);
    let daemon = daemons.remove(0);
    // Its pipes are read while the endpoint is polled.
    let waiter = std::thread::spawn(move || wait_bounded(daemon, LIMIT));
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let scrape = |name: &str| -> Option<f64> {
        let text = agent
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    // The first measurement, taken as the daemon starts: one crawler at 50 ms a page has
    // written a few pages, and every other page of the 80 counts, whether leased, waiting in
    // the stream or not yet added.
    let start = Instant::now();
    let (lag, written) = loop {
        assert!(start.elapsed() < Duration::from_secs(20), "no lag measured");
        if let Some(lag) = scrape("pagecrawl_frontier_lag").filter(|lag| *lag > 0.0) {
            let written = scrape("pagecrawl_pages_written_total").expect("pages written");
            break (lag, written);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        written < 40.0,
        "the measurement came late: {written} pages written"
    );
    assert!(
        (80.0 - written..=80.0).contains(&lag),
        "lag {lag} with {written} pages written"
    );
    exit_ok(&waiter.join().unwrap(), "daemon");
}

#[test]
fn a_page_robots_txt_disallows_is_handed_back_to_the_frontier_not_leased_forever() {
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 10,
        robots: demo_site::RobotsTxt::Text("User-agent: *\nDisallow: /top250?start=75$\n".into()),
        ..SiteOptions::default()
    });
    let (config, out) = daemon_config(&env, &redis, 0, &knobs(10));
    let config = config.to_str().unwrap();
    let run = run_bin(&["run", "--config", config], LIMIT);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_disallowed"), 1, "{stderr}");
    let pages: BTreeSet<u64> = read_items(&out).iter().map(|i| i.page).collect();
    assert_eq!(pages, (0..10).filter(|&p| p != 3).collect(), "{stderr}");

    // Its lease ended: nothing is pending, and the page is with the failed ones, for the next
    // seed to put back.
    let mut conn = redis::Client::open(redis.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("pagecrawl:books:pages")
        .arg("crawlers")
        .query(&mut conn)
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING answered {pending:?}")
    };
    assert_eq!(summary[0], redis::Value::Int(0), "pending: {summary:?}");
    let reason: Option<String> = redis::cmd("HGET")
        .arg("pagecrawl:books:failed")
        .arg(3)
        .query(&mut conn)
        .unwrap();
    assert_eq!(reason.as_deref(), Some("disallowed by robots.txt"));

    // Allowed again: the next seed puts it back, and a run writes it.
    env.site.set_robots(demo_site::RobotsTxt::Missing);
    let seed = run_bin(&["seed", "--config", config], LIMIT);
    assert_eq!(seed.status.code(), Some(0), "{:?}", seed);
    let run = run_bin(&["run", "--config", config], LIMIT);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let pages: BTreeSet<u64> = read_items(&out).iter().map(|i| i.page).collect();
    assert_eq!(pages, (0..10).collect(), "{stderr}");
    assert_eq!(read_items(&out).len(), 250, "every item once");
}
