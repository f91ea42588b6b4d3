//! One owner per output: a second daemon on the same output is refused while the first runs
//! (and not once it is dead), a missing state beside an output is refused rather than appended
//! to, and an output changed by hand is refused rather than cut at an offset that no longer
//! means anything. Old (version 1) state files still resume.

mod common;

use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, check_pages, num, run_bin, spawn_bin, summary_of, wait_for};
use demo_site::SiteOptions;
use pagecrawl::testing::{Record, decode, encode};

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = run_bin(args, LIMIT);
    (out.status.code(), text(&out.stderr))
}

/// A finished crawl of a `pages`-page site, syncing as `sync` says; its config's path.
fn crawled(pages: u64, sync: &'static str) -> (TestEnv, String) {
    let env = TestEnv::with_pages(pages);
    let config = env.write_config(&Knobs {
        last_page: Some(pages - 1),
        sync,
        ..Knobs::default()
    });
    let config = config.to_str().unwrap().to_string();
    let (code, stderr) = run(&["run", "--config", &config]);
    assert_eq!(code, Some(0), "{stderr}");
    (env, config)
}

/// Files of the output's folder whose name ends in `.old` (moved aside by --fresh).
fn moved_aside(env: &TestEnv) -> usize {
    std::fs::read_dir(env.out_path().parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".old")
        })
        .count()
}

#[test]
fn a_second_daemon_on_the_same_output_is_refused_while_the_first_lives() {
    let env = TestEnv::new(SiteOptions {
        pages: 100,
        latency: Duration::from_millis(30),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(99),
        crawlers: 1,
        ..Knobs::default()
    });
    let config = config.to_str().unwrap();
    let mut first = spawn_bin(&["run", "--config", config]);
    wait_for("the first daemon's items", LIMIT, || {
        std::fs::metadata(env.out_path()).is_ok_and(|m| m.len() > 0)
    });
    for args in [
        vec!["run", "--config", config],
        vec!["run", "--fresh", "--config", config],
    ] {
        let started = Instant::now();
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused at once"
        );
        let lock = format!("{}.state.lock", env.out_path().display());
        assert!(
            stderr.contains("is in use")
                && stderr.contains(&format!("pid {}", first.id()))
                && stderr.contains(&lock),
            "{stderr}"
        );
    }
    assert_eq!(
        moved_aside(&env),
        0,
        "--fresh moved nothing under the first"
    );

    // Killed: its lock goes with it, and the next start completes the crawl exactly once.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(env.state_path().with_extension("state.lock").exists());
    let (code, stderr) = run(&["run", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    let items = env.items();
    assert_eq!(check_pages(&items, &env.site.options()).len(), 100);
    assert_eq!(items.len(), 100 * 25);
}

#[test]
fn a_missing_or_empty_state_beside_an_output_is_refused() {
    let (env, config) = crawled(5, "batch");
    let config = config.as_str();
    let output = std::fs::read(env.out_path()).unwrap();

    for empty in [false, true] {
        match std::fs::remove_file(env.state_path()) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("{err}"),
        }
        if empty {
            std::fs::write(env.state_path(), b"").unwrap();
        }
        let (code, stderr) = run(&["run", "--config", config]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("missing or empty")
                && stderr.contains(&env.state_path().display().to_string())
                && stderr.contains("--fresh"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(env.out_path()).unwrap(), output, "untouched");
        assert_eq!(env.site.requests_for(0), 1, "nothing fetched");
    }

    let (code, stderr) = run(&["run", "--fresh", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(env.items().len(), 5 * 25);
}

#[test]
fn an_output_edited_by_hand_is_refused_naming_the_first_changed_offset() {
    // A commit per page.
    let (env, config) = crawled(20, "page");
    let config = config.as_str();
    let full = std::fs::read(env.out_path()).unwrap();

    // One line deleted in the middle, as an editor would.
    let lines: Vec<&[u8]> = full.split_inclusive(|&b| b == b'\n').collect();
    let deleted_at: usize = lines[..250].iter().map(|l| l.len()).sum();
    let edited: Vec<u8> = lines
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 250)
        .flat_map(|(_, l)| l.iter().copied())
        .collect();
    std::fs::write(env.out_path(), &edited).unwrap();
    let (code, stderr) = run(&["run", "--config", config]);
    assert_eq!(code, Some(1), "{stderr}");
    // The commit named is the deleted line's page: 25 lines from where that page starts.
    let page_start: usize = lines[..250 / 25 * 25].iter().map(|l| l.len()).sum();
    assert!(
        stderr.contains("was changed after pagecrawl wrote it")
            && stderr.contains(&format!("from offset {page_start} to ")),
        "deleted at {deleted_at}, page from {page_start}: {stderr}"
    );
    assert_eq!(std::fs::read(env.out_path()).unwrap(), edited, "not cut");

    let (code, stderr) = run(&["run", "--fresh", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 20);
}

#[test]
fn a_state_written_before_checksums_still_resumes() {
    let (env, config) = crawled(10, "page");
    let config = config.as_str();
    // As the previous version wrote it: format 1, commits without checksums. And a crash
    // after the last page was written, before its commit record.
    let (records, _) = decode(&std::fs::read(env.state_path()).unwrap());
    let mut old = Vec::new();
    let commits = records
        .iter()
        .filter(|r| matches!(r, Record::Commit { .. }))
        .count();
    let mut seen_commits = 0;
    for record in records {
        let record = match record {
            Record::Header {
                base,
                fp,
                round,
                started_ms,
                seen_base,
                ..
            } => Record::Header {
                v: 1,
                base,
                fp,
                round,
                started_ms,
                seen_base,
            },
            Record::Commit {
                pages, len, seen, ..
            } => {
                seen_commits += 1;
                if seen_commits == commits {
                    continue;
                }
                Record::Commit {
                    pages,
                    len,
                    seen,
                    tail: None,
                    sum: None,
                    store: None,
                    chain: None,
                    gone: Vec::new(),
                }
            }
            Record::RoundEnd { .. } => continue,
            other => other,
        };
        old.extend(encode(&record));
    }
    std::fs::write(env.state_path(), old).unwrap();

    let (code, stderr) = run(&["run", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 1);
    let items = env.items();
    assert_eq!(check_pages(&items, &env.site.options()).len(), 10);
    assert_eq!(items.len(), 10 * 25);
}
