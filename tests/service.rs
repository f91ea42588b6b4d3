//! The long-lived service: rounds on a schedule, new-item detection with `output.dedup`, config
//! reload between rounds, the metrics and health endpoint, and stopping, all through the real
//! binary against a local demo site.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, num, summary_of, wait_bounded};
use demo_site::{SiteOptions, expected_items};

/// How long any one wait for the service may take before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// The binary running as a service, its stderr collected line by line as it comes.
struct Service {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(config: &Path) -> Service {
        Service::of(common::spawn_bin(&[
            "run",
            "--config",
            config.to_str().unwrap(),
        ]))
    }

    /// Follows a service already started, with its stderr piped.
    fn of(mut child: Child) -> Service {
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

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (bounded) for a log line containing `text`; returns it.
    fn wait_line(&self, text: &str) -> String {
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
    fn endpoint(&self) -> SocketAddr {
        let line = self.wait_line("serving http://");
        let start = line.find("http://").unwrap() + "http://".len();
        let end = start + line[start..].find('/').unwrap();
        line[start..end].parse().unwrap()
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits (bounded) for the exit; returns the exit code and the whole log.
    fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
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
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
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
fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Links in the output, each with how many times it appears.
fn link_counts(path: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines(path) {
        *counts
            .entry(line["link"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// The links the site lists on its first `pages` pages.
fn expected_links(env: &TestEnv, pages: u64) -> BTreeSet<String> {
    let mut opts = SiteOptions::clone(&env.site.options());
    opts.pages = pages;
    (0..pages)
        .flat_map(|page| expected_items(&opts, page))
        .map(|item| item.link)
        .collect()
}

fn schedule(every_secs: u64) -> String {
    format!("[schedule]\nevery_secs = {every_secs}\n")
}

#[test]
fn round_two_writes_only_the_items_added_since_round_one() {
    let env = TestEnv::with_pages(4);
    let config = env.write_config(&Knobs {
        last_page: Some(5),
        dedup: Some("link"),
        extra: schedule(2),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    service.wait_line("round 1 done");
    let round_one = std::fs::read(env.out_path()).unwrap();
    let first = lines(&env.out_path());
    assert_eq!(first.len(), 100);
    for line in &first {
        let seen = line["first_seen"]
            .as_str()
            .expect("first_seen on every item");
        humantime::parse_rfc3339(seen).unwrap_or_else(|e| panic!("{seen:?}: {e}"));
    }

    env.site.set_pages(6); // the listing grows between the rounds
    let line = service.wait_line("round 2 done");
    assert!(
        line.contains("50 new items (100 already seen"),
        "round 2's line: {line}"
    );
    service.signal(libc::SIGTERM); // while idle: round 3 is two seconds away
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");

    let all = std::fs::read(env.out_path()).unwrap();
    assert_eq!(
        &all[..round_one.len()],
        &round_one[..],
        "old lines untouched"
    );
    let counts = link_counts(&env.out_path());
    assert_eq!(counts.len(), 150);
    assert!(counts.values().all(|&n| n == 1), "no item written twice");
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        expected_links(&env, 6)
    );
    let new_pages: BTreeSet<u64> = lines(&env.out_path())[100..]
        .iter()
        .map(|line| line["page"].as_u64().unwrap())
        .collect();
    assert_eq!(new_pages, BTreeSet::from([4, 5]));
    // 16 bytes per unique key, nothing more.
    assert_eq!(std::fs::metadata(env.seen_path()).unwrap().len(), 150 * 16);
}

#[test]
fn config_edits_apply_between_rounds_and_a_broken_edit_keeps_the_old_config() {
    let env = TestEnv::with_pages(3);
    let knobs = Knobs {
        last_page: Some(2),
        crawlers: 4,
        extra: schedule(2),
        ..Knobs::default()
    };
    let config = env.write_config(&knobs);
    let service = Service::start(&config);
    service.wait_line("round 1 done");
    assert!(service.log().contains("with 4 crawlers"));

    env.write_config(&Knobs {
        crawlers: 2,
        extra_fields: "subtitle = \"span\"",
        ..knobs.clone()
    });
    service.wait_line("round 2 done");
    let log = service.log();
    let reloaded = service.wait_line("config reloaded from");
    assert!(reloaded.contains("threads.crawlers: 4 -> 2"), "{reloaded}");
    assert!(
        reloaded.contains("extract.fields.subtitle: unset -> \"span\""),
        "{reloaded}"
    );
    assert!(log.contains("with 2 crawlers"), "{log}");

    std::fs::write(&config, "[site\nurl = ").unwrap(); // an editor's half-saved file
    service.wait_line("round 3 done");
    let failed = service.wait_line("config reload failed");
    assert!(
        failed.contains("previous config stays in force"),
        "{failed}"
    );
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");

    // Rounds 2 and 3 both extracted the new field, with the new thread count.
    let out = lines(&env.out_path());
    assert_eq!(out.len(), 3 * 75);
    for (i, line) in out.iter().enumerate() {
        let round = i / 75 + 1;
        let subtitle = line.get("subtitle").and_then(|s| s.as_str());
        match round {
            1 => assert_eq!(subtitle, None, "line {i}"),
            _ => assert!(
                subtitle.is_some_and(|s| s.starts_with(": ")),
                "line {i}: {line}"
            ),
        }
    }
    let crawling: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("crawling http"))
        .collect();
    assert_eq!(crawling.len(), 3, "{log}");
    assert!(crawling[2].contains("with 2 crawlers"), "{}", crawling[2]);
}

#[test]
fn metrics_match_the_summary_and_health_reflects_the_state() {
    let env = TestEnv::with_pages(8);
    let config = env.write_config(&Knobs {
        last_page: Some(7),
        // "£47.01" is no number: 25 values per page that do not convert.
        extra_fields: "bad_price = { css = \"span.price\", type = \"number\" }\n",
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    let addr = service.endpoint();
    service.wait_line("round 1 done");
    let summary = summary_of(&service.log());
    assert_eq!(num(&summary, "fields_unconverted"), 200);

    let (code, body) = get(addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["state"], "idle", "{body}");
    assert_eq!(health["round"], 1, "{body}");
    assert_eq!(health["pages_done"], 8, "{body}");
    assert!(health["next_round_at"].is_string(), "{body}");

    let (code, text) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let value = |name: &str| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    for (metric, key) in [
        ("pagecrawl_pages_fetched_total", "pages_fetched"),
        ("pagecrawl_pages_failed_total", "pages_failed"),
        ("pagecrawl_pages_disallowed_total", "pages_disallowed"),
        ("pagecrawl_retries_total", "retries"),
        ("pagecrawl_items_written_total", "items"),
        ("pagecrawl_pages_written_total", "pages_written"),
        ("pagecrawl_response_bytes_total", "bytes"),
        ("pagecrawl_pages_parsed_dom_total", "pages_parsed_dom"),
        ("pagecrawl_fields_unconverted_total", "fields_unconverted"),
    ] {
        assert_eq!(value(metric), num(&summary, key) as f64, "{metric}");
    }
    assert_eq!(value("pagecrawl_items_written_total"), 200.0);
    assert_eq!(value("pagecrawl_round"), 1.0);
    assert_eq!(value("pagecrawl_up"), 1.0);
    assert!(value("pagecrawl_last_round_end_timestamp_seconds") > 1.0e9);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "pagecrawl_fetch_duration_seconds"
                && matches!(&s.value, prometheus_parse::Value::Histogram(h) if h.iter().any(|b| b.count == 8.0))),
        "a histogram of 8 fetches:\n{text}"
    );
    assert_eq!(get(addr, "/nope").0, 404);

    // Idle until an hour from now: a stop ends it at once, with 0.
    let sent = Instant::now();
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    assert!(log.contains("stop requested while idle"), "{log}");
}

#[test]
fn sigterm_mid_round_finishes_the_pages_in_flight_and_exits_130() {
    let env = TestEnv::new(SiteOptions {
        pages: 300,
        latency: Duration::from_millis(40),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(299),
        crawlers: 8,
        queues: (4, 4, 4),
        dedup: Some("link"),
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    let addr = service.endpoint();
    common::wait_for("items on disk", LIMIT, || {
        std::fs::metadata(env.out_path()).map_or(0, |m| m.len()) > 0
    });
    let (code, body) = get(addr, "/healthz");
    assert_eq!(code, 200);
    assert!(body.contains("\"state\":\"crawling\""), "{body}");
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{log}");
    let summary = summary_of(&log);
    let fetched = num(&summary, "pages_fetched");
    assert!(fetched < 300, "interrupted before the end: {fetched}");
    assert_eq!(
        num(&summary, "pages_written"),
        fetched,
        "every fetched page written"
    );
    let counts = link_counts(&env.out_path());
    assert_eq!(counts.len() as u64, fetched * 25);
    assert!(counts.values().all(|&n| n == 1));
    assert_eq!(
        std::fs::metadata(env.seen_path()).unwrap().len(),
        fetched * 25 * 16
    );
}

#[test]
fn a_taken_port_fails_cleanly_with_exit_1() {
    let env = TestEnv::with_pages(1);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = env.write_config(&Knobs {
        last_page: Some(0),
        extra: format!("[service]\nlisten = \"{addr}\"\n"),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    let (code, log) = service.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("binding service.listen {addr}")),
        "{log}"
    );
    assert_eq!(env.site.total_requests(), 0, "nothing crawled");
}

#[test]
fn dedup_survives_kill_9_mid_round_and_between_rounds() {
    let env = TestEnv::new(SiteOptions {
        pages: 60,
        latency: Duration::from_millis(20),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(79),
        crawlers: 6,
        queues: (4, 4, 4),
        dedup: Some("link"),
        sync: "never",
        extra: schedule(2),
        ..Knobs::default()
    });
    // kill -9 mid-round, five times, each once more items are on disk.
    let mut cycles = 0;
    while cycles < 5 {
        let before = std::fs::metadata(env.out_path()).map_or(0, |m| m.len());
        let service = Service::start(&config);
        common::wait_for("the output to grow", LIMIT, || {
            std::fs::metadata(env.out_path()).map_or(0, |m| m.len()) > before
                || service.log().contains("round 1 done")
        });
        if service.log().contains("round 1 done") {
            break; // the round finished before the kill
        }
        service.signal(libc::SIGKILL);
        let (code, _) = service.wait(Duration::from_secs(10));
        assert_eq!(code, None, "killed by a signal");
        cycles += 1;
    }
    assert!(cycles >= 2, "only {cycles} kills landed mid-round");

    // Resumed: round 1 completes; then kill -9 between rounds while the listing grows.
    let service = Service::start(&config);
    service.wait_line("round 1 done");
    service.signal(libc::SIGKILL);
    let _ = service.wait(Duration::from_secs(10));
    assert_eq!(link_counts(&env.out_path()).len(), 60 * 25);
    env.site.set_pages(62);

    // Restarted: it waits out round 1's interval, then round 2 adds only the new pages.
    let service = Service::start(&config);
    let line = service.wait_line("round 2 done");
    assert!(line.contains("50 new items (1500 already seen"), "{line}");
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");
    let counts = link_counts(&env.out_path());
    let dupes: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(dupes.is_empty(), "written twice: {dupes:?}");
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        expected_links(&env, 62)
    );
    assert_eq!(
        std::fs::metadata(env.seen_path()).unwrap().len(),
        62 * 25 * 16
    );
}

/// A GET that must be answered within `limit`: `(status, body)`.
fn get_within(addr: SocketAddr, path: &str, limit: Duration) -> (u16, String) {
    let started = Instant::now();
    let answer = get(addr, path);
    assert!(
        started.elapsed() < limit,
        "GET {path} took {:?}",
        started.elapsed()
    );
    answer
}

#[test]
fn hostile_clients_cannot_deny_the_endpoint_to_a_scraper() {
    use std::io::Write;
    use std::net::TcpStream;
    let env = TestEnv::with_pages(2);
    let config = env.write_config(&Knobs {
        last_page: Some(1),
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    });
    // Few file descriptors, as under a tight `ulimit -n`: the flood below runs the process out.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" run --config "$1""#)
        .arg(common::bin())
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let service = Service::of(child);
    let addr = service.endpoint();
    service.wait_line("round 1 done");
    let prompt = Duration::from_secs(3);

    // 1. A client that pipelines requests and never reads an answer.
    let mut pipeliner = TcpStream::connect(addr).unwrap();
    pipeliner
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for _ in 0..2000 {
        if pipeliner
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            break; // answered once and closed: the rest is refused
        }
    }
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    // 2. A request head of 64 MB: refused after a few kilobytes, never buffered whole.
    let mut huge = TcpStream::connect(addr).unwrap();
    huge.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    huge.write_all(b"GET /metrics HTTP/1.1\r\nX-Junk: ")
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < 64 << 20 && huge.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    assert!(sent < 16 << 20, "{sent} bytes of one header were taken in");
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    // 3. Four times as many silent connections as the process has file descriptors.
    let idle: Vec<TcpStream> = (0..256)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(idle.len() > 100, "only {} connections opened", idle.len());
    let (code, body) = get_within(addr, "/metrics", prompt);
    assert_eq!(code, 200);
    assert!(body.contains("pagecrawl_up 1"), "{body}");
    let log = service.wait_line("out of file descriptors");
    assert!(log.contains("closing idle connections"), "{log}");
    drop(idle);
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn sighup_reloads_the_config_and_never_stops_the_service() {
    let env = TestEnv::new(SiteOptions {
        pages: 40,
        latency: Duration::from_millis(40),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(39),
        crawlers: 2,
        queues: (2, 2, 2),
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    };
    let config = env.write_config(&knobs);
    let service = Service::start(&config);
    let addr = service.endpoint();

    // Mid-round: the round goes on with its config, and the reload follows its end.
    common::wait_for("items on disk", LIMIT, || {
        std::fs::metadata(env.out_path()).map_or(0, |m| m.len()) > 0
    });
    env.write_config(&Knobs {
        crawlers: 3,
        ..knobs.clone()
    });
    service.signal(libc::SIGHUP);
    let reloaded = service.wait_line("config reloaded from");
    assert!(reloaded.contains("threads.crawlers: 2 -> 3"), "{reloaded}");
    let log = service.log();
    let done_at = log
        .find("round 1 done")
        .expect("round 1 finished, not stopped");
    assert!(done_at < log.find("config reloaded from").unwrap(), "{log}");

    // Idle, with a file that would crash a crawl: refused, and the service stays up.
    std::fs::write(
        &config,
        env.config_toml(&knobs)
            .replace("pages = 2", "pages = 1000000000000"),
    )
    .unwrap();
    service.signal(libc::SIGHUP);
    let failed = service.wait_line("config reload failed");
    assert!(
        failed.contains("`queues.pages` must be at most 65536"),
        "{failed}"
    );
    let (code, body) = get(addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"state\":\"idle\""), "{body}");

    // Idle: applied at once, and a shorter interval brings the next round forward.
    env.write_config(&Knobs {
        crawlers: 3,
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(1)),
        ..knobs.clone()
    });
    service.signal(libc::SIGHUP);
    let line = service.wait_line("schedule.every_secs: 3600 -> 1");
    assert!(line.contains("config reloaded from"), "{line}");
    service.wait_line("round 2 done");
    let log = service.log();
    let crawling: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("crawling http"))
        .collect();
    assert!(crawling[0].contains("with 2 crawlers"), "{}", crawling[0]);
    assert!(crawling[1].contains("with 3 crawlers"), "{}", crawling[1]);
    assert!(!log.contains("interrupted"), "{log}");

    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(30));
    // Idle (0) or mid-round (130): rounds now start every second.
    assert!(matches!(code, Some(0 | 130)), "{code:?}: {log}");
    let counts = link_counts(&env.out_path());
    assert!(counts.len() >= 1000, "round 1 whole: {}", counts.len());
}

#[test]
fn a_selector_warning_is_given_once_in_each_round() {
    let env = TestEnv::with_pages(6);
    let config = env.write_config(&Knobs {
        last_page: Some(5),
        extra_fields: "isbn = \"span.isbn\"\n",
        extra: schedule(1),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    service.wait_line("round 2 done");
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(30));
    assert!(matches!(code, Some(0 | 130)), "{log}");
    let warning = "`extract.fields.isbn` = \"span.isbn\" is null on all 25 items of page ";
    let at = |text: &str| {
        log.lines()
            .enumerate()
            .filter(|(_, line)| line.contains(text))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let warnings = at(warning);
    let done = [at("round 1 done in "), at("round 2 done in ")].concat();
    assert_eq!(done.len(), 2, "{log}");
    // Once in round 1, once in round 2 (and at most once in a round 3 cut short).
    assert!(warnings.len() >= 2 && warnings.len() <= 3, "{log}");
    assert!(
        warnings[0] < done[0] && done[0] < warnings[1] && warnings[1] < done[1],
        "{log}"
    );
}
