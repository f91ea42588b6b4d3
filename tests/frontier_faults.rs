//! A shared crawl through Redis (`[frontier] kind = "redis"`) when something fails: a daemon
//! killed mid-crawl loses nothing (its leases are taken over), the daemons survive a Redis
//! restart, and an unreachable Redis is a clear error at start.
//!
//! Every test starts its own `redis-server` on a free loopback port, in a temp folder, and stops
//! it (`common::frontier::RedisServer`). `.ci/run` installs the server from Debian's packages.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::frontier::{LIMIT, RedisServer, exit_ok, knobs, lines_in, site, start_daemons, union};
use common::{Knobs, num, read_items, run_bin, spawn_bin, summary_of, wait_bounded, wait_for};

#[test]
fn a_killed_daemons_pages_are_taken_over() {
    let redis = RedisServer::start();
    let env = site(600, 40);
    let (mut daemons, outputs) = start_daemons(&env, &redis, 3, &knobs(600));
    wait_for("daemon 0 to commit some pages", LIMIT, || {
        lines_in(&outputs[0]) >= 10 * 25
    });
    // SIGKILL: no chance to finish or acknowledge anything.
    daemons[0].kill().expect("killing daemon 0");
    let _ = daemons[0].wait();
    let mut reclaims = 0;
    for (n, daemon) in daemons.drain(..).enumerate().skip(1) {
        let stderr = exit_ok(&wait_bounded(daemon, LIMIT), &format!("daemon {n}"));
        reclaims += num(&summary_of(&stderr), "lease_reclaims");
    }
    // The killed daemon's output may end in a torn line and pages it never committed: its
    // restart repairs it, as after any crash, and finds nothing left to crawl.
    let config = env.dir.path().join("daemon0.toml");
    let restarted = spawn_bin(&["run", "--config", config.to_str().unwrap()]);
    exit_ok(&wait_bounded(restarted, LIMIT), "daemon 0, restarted");
    let copies = union(&outputs, &env.site.options());
    assert_eq!(
        copies.len(),
        600,
        "every page is in the union after the kill"
    );
    let twice: Vec<u64> = copies
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&p, _)| p)
        .collect();
    // Only pages daemon 0 had committed but not acknowledged when it died can be fetched
    // twice: at most a commit batch and what its queues held.
    println!(
        "kill: {reclaims} pages taken over, {} pages written twice: {twice:?}",
        twice.len()
    );
    assert!(
        reclaims > 0,
        "daemon 0 held leases that the others took over"
    );
    assert!(twice.len() <= 64, "{twice:?}");
    // The dedup key removes them: by link, the union is the site exactly.
    let links: BTreeSet<String> = outputs
        .iter()
        .flat_map(|o| read_items(o))
        .map(|i| i.link)
        .collect();
    assert_eq!(links.len(), 600 * 25);
}

#[test]
fn daemons_survive_a_redis_restart() {
    let mut redis = RedisServer::start();
    let env = site(400, 40);
    let (daemons, outputs) = start_daemons(&env, &redis, 2, &knobs(400));
    wait_for("some pages committed", LIMIT, || {
        outputs.iter().map(|p| lines_in(p)).sum::<usize>() >= 20 * 25
    });
    redis.restart(Duration::from_millis(1500));
    for (n, daemon) in daemons.into_iter().enumerate() {
        exit_ok(&wait_bounded(daemon, LIMIT), &format!("daemon {n}"));
    }
    let copies = union(&outputs, &env.site.options());
    assert_eq!(
        copies.len(),
        400,
        "every page is in the union after the restart"
    );
}

#[test]
fn an_unreachable_redis_is_a_clear_error_at_start() {
    let env = site(5, 0);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let text = env.config_toml(&Knobs {
        extra: format!(
            "[frontier]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:{port}/0\"\nname = \"x\"\n"
        ),
        ..knobs(5)
    });
    let path = env.dir.path().join("unreachable.toml");
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the frontier at `frontier.url`"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!env.out_path().exists(), "nothing was crawled");
}
