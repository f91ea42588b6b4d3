//! Several daemons sharing one crawl through Redis (`[frontier] kind = "redis"`): the union of
//! their outputs is complete, a daemon killed mid-crawl loses nothing (its leases are taken over),
//! and a Redis restart is survived.
//!
//! Every test starts its own `redis-server` on a free loopback port, in a temp folder, and stops
//! it. `.ci/run` installs the server from Debian's packages.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Knobs, TestEnv, num, read_items, run_bin, spawn_bin, summary_of, wait_bounded, wait_for,
};
use demo_site::{PastEnd, SiteOptions, expected_items};

const LIMIT: Duration = Duration::from_secs(120);

/// A `redis-server` of our own, with its data in a temp folder (append-only file, synced at
/// every write, so that a restart keeps everything).
struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = RedisServer::spawn(dir.path(), port);
        RedisServer { child, port, dir }
    }

    fn spawn(dir: &Path, port: u16) -> Child {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server (install it: apt-get install redis-server)");
        let url = format!("redis://127.0.0.1:{port}/0");
        wait_for("redis-server to answer", Duration::from_secs(10), || {
            redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        child
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGTERM, which it answers by syncing) and starts it again on the same
    /// port and data.
    fn restart(&mut self, down_for: Duration) {
        terminate(&mut self.child);
        let down = Instant::now();
        while down.elapsed() < down_for {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = RedisServer::spawn(self.dir.path(), self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on a child we own and have not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// The config of daemon `n` of a shared crawl: its own output, the shared frontier.
fn daemon_config(
    env: &TestEnv,
    redis: &RedisServer,
    n: usize,
    knobs: &Knobs,
) -> (PathBuf, PathBuf) {
    let out = env.dir.path().join(format!("daemon{n}/items.jsonl"));
    let knobs = Knobs {
        extra: format!(
            "{}\n[frontier]\nkind = \"redis\"\nurl = \"{}\"\nname = \"books\"\nlease_secs = 2\n",
            knobs.extra,
            redis.url()
        ),
        ..knobs.clone()
    };
    let text = env.config_toml(&knobs).replace(
        &env.out_path().display().to_string(),
        &out.display().to_string(),
    );
    let path = env.dir.path().join(format!("daemon{n}.toml"));
    std::fs::write(&path, text).expect("writing a daemon's config");
    (path, out)
}

/// Starts `count` daemons on one shared crawl; their processes and their outputs.
fn start_daemons(
    env: &TestEnv,
    redis: &RedisServer,
    count: usize,
    knobs: &Knobs,
) -> (Vec<Child>, Vec<PathBuf>) {
    (0..count)
        .map(|n| {
            let (config, out) = daemon_config(env, redis, n, knobs);
            (
                spawn_bin(&["run", "--config", config.to_str().unwrap()]),
                out,
            )
        })
        .unzip()
}

/// Lines in `path` so far (0 before it exists).
fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn site(pages: u64, latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        latency: Duration::from_millis(latency_ms),
        ..SiteOptions::default()
    })
}

fn knobs(pages: u64) -> Knobs {
    Knobs {
        last_page: Some(pages - 1),
        crawlers: 4,
        ..Knobs::default()
    }
}

/// The union of the outputs: per page, how many times it was written in all (a page is written
/// whole or not at all); fails if an item differs from what the site served.
fn union(outputs: &[PathBuf], site: &SiteOptions) -> BTreeMap<u64, usize> {
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for out in outputs {
        let items = read_items(out);
        let mut by_page: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
        for item in items {
            by_page
                .entry(item.page)
                .or_default()
                .push((item.title, item.link));
        }
        for (page, got) in by_page {
            let want: Vec<(String, String)> = expected_items(site, page)
                .into_iter()
                .map(|i| (i.title, i.link))
                .collect();
            assert!(!want.is_empty(), "page {page} has no items on the site");
            // A page committed twice by the same daemon would show as a multiple.
            assert_eq!(
                got.len() % want.len(),
                0,
                "page {page} in {}",
                out.display()
            );
            let times = got.len() / want.len();
            let repeated: Vec<(String, String)> =
                want.iter().cycle().take(got.len()).cloned().collect();
            assert_eq!(got, repeated, "page {page} in {}", out.display());
            *copies.entry(page).or_default() += times;
        }
    }
    copies
}

fn exit_ok(out: &Output, who: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{who}:\n{stderr}");
    stderr
}

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

/// Starts `count` daemons on a shared "until empty" crawl of `env` and waits for them all:
/// (exit codes, stderr of each, union of their outputs).
fn run_until_empty(
    env: &TestEnv,
    redis: &RedisServer,
    count: usize,
    knobs: &Knobs,
) -> (Vec<Option<i32>>, Vec<String>, BTreeMap<u64, usize>) {
    let (daemons, outputs) = start_daemons(env, redis, count, knobs);
    let (codes, logs) = daemons
        .into_iter()
        .map(|daemon| {
            let out = wait_bounded(daemon, LIMIT);
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .unzip();
    (codes, logs, union(&outputs, &env.site.options()))
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

    // A site that repeats its last page: at most two pages past the end per daemon (the first
    // repeated page it sees, and a lower one that comes after it and might have been the
    // listing's last).
    let redis = RedisServer::start();
    let env = TestEnv::new(SiteOptions {
        pages: 100,
        past_end: PastEnd::RepeatLast,
        ..SiteOptions::default()
    });
    let (codes, logs, copies) = run_until_empty(&env, &redis, 2, &knobs);
    assert_eq!(codes, [Some(0), Some(0)], "{logs:?}");
    assert!(once(&copies, 100), "{copies:?}");
    assert!(copies.range(100..).count() <= 2 * 2, "{copies:?}");
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
