//! Crash safety and resume: `kill -9` at random moments, a truncated output, the grace deadline,
//! failed pages retried by the next run, a changed config, and a full disk. After any of them the
//! crawl must complete with every item of every page exactly once and every line whole.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    Knobs, TestEnv, check_pages, num, run_bin, spawn_bin, summary_of, wait_bounded, wait_for,
};
use demo_site::{Fault, SiteOptions};

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `pagecrawl run` on `config` to completion and returns (exit code, stderr).
fn run_to_end(config: &std::path::Path) -> (Option<i32>, String) {
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    (out.status.code(), text(&out.stderr))
}

/// A tiny deterministic sequence, so a failure can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn kill_9_at_random_moments_never_loses_or_duplicates() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = 0;
    for sync in ["page", "batch", "never"] {
        for crawlers in [2, 8] {
            let env = TestEnv::new(SiteOptions {
                pages: 400,
                latency: Duration::from_millis(15),
                ..SiteOptions::default()
            });
            let config = env.write_config(&Knobs {
                last_page: Some(399),
                crawlers,
                parsers: 2,
                queues: (4, 4, 16),
                sync,
                ..Knobs::default()
            });
            let mut kills_here = 0;
            // Kill until ten kills landed mid-crawl or a run got to the end by itself.
            let finished = loop {
                let mut child = spawn_bin(&["run", "--config", config.to_str().unwrap()]);
                let delay = Duration::from_millis(10 + next(&mut seed) % 100);
                let started = Instant::now();
                while started.elapsed() < delay {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                if child.try_wait().unwrap().is_some() || kills_here == 10 {
                    let out = wait_bounded(child, LIMIT);
                    break out;
                }
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills_here += 1;
            };
            kills += kills_here;
            let (code, stderr) = if finished.status.code() == Some(0) {
                (Some(0), text(&finished.stderr))
            } else {
                run_to_end(&config)
            };
            assert_eq!(code, Some(0), "sync={sync} crawlers={crawlers}: {stderr}");
            let items = env.items();
            let counts = check_pages(&items, &env.site.options());
            assert_eq!(counts.len(), 400, "sync={sync} crawlers={crawlers}");
            assert_eq!(items.len(), 400 * 25);
            assert!(
                kills_here >= 5,
                "sync={sync} crawlers={crawlers}: {kills_here} kills"
            );
        }
    }
    eprintln!("kill -9 cycles: {kills}");
    assert!(kills >= 50, "only {kills} kills landed mid-crawl");
}

#[test]
fn a_truncated_output_is_repaired_and_completed() {
    let env = TestEnv::with_pages(20);
    let config = env.write_config(&Knobs {
        last_page: Some(19),
        sync: "page",
        ..Knobs::default()
    });
    assert_eq!(run_to_end(&config).0, Some(0));
    let full = std::fs::read(env.out_path()).unwrap();
    let mut seed = 42u64;
    for round in 0..6 {
        let cut = (next(&mut seed) % full.len() as u64) as usize;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(env.out_path())
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);
        let (code, stderr) = run_to_end(&config);
        assert_eq!(code, Some(0), "round {round}: {stderr}");
        let items = env.items();
        assert_eq!(
            check_pages(&items, &env.site.options()).len(),
            20,
            "round {round}"
        );
        assert_eq!(items.len(), 500);
        let fetched = num(&summary_of(&stderr), "pages_fetched");
        assert!(
            fetched >= 1,
            "round {round}: the cut pages are fetched again"
        );
    }
}

#[test]
fn the_grace_deadline_abandons_slow_requests_and_resume_completes() {
    let env = TestEnv::new(SiteOptions {
        pages: 8,
        latency: Duration::from_millis(3000),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(7),
        crawlers: 8,
        timeout_secs: 30.0,
        grace_secs: 0.3,
        ..Knobs::default()
    });
    let child = spawn_bin(&["run", "--config", config.to_str().unwrap()]);
    wait_for("requests in flight", LIMIT, || {
        env.site.total_requests() >= 8
    });
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = wait_bounded(child, LIMIT);
    let took = sent.elapsed();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    // The requests would take 3 s; the grace period is 0.3 s.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(text(&out.stderr).contains("grace period"));
    assert!(env.items().is_empty(), "abandoned pages are not committed");

    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 8);
}

#[test]
fn two_sigints_leave_a_state_that_resumes_to_completion() {
    let env = TestEnv::new(SiteOptions {
        pages: 200,
        latency: Duration::from_millis(20),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(199),
        crawlers: 8,
        ..Knobs::default()
    });
    let child = spawn_bin(&["run", "--config", config.to_str().unwrap()]);
    wait_for("items on disk", LIMIT, || {
        std::fs::metadata(env.out_path()).is_ok_and(|m| m.len() > 0)
    });
    for _ in 0..2 {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    }
    let out = wait_bounded(child, LIMIT);
    assert_eq!(out.status.code(), Some(130));
    check_pages(&env.items(), &env.site.options());

    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let items = env.items();
    assert_eq!(check_pages(&items, &env.site.options()).len(), 200);
    assert_eq!(items.len(), 200 * 25);
}

#[test]
fn failed_pages_exit_3_and_are_retried_by_the_next_run() {
    let env = TestEnv::new(SiteOptions {
        pages: 6,
        faults: BTreeMap::from([(
            3,
            Fault::Status {
                code: 503,
                times: 1,
                retry_after: None,
            },
        )]),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(5),
        retries: 0,
        ..Knobs::default()
    });
    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("failed pages, recorded in") && stderr.contains("3 (http status 503)"),
        "{stderr}"
    );
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 5);

    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, Some(0), "{stderr}");
    let summary = summary_of(&stderr);
    assert_eq!(num(&summary, "pages_fetched"), 1, "only the failed page");
    assert_eq!(num(&summary, "pages_resumed"), 5);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 6);
    for page in 0..6 {
        let want = if page == 3 { 2 } else { 1 };
        assert_eq!(env.site.requests_for(page), want, "page {page}");
    }
}

#[test]
fn a_changed_config_is_refused_until_fresh() {
    let env = TestEnv::with_pages(3);
    let knobs = Knobs {
        last_page: Some(2),
        ..Knobs::default()
    };
    let config = env.write_config(&knobs);
    assert_eq!(run_to_end(&config).0, Some(0));

    let changed = env.write_config(&Knobs {
        url_suffix: "&v=2".into(),
        ..knobs
    });
    let (code, stderr) = run_to_end(&changed);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("site.url: "), "{stderr}");
    assert!(stderr.contains("--fresh"), "{stderr}");
    assert_eq!(env.items().len(), 75, "nothing was touched");

    let out = run_bin(
        &["run", "--fresh", "--config", changed.to_str().unwrap()],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let moved: Vec<String> = std::fs::read_dir(env.out_path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".old"))
        .collect();
    assert_eq!(moved.len(), 2, "output and state moved aside: {moved:?}");
    let items = env.items();
    assert_eq!(items.len(), 75);
    assert!(items.iter().all(|i| i.url.ends_with("&v=2")));
}

#[test]
fn a_full_disk_stops_the_crawl_with_exit_1_and_commits_nothing() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let env = TestEnv::with_pages(5);
    let state = env.dir.path().join("full.state");
    let text_config = env
        .config_toml(&Knobs {
            last_page: Some(4),
            ..Knobs::default()
        })
        .replace(
            &format!("path = {:?}", env.out_path().display().to_string()),
            &format!(
                "path = \"/dev/full\"\nstate = {:?}",
                state.display().to_string()
            ),
        );
    let config = env.dir.path().join("full.toml");
    std::fs::write(&config, text_config).unwrap();
    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("writing output file /dev/full"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let (records, _) = pagecrawl::testing::decode(&std::fs::read(&state).unwrap());
    assert!(
        !records
            .iter()
            .any(|r| matches!(r, pagecrawl::testing::Record::Commit { .. })),
        "nothing is committed: {records:?}"
    );
}
