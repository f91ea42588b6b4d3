//! The real binary, interrupted mid-crawl by SIGINT, SIGTERM, or two SIGINTs: it must exit 130
//! promptly and leave only whole lines, with every page it reports as fetched fully written.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, check_pages, num, summary_of, wait_bounded};
use demo_site::SiteOptions;

/// Starts a slow crawl of 400 pages, waits until items are being written, sends `signals`.
/// Returns the env, the exit status code, the summary (if any), and the time from first signal to exit.
fn interrupt(
    signals: &[libc::c_int],
) -> (
    TestEnv,
    Option<i32>,
    Option<std::collections::BTreeMap<String, String>>,
    Duration,
) {
    let env = TestEnv::new(SiteOptions {
        pages: 400,
        latency: Duration::from_millis(40),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(399),
        crawlers: 8,
        parsers: 2,
        queues: (4, 4, 4),
        timeout_secs: 30.0,
        ..Knobs::default()
    };
    let config = env.write_config(&knobs);
    let child = Command::new(common::bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;

    // Wait (bounded) until the crawl is under way: some items are on disk.
    let waiting = Instant::now();
    while std::fs::metadata(env.out_path()).map_or(0, |m| m.len()) == 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "the crawl never started writing"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Instant::now();
    for &signal in signals {
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
    let output = wait_bounded(child, Duration::from_secs(30));
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = stderr
        .contains("summary: pages_fetched=")
        .then(|| summary_of(&stderr));
    (env, output.status.code(), summary, took)
}

fn graceful(signal: libc::c_int) {
    let (env, code, summary, took) = interrupt(&[signal]);
    assert_eq!(code, Some(130));
    // In-flight requests take 40 ms; the request timeout is 30 s. Exiting must not wait for it.
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    let summary = summary.expect("a graceful stop prints the summary");
    let items = env.items();
    let counts = check_pages(&items, &env.site.options());
    let fetched = num(&summary, "pages_fetched");
    assert!(fetched > 0 && fetched < 400, "stopped mid-crawl: {fetched}");
    assert_eq!(num(&summary, "pages_written"), fetched);
    assert_eq!(
        counts.len() as u64,
        fetched,
        "every page reported fetched is in the file"
    );
    assert!(
        counts.values().all(|&n| n == 25),
        "every written page is whole"
    );
    assert_eq!(num(&summary, "items"), items.len() as u64);
    assert_eq!(fetched + num(&summary, "pages_not_crawled"), 400);
}

#[test]
fn sigint_stops_gracefully() {
    graceful(libc::SIGINT);
}

#[test]
fn sigterm_stops_gracefully() {
    graceful(libc::SIGTERM);
}

#[test]
fn second_sigint_exits_at_once_with_whole_lines() {
    let (env, code, _summary, took) = interrupt(&[libc::SIGINT, libc::SIGINT]);
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    // read_items asserts that the file ends on a line boundary and every line parses;
    // check_pages that whatever pages made it are whole and not repeated.
    let items = env.items();
    let counts = check_pages(&items, &env.site.options());
    assert!(counts.values().all(|&n| n == 25));
}

#[test]
fn sighup_does_not_stop_a_one_off_crawl() {
    let env = TestEnv::new(SiteOptions {
        pages: 40,
        latency: Duration::from_millis(30),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(39),
        crawlers: 2,
        queues: (2, 2, 2),
        ..Knobs::default()
    });
    let child = Command::new(common::bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = Instant::now();
    while std::fs::metadata(env.out_path()).map_or(0, |m| m.len()) == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) },
        0
    );
    let output = wait_bounded(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGHUP ignored"), "{stderr}");
    let summary = summary_of(&stderr);
    assert_eq!(
        num(&summary, "pages_fetched"),
        40,
        "the whole range, not stopped"
    );
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 40);
}
