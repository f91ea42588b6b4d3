//! Helpers for the tests of the shared frontier (`[frontier] kind = "redis"`): a `redis-server`
//! of the test's own, the config of each daemon of a shared crawl, starting and waiting for the
//! daemons, and the union of their outputs. Used by the `frontier_*` test files.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use demo_site::{SiteOptions, expected_items};

use super::{Knobs, TestEnv, read_items, spawn_bin, wait_bounded, wait_for};

/// How long any one daemon or command may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A `redis-server` of our own, with its data in a temp folder (append-only file, synced at
/// every write, so that a restart keeps everything).
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
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

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGTERM, which it answers by syncing) and starts it again on the same
    /// port and data.
    pub fn restart(&mut self, down_for: Duration) {
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

/// Stops `child` with SIGTERM and reaps it.
fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on a child we own and have not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// The config of daemon `n` of a shared crawl: its own output, the shared frontier.
pub fn daemon_config(
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
pub fn start_daemons(
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
pub fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A demo site of `pages` pages, each answered after `latency_ms`.
pub fn site(pages: u64, latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        latency: Duration::from_millis(latency_ms),
        ..SiteOptions::default()
    })
}

/// A crawl of pages 0 to `pages - 1` with 4 crawlers.
pub fn knobs(pages: u64) -> Knobs {
    Knobs {
        last_page: Some(pages - 1),
        crawlers: 4,
        ..Knobs::default()
    }
}

/// The union of the outputs: per page, how many times it was written in all (a page is written
/// whole or not at all); fails if an item differs from what the site served.
pub fn union(outputs: &[PathBuf], site: &SiteOptions) -> BTreeMap<u64, usize> {
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

/// Fails unless `out` exited 0, naming `who`; returns its stderr.
pub fn exit_ok(out: &Output, who: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{who}:\n{stderr}");
    stderr
}

/// Starts `count` daemons on a shared "until empty" crawl of `env` and waits for them all:
/// (exit codes, stderr of each, union of their outputs).
pub fn run_until_empty(
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
