//! Config reload in the long-lived service: an edited file applies between rounds and a broken
//! edit keeps the old config; SIGHUP reloads mid-round (after the round's end) and while idle
//! (at once, a new interval included), refuses a file over the limits, and never stops the
//! service. All through the real binary against a local demo site.

mod common;

use std::time::Duration;

use common::service::{LIMIT, Service, get, lines, link_counts, schedule};
use common::{Knobs, TestEnv};
use demo_site::SiteOptions;

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
