//! Helpers for the tests of the long-lived service: the binary running as a service with its log
//! followed line by line, a GET on its endpoint, the output read as JSON, and the `[schedule]`
//! table. Used by the `service_*` test files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demo_site::{SiteOptions, expected_items};

use super::{TestEnv, wait_bounded};

/// How long any one wait for the service may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The binary running as a service, its stderr collected line by line as it comes.
pub struct Service {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    pub fn start(config: &Path) -> Service {
        Service::of(super::spawn_bin(&[
            "run",
            "--config",
            config.to_str().unwrap(),
        ]))
    }

    /// Follows a service already started, with its stderr piped.
    pub fn of(mut child: Child) -> Service {
        // The service prints nothing on stdout, so its (piped) stdout is never read.
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        Service {
            child: Some(child),
            lines,
            reader: Some(reader),
        }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (bounded) for a log line containing `text`; returns it.
    pub fn wait_line(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            assert!(
                start.elapsed() < LIMIT,
                "no log line with {text:?} within {LIMIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The address of the metrics endpoint, from its log line.
    pub fn endpoint(&self) -> SocketAddr {
        let line = self.wait_line("serving http://");
        let start = line.find("http://").unwrap() + "http://".len();
        let end = start + line[start..].find('/').unwrap();
        line[start..end].parse().unwrap()
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits (bounded) for the exit; returns the exit code and the whole log.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let output = wait_bounded(self.child.take().unwrap(), limit);
        self.reader.take().unwrap().join().unwrap();
        (output.status.code(), self.log())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A GET on the endpoint: status code and body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut response = agent
        .get(format!("http://{addr}{path}"))
        .call()
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    let code = response.status().as_u16();
    (code, response.body_mut().read_to_string().unwrap())
}

/// Every output line as JSON.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Links in the output, each with how many times it appears.
pub fn link_counts(path: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines(path) {
        *counts
            .entry(line["link"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// The links the site lists on its first `pages` pages.
pub fn expected_links(env: &TestEnv, pages: u64) -> BTreeSet<String> {
    let mut opts = SiteOptions::clone(&env.site.options());
    opts.pages = pages;
    (0..pages)
        .flat_map(|page| expected_items(&opts, page))
        .map(|item| item.link)
        .collect()
}

/// A `[schedule]` table: a round every `every_secs` seconds.
/// `pagecrawl run --config <config> --once`, which must exit 0: the summary of the round it ran.
pub fn run_once(config: &str) -> BTreeMap<String, String> {
    let out = super::run_bin(&["run", "-c", config, "--once"], LIMIT);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{log}");
    super::summary_of(&log)
}

pub fn schedule(every_secs: u64) -> String {
    format!("[schedule]\nevery_secs = {every_secs}\n")
}
