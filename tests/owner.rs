//! One owner per output: a second daemon on the same output is refused while the first runs
//! (and not once it is dead).

mod common;

use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, check_pages, run_bin, spawn_bin, wait_for};
use pagecrawl::demo_site::SiteOptions;

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = run_bin(args, LIMIT);
    (out.status.code(), text(&out.stderr))
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
