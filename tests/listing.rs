//! The end of a listing: a known range goes on past an empty page; "until empty" writes exactly
//! the pages before the end whatever the thread counts, warns about a first page that is already
//! past it, stops a listing that fails or never ends (exit 3), and ends one that repeats its last
//! page; once the end is known, pages past it are neither requested nor counted as undone. A terminal shows progress whether or not the range is known.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use common::{Knobs, TestEnv, check_pages, num, run_bin, spawn_bin, summary_of, wait_bounded};
use demo_site::{Fault, PastEnd, SiteOptions};
use pagecrawl::ExitCode;
use pagecrawl::config::Config;
use pagecrawl::testing::{Fingerprint, Journal, Record, decode};

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `pagecrawl run` on the config for `knobs` and returns (exit code, stderr).
fn run(env: &TestEnv, knobs: &Knobs) -> (Option<i32>, String) {
    let config = env.write_config(knobs);
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    (out.status.code(), text(&out.stderr))
}

fn until_empty(crawlers: usize) -> Knobs {
    Knobs {
        last_page: None,
        crawlers,
        ..Knobs::default()
    }
}

fn not_found() -> Fault {
    Fault::Status {
        code: 404,
        times: u32::MAX,
        retry_after: None,
    }
}

/// The pages present in the output, each checked against what the site served.
fn pages_written(env: &TestEnv) -> Vec<u64> {
    check_pages(&env.items(), &env.site.options())
        .into_keys()
        .collect()
}

fn journal(env: &TestEnv) -> Vec<Record> {
    decode(&std::fs::read(env.state_path()).unwrap()).0
}

#[test]
fn a_known_range_crawls_past_an_empty_page() {
    let env = TestEnv::new(SiteOptions {
        pages: 10,
        faults: BTreeMap::from([(4, Fault::Empty)]),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(9),
        ..Knobs::default()
    };
    let (code, stderr) = run(&env, &knobs);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("page 4 (") && stderr.contains("no items"),
        "{stderr}"
    );
    let want: Vec<u64> = (0..10).filter(|&p| p != 4).collect();
    assert_eq!(pages_written(&env), want);
    assert!(
        !journal(&env)
            .iter()
            .any(|r| matches!(r, Record::End { .. })),
        "no end of listing is recorded for a known range"
    );
    // The empty page is committed like any other: a resume fetches nothing.
    let (code, stderr) = run(&env, &knobs);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 0);
    assert_eq!(env.site.requests_for(4), 1);
}

#[test]
fn an_end_recorded_for_a_known_range_does_not_stop_its_resume() {
    // The journal of an older pagecrawl that took an empty page 4 for the end of a known range.
    let env = TestEnv::with_pages(10);
    let knobs = Knobs {
        last_page: Some(9),
        ..Knobs::default()
    };
    let config = Config::from_toml(&env.config_toml(&knobs)).unwrap();
    std::fs::create_dir_all(env.out_path().parent().unwrap()).unwrap();
    let opened = Journal::open(
        &env.state_path(),
        &env.out_path(),
        &Fingerprint::of(&config),
    )
    .unwrap();
    let mut journal = opened.journal;
    journal.append(&Record::End { page: 4 }, true).unwrap();
    drop(journal);

    let (code, stderr) = run(&env, &knobs);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(pages_written(&env), (0..10).collect::<Vec<_>>());
}

#[test]
fn until_empty_writes_exactly_the_pages_before_the_first_empty_one() {
    // Items go on after the gap at page 12, which answers late: pages after it are fetched
    // before it, and must not be written. Page 5 answers late too, so pages come out of order.
    let env = TestEnv::new(SiteOptions {
        pages: 60,
        faults: BTreeMap::from([(12, Fault::Empty)]),
        slow: BTreeMap::from([
            (5, Duration::from_millis(200)),
            (12, Duration::from_millis(300)),
        ]),
        ..SiteOptions::default()
    });
    for (crawlers, parsers) in [(1, 1), (4, 2), (16, 2), (16, 4)] {
        env.reset();
        let knobs = Knobs {
            parsers,
            ..until_empty(crawlers)
        };
        let outcome = env.crawl(&knobs, LIMIT);
        let run = format!("{crawlers} crawlers, {parsers} parsers: {outcome:?}");
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{run}");
        assert_eq!(outcome.end_of_listing, Some(12), "{run}");
        assert_eq!(pages_written(&env), (0..12).collect::<Vec<_>>(), "{run}");
        let s = outcome.summary;
        assert_eq!((s.written_pages, s.items), (12, 12 * 25), "{run}");
        // Pages queued past the end are counted apart, not as pages left undone.
        assert_eq!((s.failed, s.not_crawled), (0, 0), "{run}");
        // Those fetched (not only queued) are among them.
        assert!(s.fetched >= 13 && s.fetched - 13 <= s.past_end, "{run}");
    }
}

#[test]
fn a_first_page_that_is_missing_or_empty_is_an_error_not_an_empty_success() {
    // A listing numbered from 1, crawled from the default first_page = 0.
    for fault in [not_found(), Fault::Empty] {
        let env = TestEnv::new(SiteOptions {
            pages: 40,
            faults: BTreeMap::from([(0, fault.clone())]),
            ..SiteOptions::default()
        });
        for crawlers in [1, 8] {
            env.reset();
            let knobs = until_empty(crawlers);
            let (code, stderr) = run(&env, &knobs);
            assert_eq!(code, Some(3), "{fault:?}, {crawlers} crawlers: {stderr}");
            let url = env.site.url_template().replace("{offset}", "0");
            assert!(
                stderr.contains("`site.first_page` = 0")
                    && stderr.contains(&url)
                    && stderr.contains("first_page = 1"),
                "{stderr}"
            );
            assert!(env.items().is_empty(), "{fault:?}: nothing is written");
        }
        // Nothing was committed, so the corrected config resumes without --fresh.
        let knobs = Knobs {
            first_page: 1,
            ..until_empty(4)
        };
        let (code, stderr) = run(&env, &knobs);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(pages_written(&env), (1..40).collect::<Vec<_>>());
    }
}

#[test]
fn pages_failing_in_a_row_stop_an_until_empty_crawl_and_a_resume_completes_it() {
    let env = TestEnv::new(SiteOptions {
        pages: 5,
        past_end: PastEnd::Status(403),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        retries: 0,
        ..until_empty(4)
    };
    let (code, stderr) = run(&env, &knobs);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("20 pages in a row failed (`site.max_failed_in_a_row` = 20)"),
        "{stderr}"
    );
    assert_eq!(pages_written(&env), (0..5).collect::<Vec<_>>());
    assert_eq!(num(&summary_of(&stderr), "pages_failed"), 20);
    // At most the feeder's window past the twentieth failure: 2 × (8 + 4 + 8) + 2 × 2.
    let past: u64 = (5..1000).map(|p| env.site.requests_for(p)).sum();
    assert!(
        (20..=20 + 44).contains(&past),
        "{past} requests past the end"
    );
    let failed: Vec<u64> = journal(&env)
        .iter()
        .filter_map(|r| match r {
            Record::Failed { page, .. } => Some(*page),
            _ => None,
        })
        .collect();
    assert_eq!(failed, (5..25).collect::<Vec<_>>());

    // The site lets the crawler in again: the resume finds the end right after page 4.
    env.site.set_past_end(PastEnd::Empty);
    let (code, stderr) = run(&env, &knobs);
    assert_eq!(code, Some(0), "{stderr}");
    let items = env.items();
    assert_eq!(items.len(), 5 * 25, "every item once");
    assert_eq!(pages_written(&env), (0..5).collect::<Vec<_>>());
}

#[test]
fn max_pages_stops_a_listing_that_does_not_end() {
    let env = TestEnv::with_pages(1000);
    let knobs = until_empty(4);
    let with_max = |max: u64| {
        let toml = env
            .config_toml(&knobs)
            .replace("page_size = ", &format!("max_pages = {max}\npage_size = "));
        let path = env.dir.path().join("max.toml");
        std::fs::write(&path, toml).unwrap();
        let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
        (out.status.code(), text(&out.stderr))
    };
    let (code, stderr) = with_max(30);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("did not end within `site.max_pages` (30 pages"),
        "{stderr}"
    );
    assert_eq!(pages_written(&env), (0..30).collect::<Vec<_>>());
    let past: u64 = (30..1000).map(|p| env.site.requests_for(p)).sum();
    assert_eq!(past, 0, "nothing past max_pages is fetched");
    // A larger limit goes on from there.
    let (code, stderr) = with_max(45);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 15);
    assert_eq!(pages_written(&env), (0..45).collect::<Vec<_>>());
}

#[test]
fn a_site_that_repeats_its_last_page_ends_the_listing_there() {
    let env = TestEnv::new(SiteOptions {
        pages: 6,
        past_end: PastEnd::RepeatLast,
        ..SiteOptions::default()
    });
    for crawlers in [1, 8] {
        env.reset();
        let outcome = env.crawl(&until_empty(crawlers), Duration::from_secs(60));
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(outcome.end_of_listing, Some(6));
        // check_pages also fails on the same item written twice.
        assert_eq!(pages_written(&env), (0..6).collect::<Vec<_>>());
    }

    // Stopped right after the last page (here by max_pages), then resumed: the journal knows
    // what page 5 held, so page 6 is still seen to repeat it.
    env.reset();
    let config = env.write_config(&until_empty(4));
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace("page_size = ", "max_pages = 6\npage_size = "),
    )
    .unwrap();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    std::fs::write(&config, toml).unwrap();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the listing ends at page 6") && stderr.contains("same items"),
        "{stderr}"
    );
    assert_eq!(pages_written(&env), (0..6).collect::<Vec<_>>());
}

/// A pseudo-terminal: the master to read from, and the path of its slave end.
fn open_pty() -> (std::fs::File, std::path::PathBuf) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on a descriptor we own; each result is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt failed");
        assert_eq!(libc::grantpt(master), 0, "grantpt failed");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt failed");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r failed"
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), path.into())
    }
}

#[test]
fn a_terminal_shows_progress_when_the_range_is_unknown() {
    use std::io::Read;
    let env = TestEnv::new(SiteOptions {
        pages: 40,
        latency: Duration::from_millis(25),
        ..SiteOptions::default()
    });
    let config = env.write_config(&until_empty(1));
    let (mut master, slave_path) = open_pty();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .unwrap();
    let mut child = std::process::Command::new(common::bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(slave)
        .spawn()
        .unwrap();
    // The master reads until the slave's last holder (the child) is gone: then EIO.
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("pagecrawl did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let shown = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{shown}");
    // 40 pages at 25 ms each take about a second: the spinner is drawn several times.
    assert!(
        shown.contains("round 1 [") && shown.contains("pages (until the end of the listing)"),
        "no progress on the terminal:\n{shown}"
    );
}

/// "Until empty" under every pipeline shape, a quarter of the crawls interrupted at a varying
/// moment: a finished crawl holds exactly the pages before the end, an interrupted one every
/// page it fetched before the end, each whole and once.
#[test]
fn until_empty_race_hammer() {
    let env = TestEnv::with_pages(6);
    let mut interrupted = 0;
    for round in 0..104usize {
        let knobs = Knobs {
            parsers: 1 + (round * 5 + round / 16) % 16,
            queues: (1 + round % 4, 1 + (round / 4) % 4, 1 + (round / 16) % 4),
            ..until_empty(1 + (round * 7) % 16)
        };
        env.reset();
        let before: Vec<u64> = (0..12).map(|p| env.site.requests_for(p)).collect();
        let requests = |page: u64| env.site.requests_for(page) - before[page as usize];
        let shutdown = pagecrawl::Shutdown::new();
        let stopper = (round % 4 == 3).then(|| {
            let shutdown = shutdown.clone();
            let after = Duration::from_micros(200 * (round as u64 % 13));
            std::thread::spawn(move || {
                std::thread::sleep(after);
                shutdown.request();
            })
        });
        let outcome = common::run_bounded(env.config(&knobs), shutdown, Duration::from_secs(30));
        if let Some(stopper) = stopper {
            stopper.join().unwrap();
        }
        let run = format!("round {round} {knobs:?}: {outcome:?}");
        assert!(
            outcome.failures.is_empty() && outcome.failed_pages.is_empty(),
            "{run}"
        );
        let written = pages_written(&env);
        let fetched: Vec<u64> = (0..6).filter(|&p| requests(p) > 0).collect();
        assert_eq!(
            written, fetched,
            "{run}: a page fetched before the end is missing"
        );
        if outcome.interrupted {
            interrupted += 1;
        } else {
            assert_eq!(outcome.exit_code(), ExitCode::Success, "{run}");
            assert_eq!(written, (0..6).collect::<Vec<_>>(), "{run}");
            assert_eq!(outcome.end_of_listing, Some(6), "{run}");
        }
        for page in 0..12 {
            assert!(requests(page) <= 1, "{run}: page {page} twice");
        }
    }
    assert!(
        interrupted >= 10,
        "only {interrupted} crawls were interrupted"
    );
}

/// `kill -9` at random moments of an "until empty" crawl, then a run to the end: exactly the
/// pages before the end, each once.
#[test]
fn until_empty_survives_kill_9() {
    let env = TestEnv::new(SiteOptions {
        pages: 300,
        latency: Duration::from_millis(10),
        slow: BTreeMap::from([(150, Duration::from_millis(200))]),
        ..SiteOptions::default()
    });
    let config = env.write_config(&until_empty(8));
    let (kills, _) = common::kill_9_cycles(&config, 8, 0x2545_f491_4f6c_dd1d, LIMIT, || {});
    let items = env.items();
    assert_eq!(pages_written(&env), (0..300).collect::<Vec<_>>());
    assert_eq!(items.len(), 300 * 25);
    assert!(kills >= 3, "only {kills} kills landed mid-crawl");
}

#[test]
fn once_the_end_is_known_pages_waiting_for_their_turn_are_not_requested_nor_counted_undone() {
    // With `delay_ms`, the crawlers holding pages past the end are waiting for their turn when
    // page 6 ends the listing. They must not send those requests, and a Ctrl-C that comes
    // meanwhile must not count pages that do not exist as "not crawled".
    let env = TestEnv::with_pages(6);
    let knobs = Knobs {
        delay_ms: 400,
        ..until_empty(4)
    };
    let config = env.write_config(&knobs);
    let mut child = spawn_bin(&["run", "--config", config.to_str().unwrap()]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    // Bounded: the child ends, and with it its stderr.
    while !log.contains("the listing ends at page 6") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        log.push_str(&line);
    }
    assert!(log.contains("the listing ends at page 6"), "{log}");
    // SAFETY: plain kill(2) on our own child's pid (it may have exited: then ESRCH is fine).
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    stderr.read_to_string(&mut log).unwrap();
    let out = wait_bounded(child, LIMIT);
    assert!(matches!(out.status.code(), Some(0 | 130)), "{log}");
    assert_eq!(pages_written(&env), (0..6).collect::<Vec<_>>());
    let s = summary_of(&log);
    assert_eq!(num(&s, "pages_not_crawled"), 0, "{log}");
    // A request already sent when page 6 was parsed may finish; nothing queued is sent.
    let past: u64 = (7..100).map(|p| env.site.requests_for(p)).sum();
    assert!(past <= 1, "{past} requests past the end:\n{log}");
}
