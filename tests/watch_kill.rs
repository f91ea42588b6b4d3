//! Watching a listing through `kill -9`: the service killed at random moments of a round that
//! changes (prices move, books go, books come), restarted each time as a supervisor would, and
//! every event in the output exactly once, whole, against values that were written.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::events::{book_link, counted, prices};
use common::service::{Service, lines};
use common::{Knobs, TestEnv};
use demo_site::{Edition, SiteOptions, Validators};

const PAGES: u64 = 30;

/// The service's config: watched by link, events written, a round every `every_secs`.
fn config(env: &TestEnv, every_secs: u64) -> std::path::PathBuf {
    env.write_config(&Knobs {
        last_page: Some(PAGES - 1),
        crawlers: 2,
        queues: (4, 4, 16),
        extra_fields: common::PRICE,
        extra: format!("[schedule]\nevery_secs = {every_secs}\n"),
        output: "key = \"link\"\nchanges = true\n".to_string(),
        ..Knobs::default()
    })
}

/// Starts the service on `config` and kills it (SIGKILL) at a random moment of the round it
/// runs, up to `kills` times, restarting it each time; then lets it finish round `round`.
fn kill_through_round(config: &std::path::Path, round: u64, kills: u32, seed: &mut u64) -> u32 {
    let done = format!("round {round} done");
    let mut landed = 0;
    for _ in 0..kills {
        let service = Service::start(config);
        service.wait_line("crawling");
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let delay = Duration::from_millis(20 + *seed % 250);
        let started = Instant::now();
        while started.elapsed() < delay && !service.log().contains(&done) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = service.log().contains(&done);
        drop(service); // SIGKILL, and reaped
        if finished {
            return landed;
        }
        landed += 1;
    }
    let service = Service::start(config);
    service.wait_line(&done);
    landed
}

#[test]
fn kill_9_at_any_moment_of_a_changing_round_writes_each_event_exactly_once() {
    let env = TestEnv::new(SiteOptions {
        pages: PAGES,
        latency: Duration::from_millis(20),
        validators: Validators::ETag,
        ..SiteOptions::default()
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    // Round 1, killed and resumed; then idle for an hour, and killed there.
    let kills_1 = kill_through_round(&config(&env, 3600), 1, 4, &mut seed);
    let first = prices(&env, PAGES);

    // The next edition; round 2 starts as soon as the service does (every_secs = 0).
    let (moved, removed) = ([5u64, 200, 420, 700], [100u64, 101, 650]);
    env.site.set_edition(Edition {
        number: 1,
        prices: moved.iter().map(|&b| (b, "123.45".to_string())).collect(),
        removed: removed.into_iter().collect(),
        added: BTreeMap::from([(7, 3), (20, 2)]),
        ..Edition::default()
    });
    let second = prices(&env, PAGES);
    let kills_2 = kill_through_round(&config(&env, 0), 2, 5, &mut seed);
    assert!(
        kills_1 + kills_2 >= 3,
        "only {kills_1} + {kills_2} kills landed mid-round"
    );

    let lines = lines(&env.out_path());
    // Round 1: every book new, once.
    let new_1 = counted(1, "new", &lines);
    assert_eq!(
        new_1.keys().cloned().collect::<BTreeSet<_>>(),
        first.keys().cloned().collect()
    );
    assert!(
        new_1.values().all(|&n| n == 1),
        "a new event twice in round 1"
    );
    assert!(counted(1, "changed", &lines).is_empty() && counted(1, "gone", &lines).is_empty());
    // Round 2: exactly the changes, once each.
    let link = |b: u64| book_link(PAGES, b);
    let changed = counted(2, "changed", &lines);
    let want: BTreeMap<String, usize> = moved.iter().map(|&b| (link(b), 1)).collect();
    assert_eq!(changed, want);
    for line in lines
        .iter()
        .filter(|l| l["round"] == 2 && l["event"] == "changed")
    {
        let link = line["link"].as_str().unwrap();
        assert_eq!(line["previous"]["price"].to_string(), first[link], "{line}");
        assert_eq!(line["price"].to_string(), second[link]);
    }
    let gone = counted(2, "gone", &lines);
    let want: BTreeMap<String, usize> = removed.iter().map(|&b| (link(b), 1)).collect();
    assert_eq!(gone, want);
    let added: BTreeMap<String, usize> = second
        .keys()
        .filter(|l| !first.contains_key(*l))
        .map(|l| (l.clone(), 1))
        .collect();
    assert_eq!(added.len(), 5);
    assert_eq!(counted(2, "new", &lines), added);
    // The rounds after it (back to back, every_secs = 0) found nothing: nothing changed again.
    assert!(lines.iter().all(|l| l["round"].as_u64().unwrap() <= 2));
}
