//! Shared helpers for the integration tests: a temp folder, a local demo site, config files,
//! running the crawl (in-process or as the real binary) and checking its output.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod events;
pub mod files;
pub mod frontier;
pub mod service;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use demo_site::{DemoSite, SiteOptions, expected_items};
use pagecrawl::Outcome;
use pagecrawl::config::Config;
use pagecrawl::{OutputLock, Shutdown};

/// The demo site's price, as an `[extract.fields]` line: a number, for watching what changes.
pub const PRICE: &str = "price = { css = \"span.price\", re = '([0-9.]+)', type = \"number\" }";

/// Settings that tests vary; everything else gets a test-friendly default.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub first_page: u64,
    /// `None` = "until empty" mode.
    pub last_page: Option<u64>,
    pub crawlers: usize,
    pub parsers: usize,
    pub queues: (usize, usize, usize),
    pub timeout_secs: f64,
    pub retries: u32,
    pub backoff_ms: u64,
    pub delay_ms: u64,
    pub max_body_bytes: u64,
    /// Appended to the site's URL template, e.g. `&pagecrawl-test-panic=parser`.
    pub url_suffix: String,
    /// Use the site's raw-socket (hostile) server instead of the main (hyper) one.
    pub raw_server: bool,
    pub stats_interval_secs: u64,
    /// `output.sync`.
    pub sync: &'static str,
    /// `http.shutdown_grace_secs`.
    pub grace_secs: f64,
    /// `output.dedup`.
    pub dedup: Option<&'static str>,
    /// Extra `[extract.fields]` lines, such as `subtitle = "span"`.
    pub extra_fields: &'static str,
    /// `extract.engine`; `None` leaves the default.
    pub engine: Option<&'static str>,
    /// Appended to the file: more tables, such as `[schedule]` and `[service]`.
    pub extra: String,
    /// More keys in `[output]`, such as `key = "link"`.
    pub output: String,
    /// More keys in `[http]`.
    pub http: String,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            first_page: 0,
            last_page: Some(9),
            crawlers: 4,
            parsers: 2,
            queues: (8, 8, 64),
            timeout_secs: 10.0,
            retries: 2,
            backoff_ms: 10,
            delay_ms: 0,
            max_body_bytes: 10 * 1024 * 1024,
            url_suffix: String::new(),
            raw_server: false,
            stats_interval_secs: 0,
            sync: "batch",
            grace_secs: 30.0,
            dedup: None,
            extra_fields: "",
            engine: None,
            extra: String::new(),
            output: String::new(),
            http: String::new(),
        }
    }
}

/// A temp folder with a running demo site.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub site: DemoSite,
}

impl TestEnv {
    pub fn new(opts: SiteOptions) -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
            site: DemoSite::start(opts).expect("starting the demo site"),
        }
    }

    /// A site with `pages` pages of 25 items and no faults.
    pub fn with_pages(pages: u64) -> TestEnv {
        TestEnv::new(SiteOptions {
            pages,
            ..SiteOptions::default()
        })
    }

    pub fn out_path(&self) -> PathBuf {
        self.dir.path().join("out/items.jsonl")
    }

    pub fn config_toml(&self, k: &Knobs) -> String {
        let template = if k.raw_server {
            self.site.raw_url_template()
        } else {
            self.site.url_template()
        };
        let last = k
            .last_page
            .map_or(String::new(), |l| format!("last_page = {l}\n"));
        format!(
            r#"[site]
url = "{template}{suffix}"
first_page = {first}
{last}page_size = {page_size}

[threads]
crawlers = {crawlers}
parsers = {parsers}

[queues]
pages = {qp}
html = {qh}
items = {qi}

[http]
timeout_secs = {timeout}
connect_timeout_secs = 5
retries = {retries}
backoff_ms = {backoff}
delay_ms = {delay}
max_body_bytes = {max_body}
shutdown_grace_secs = {grace}
{http}
[extract]
item = "div.pl2"
{engine}[extract.fields]
title = "a"
link = "a@href"
{extra_fields}
[output]
path = {out:?}
sync = "{sync}"
{dedup}
{output_keys}
[log]
stats_interval_secs = {stats}

{extra}
"#,
            extra_fields = k.extra_fields,
            engine = k
                .engine
                .map_or(String::new(), |e| format!("engine = {e:?}\n")),
            dedup = k.dedup.map_or(String::new(), |d| format!("dedup = {d:?}")),
            extra = k.extra,
            http = k.http,
            output_keys = k.output,
            suffix = k.url_suffix,
            first = k.first_page,
            page_size = self.site.options().page_size,
            crawlers = k.crawlers,
            parsers = k.parsers,
            qp = k.queues.0,
            qh = k.queues.1,
            qi = k.queues.2,
            timeout = k.timeout_secs,
            retries = k.retries,
            backoff = k.backoff_ms,
            delay = k.delay_ms,
            max_body = k.max_body_bytes,
            out = self.out_path().display().to_string(),
            stats = k.stats_interval_secs,
            grace = k.grace_secs,
            sync = k.sync,
        )
    }

    pub fn config(&self, k: &Knobs) -> Config {
        Config::from_toml(&self.config_toml(k)).expect("test config is valid")
    }

    /// Writes the config for `k` and returns its path.
    pub fn write_config(&self, k: &Knobs) -> PathBuf {
        let path = self.dir.path().join("pagecrawl.toml");
        std::fs::write(&path, self.config_toml(k)).expect("writing config");
        path
    }

    /// Runs the pipeline in-process, failing the test if it takes longer than `limit`.
    pub fn crawl(&self, k: &Knobs, limit: Duration) -> Outcome {
        run_bounded(self.config(k), Shutdown::new(), limit)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("out/items.jsonl.state")
    }

    /// Removes the output and the state, for a crawl that starts from nothing.
    pub fn seen_path(&self) -> PathBuf {
        self.dir.path().join("out/items.jsonl.seen")
    }

    pub fn reset(&self) {
        for path in [self.out_path(), self.state_path(), self.seen_path()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => panic!("removing {}: {err}", path.display()),
            }
        }
    }

    pub fn items(&self) -> Vec<OutItem> {
        read_items(&self.out_path())
    }
}

/// Runs the pipeline on its own thread and fails (instead of hanging) if it is not done in `limit`.
pub fn run_bounded(config: Config, shutdown: Shutdown, limit: Duration) -> Outcome {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let handle = std::thread::spawn(move || {
        let outcome = pagecrawl::run(&config, &shutdown, &OutputLock::default());
        let _ = tx.send(outcome.map_err(|e| format!("{e:#}")));
    });
    let outcome = rx
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the crawl did not finish within {limit:?}: it hangs"));
    handle.join().expect("pipeline thread");
    outcome.expect("pipeline setup")
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutItem {
    pub page: u64,
    pub url: String,
    pub title: String,
    pub link: String,
}

/// Reads the output, asserting that every line is a whole JSON object with the expected keys.
pub fn read_items(path: &Path) -> Vec<OutItem> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("reading {}: {err}", path.display()),
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "output ends in a torn line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["page", "url", "title", "link"], "{line}");
            OutItem {
                page: v["page"].as_u64().unwrap(),
                url: v["url"].as_str().unwrap().to_string(),
                title: v["title"].as_str().unwrap().to_string(),
                link: v["link"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// Checks that every page present in `items` holds exactly the items the site served for it,
/// once each and in order, and returns how many items each page had.
pub fn check_pages(items: &[OutItem], site: &SiteOptions) -> BTreeMap<u64, usize> {
    let mut by_page: BTreeMap<u64, Vec<&OutItem>> = BTreeMap::new();
    for item in items {
        by_page.entry(item.page).or_default().push(item);
    }
    let mut counts = BTreeMap::new();
    for (page, got) in &by_page {
        let want = expected_items(site, *page);
        let got_pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|i| (i.title.as_str(), i.link.as_str()))
            .collect();
        let want_pairs: Vec<(&str, &str)> = want
            .iter()
            .map(|i| (i.title.as_str(), i.link.as_str()))
            .collect();
        assert_eq!(
            got_pairs, want_pairs,
            "page {page}: items differ from what the site served (lost, duplicated or wrong)"
        );
        counts.insert(*page, got.len());
    }
    let mut links: Vec<&str> = items.iter().map(|i| i.link.as_str()).collect();
    links.sort_unstable();
    let before = links.len();
    links.dedup();
    assert_eq!(before, links.len(), "duplicated items in the output");
    counts
}

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pagecrawl")
}

/// Starts the binary with `args`, its output piped.
pub fn spawn_bin(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning pagecrawl")
}

/// Runs the binary to completion with `args`, failing the test after `limit`.
pub fn run_bin(args: &[&str], limit: Duration) -> Output {
    wait_bounded(spawn_bin(args), limit)
}

/// Waits (bounded) until `cond` holds, checking every 5 ms; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child`, killing it and failing the test if it takes longer than `limit`.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    // Read the pipes on threads so a chatty child cannot block on a full pipe.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = read(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pagecrawl did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The `key=value` pairs of the summary line in the binary's log.
pub fn summary_of(stderr: &str) -> BTreeMap<String, String> {
    let line = stderr
        .lines()
        .rfind(|l| l.contains("summary: pages_fetched="))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let start = line.find("pages_fetched=").unwrap();
    line[start..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A summary value as a number.
pub fn num(summary: &BTreeMap<String, String>, key: &str) -> u64 {
    summary[key].parse().unwrap()
}

/// The names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `kill -9` cycles: runs `pagecrawl run --config <config>` and kills it (SIGKILL) after 50 to
/// 250 ms (from `seed`), calling `after_kill` after each kill, until `max_kills` kills or a run
/// ends by itself; then runs it to the end. Returns the kills that landed mid-crawl and the
/// last run's stderr, which exited 0.
///
/// What `after_kill` sees is a crash's output, not a finished one: it may end in the part of a
/// page whose write the kill cut short (see [`cut_after_kill`]). Only the last run's output,
/// after a clean exit, must end on a line boundary.
pub fn kill_9_cycles(
    config: &Path,
    max_kills: u32,
    mut seed: u64,
    limit: Duration,
    mut after_kill: impl FnMut(),
) -> (u32, String) {
    let args = ["run", "--config", config.to_str().unwrap()];
    let mut kills = 0;
    let finished = loop {
        let mut child = spawn_bin(&args);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(50 + seed % 200);
        let started = Instant::now();
        while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_some() || kills == max_kills {
            break wait_bounded(child, limit);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        after_kill();
    };
    let out = if finished.status.code() == Some(0) {
        finished
    } else {
        run_bin(&args, limit)
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (kills, stderr)
}

/// The output as a `kill -9` may leave it, cut to its whole lines. A page's lines may reach the
/// file in several `write(2)` calls, and the kernel may stop even one large write at a page
/// boundary when a fatal signal is pending; so the bytes after the last newline may be a torn
/// line, and the whole lines before it may end with only the first items of the page that was
/// being written. Neither was committed: the next start cuts them. Returns the whole lines.
pub fn cut_after_kill(text: &str) -> &str {
    &text[..text.rfind('\n').map_or(0, |end| end + 1)]
}

/// The fields of a `[extract.fields]` table written in TOML.
pub fn table_fields(toml_text: &str) -> Vec<(String, pagecrawl::extract::FieldSpec)> {
    let table: toml::Table = toml::from_str(toml_text).unwrap();
    table
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                pagecrawl::extract::FieldSpec::from_toml(name, value).unwrap(),
            )
        })
        .collect()
}
