//! Rounds of the long-lived service and stopping them: SIGTERM mid-round finishes the pages in
//! flight, writes every fetched page once and exits 130; a selector warning is given once in
//! each round, not once per service.

mod common;

use std::time::Duration;

use common::service::{LIMIT, Service, get, link_counts, schedule};
use common::{Knobs, TestEnv, num, summary_of};
use demo_site::SiteOptions;

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

/// `run --once`: one round of a `[schedule]` config now, then exit, for rounds driven from
/// cron: each call runs the next round (a new one once the last is finished), with events
/// against the one before; without `[schedule]` it is refused, naming the file.
#[test]
fn run_once_runs_the_next_round_and_exits() {
    let env = TestEnv::new(SiteOptions {
        pages: 4,
        validators: demo_site::Validators::ETag,
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(3),
        output: "key = \"link\"\nchanges = true\n".to_string(),
        extra: schedule(3600),
        ..Knobs::default()
    });
    let config = config.to_str().unwrap();
    let once = || common::service::run_once(config);
    let first = once();
    assert_eq!((num(&first, "round"), num(&first, "items_new")), (1, 100));
    // The schedule says an hour; --once does not wait for it.
    let second = once();
    assert_eq!(num(&second, "round"), 2);
    assert_eq!(num(&second, "pages_not_modified"), 4);
    assert_eq!(num(&second, "items_unchanged"), 100);
    let lines = common::service::lines(&env.out_path());
    assert_eq!(lines.len(), 100, "round 2 wrote no event");
    assert!(
        lines
            .iter()
            .all(|line| line["event"] == "new" && line["round"] == 1)
    );

    let plain = env.write_config(&Knobs {
        last_page: Some(3),
        ..Knobs::default()
    });
    let out = common::run_bin(&["run", "-c", plain.to_str().unwrap(), "--once"], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--once runs one round of a `[schedule]` service")
            && stderr.contains("pagecrawl.toml"),
        "{stderr}"
    );
}
