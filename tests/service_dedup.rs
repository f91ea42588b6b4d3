//! New-item detection in the long-lived service with `output.dedup`: round 2 writes only the
//! items the listing gained since round 1, and the seen-set survives `kill -9` mid-round and
//! between rounds, so that no item is written twice. All through the real binary against a
//! local demo site.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::service::{LIMIT, Service, expected_links, lines, link_counts, schedule};
use common::{Knobs, TestEnv};
use demo_site::SiteOptions;

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
