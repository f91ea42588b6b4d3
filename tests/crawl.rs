//! End-to-end crawls of the local demo site through the library pipeline: completeness, the
//! shutdown race, backpressure, HTTP faults and "until empty" mode.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Knobs, TestEnv, check_pages, run_bounded};
use demo_site::{Fault, SiteOptions};
use pagecrawl::Shutdown;
use pagecrawl::{ExitCode, FetchError};

const LIMIT: Duration = Duration::from_secs(120);

fn full_crawl(crawlers: usize, parsers: usize) {
    let env = TestEnv::with_pages(12);
    let knobs = Knobs {
        last_page: Some(11),
        crawlers,
        parsers,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let items = env.items();
    assert_eq!(items.len(), 12 * 25);
    let counts = check_pages(&items, &env.site.options());
    assert_eq!(counts.len(), 12);
    assert!(counts.values().all(|&n| n == 25));
    assert!(
        items.iter().any(|i| !i.title.is_ascii()),
        "non-ASCII titles survive"
    );
    let s = outcome.summary;
    assert_eq!((s.fetched, s.failed, s.not_crawled), (12, 0, 0));
    assert_eq!((s.written_pages, s.items), (12, 300));
    assert_eq!(
        s.parsed_dom, 0,
        "every demo page is read by the streaming engine"
    );
    for item in &items {
        assert_eq!(item.url, env.site.options_url(item.page));
    }
}

/// Helper trait so tests can ask the site which URL a page has, without repeating the template.
trait SiteUrl {
    fn options_url(&self, page: u64) -> String;
}

impl SiteUrl for demo_site::DemoSite {
    fn options_url(&self, page: u64) -> String {
        let offset = page * self.options().page_size as u64;
        self.url_template().replace("{offset}", &offset.to_string())
    }
}

#[test]
fn full_crawl_one_thread_each() {
    full_crawl(1, 1);
}

#[test]
fn full_crawl_many_threads() {
    full_crawl(8, 4);
}

/// `engine = "dom"` builds every page's tree, and writes exactly what the stream writes.
#[test]
fn both_engines_write_the_same_items() {
    let env = TestEnv::with_pages(6);
    let mut lines = Vec::new();
    for (engine, parsed_dom) in [("stream", 0), ("dom", 6)] {
        env.reset();
        let knobs = Knobs {
            last_page: Some(5),
            engine: Some(engine),
            extra_fields: "subtitle = \"span\"\nid = \"@class\"",
            ..Knobs::default()
        };
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(outcome.summary.parsed_dom, parsed_dom, "{engine}");
        let text = std::fs::read_to_string(env.out_path()).unwrap();
        let mut sorted: Vec<String> = text.lines().map(str::to_string).collect();
        sorted.sort();
        assert_eq!(sorted.len(), 6 * 25, "{engine}");
        lines.push(sorted);
    }
    assert_eq!(lines[0], lines[1]);
    assert!(lines[0][0].contains("\"subtitle\":\": "), "{}", lines[0][0]);
}

#[test]
fn crawl_starting_mid_range() {
    let env = TestEnv::with_pages(10);
    let knobs = Knobs {
        first_page: 4,
        last_page: Some(6),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.summary.fetched, 3);
    let counts = check_pages(&env.items(), &env.site.options());
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [4, 5, 6]);
}

/// The race that miniScrapy loses: many crawls with every mix of thread counts and tiny queues,
/// some of them interrupted at a random moment. Each must finish in bounded time, and every page
/// that was fetched must be in the output, whole, exactly once.
#[test]
fn race_hammer() {
    let started = Instant::now();
    let env = TestEnv::new(SiteOptions {
        pages: 6,
        ..SiteOptions::default()
    });
    let mut crawls = 0;
    let mut interrupted = 0;
    for round in 0..208usize {
        let knobs = Knobs {
            last_page: Some(5),
            crawlers: 1 + (round * 7) % 16,
            parsers: 1 + (round * 5 + round / 16) % 16,
            queues: (1 + round % 4, 1 + (round / 4) % 4, 1 + (round / 16) % 4),
            ..Knobs::default()
        };
        env.reset();
        let shutdown = Shutdown::new();
        // Every fourth crawl is interrupted part-way: from another thread, at a varying moment.
        let stopper = (round % 4 == 3).then(|| {
            let shutdown = shutdown.clone();
            let after = Duration::from_micros(200 * (round as u64 % 13));
            std::thread::spawn(move || {
                std::thread::sleep(after);
                shutdown.request();
            })
        });
        let outcome = run_bounded(env.config(&knobs), shutdown, Duration::from_secs(30));
        if let Some(stopper) = stopper {
            stopper.join().unwrap();
        }
        let items = env.items();
        let counts = check_pages(&items, &env.site.options());
        let s = outcome.summary;
        assert!(outcome.failures.is_empty(), "{outcome:?}");
        assert_eq!(s.failed, 0, "round {round}: {s:?}");
        assert_eq!(
            s.fetched, s.written_pages,
            "round {round} {knobs:?}: a fetched page was not written"
        );
        assert_eq!(counts.len() as u64, s.fetched, "round {round}");
        assert!(
            counts.values().all(|&n| n == 25),
            "round {round}: partial page"
        );
        assert_eq!(
            s.fetched + s.not_crawled,
            6,
            "round {round}: every page is fetched or counted as not crawled"
        );
        if outcome.interrupted {
            interrupted += 1;
            assert_eq!(outcome.exit_code(), ExitCode::Interrupted);
        } else {
            assert_eq!(s.fetched, 6, "round {round}");
            assert_eq!(items.len(), 150, "round {round}");
        }
        crawls += 1;
    }
    assert_eq!(crawls, 208);
    assert!(
        interrupted >= 40,
        "only {interrupted} crawls were interrupted"
    );
    eprintln!(
        "race_hammer: {crawls} crawls ({interrupted} interrupted) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn backpressure_fast_crawlers_slow_parsing() {
    // Sixteen crawlers feed one parser through queues of one: crawlers spend most of their time
    // blocked on a full channel, and nothing may be lost while they are.
    let env = TestEnv::with_pages(40);
    let knobs = Knobs {
        last_page: Some(39),
        crawlers: 16,
        parsers: 1,
        queues: (1, 1, 1),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 40);
}

#[test]
fn backpressure_slow_site_many_parsers() {
    let env = TestEnv::new(SiteOptions {
        pages: 20,
        latency: Duration::from_millis(20),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(19),
        crawlers: 2,
        parsers: 8,
        queues: (1, 1, 1),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 20);
}

/// The output is a pipe drained slowly: the writer blocks on every page, the queue before it
/// fills, and everything upstream waits. All items still arrive, once.
#[test]
fn backpressure_slow_writer() {
    let env = TestEnv::with_pages(30);
    let out = env.out_path();
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let c_path = std::ffi::CString::new(out.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let reader = {
        let out = out.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut pipe = std::fs::File::open(&out).unwrap();
            let mut all = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = pipe.read(&mut chunk).unwrap();
                if n == 0 {
                    break all;
                }
                all.extend_from_slice(&chunk[..n]);
                // A slow consumer: this is the load, not synchronisation.
                std::thread::sleep(Duration::from_micros(300));
            }
        })
    };
    let knobs = Knobs {
        last_page: Some(29),
        crawlers: 8,
        parsers: 4,
        queues: (2, 2, 1),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let bytes = reader.join().unwrap();
    let copy = env.dir.path().join("copy.jsonl");
    std::fs::write(&copy, bytes).unwrap();
    let items = common::read_items(&copy);
    assert_eq!(items.len(), 30 * 25);
    assert_eq!(check_pages(&items, &env.site.options()).len(), 30);
}

/// Pages of many items, and an output nobody reads for a while: the items queue holds at most
/// `queues.items_bytes` of items, however many pages `queues.items` would allow. Then the output
/// drains and every item arrives, once.
#[test]
fn the_items_queue_is_bounded_in_bytes() {
    // 400 items a page weigh about 60 KB in memory; the budget is two such pages.
    let env = TestEnv::new(SiteOptions {
        pages: 80,
        page_size: 400,
        ..SiteOptions::default()
    });
    let out = env.out_path();
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let c_path = std::ffi::CString::new(out.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let (open_gate, gate) = crossbeam_channel::bounded::<()>(0);
    let reader = {
        let out = out.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut pipe = std::fs::File::open(&out).unwrap();
            // Opened (so the writer's open returns), but not read until the gate opens.
            let _ = gate.recv();
            let mut all = Vec::new();
            pipe.read_to_end(&mut all).unwrap();
            all
        })
    };
    let knobs = Knobs {
        last_page: Some(79),
        crawlers: 2,
        parsers: 2,
        queues: (2, 2, 64),
        ..Knobs::default()
    };
    let text = env
        .config_toml(&knobs)
        .replace("items = 64", "items = 64\nitems_bytes = 120000");
    let config = pagecrawl::config::Config::from_toml(&text).unwrap();
    let crawl = std::thread::spawn(move || run_bounded(config, Shutdown::new(), LIMIT));

    // The writer blocks on the pipe; everything before it fills and stops. Watch (bounded) until
    // no request has come for a second.
    let site = &env.site;
    common::wait_for("the crawl to start", LIMIT, || site.total_requests() >= 8);
    let (mut last, mut still_since) = (site.total_requests(), Instant::now());
    while still_since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(50));
        let now = site.total_requests();
        if now != last {
            (last, still_since) = (now, Instant::now());
        }
        assert!(
            now < 80,
            "all 80 pages fetched: nothing held the crawl back"
        );
    }
    // Held: the writer's pages (up to its 256 KiB buffer and the pipe's 64 KiB), about two pages
    // in the items queue, one per parser, two in the html queue and one per crawler. With 64
    // pages of queue and no byte bound, it would be nearly all 80.
    assert!(
        last <= 24,
        "{last} pages fetched while the output was blocked"
    );

    drop(open_gate);
    let outcome = crawl.join().unwrap();
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let copy = env.dir.path().join("copy.jsonl");
    std::fs::write(&copy, reader.join().unwrap()).unwrap();
    let items = common::read_items(&copy);
    assert_eq!(items.len(), 80 * 400);
    assert_eq!(check_pages(&items, &env.site.options()).len(), 80);
}

#[test]
fn http_faults_are_retried_or_failed_without_stopping_the_crawl() {
    let faults = BTreeMap::from([
        (
            1,
            Fault::Status {
                code: 500,
                times: 1,
                retry_after: None,
            },
        ),
        (
            2,
            Fault::Status {
                code: 404,
                times: u32::MAX,
                retry_after: None,
            },
        ),
        (3, Fault::Stall),
        (4, Fault::Huge { bytes: 300_000 }),
        (
            5,
            Fault::Status {
                code: 429,
                times: 1,
                retry_after: Some("0".into()),
            },
        ),
    ]);
    let env = TestEnv::new(SiteOptions {
        pages: 10,
        faults,
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(9),
        crawlers: 3,
        timeout_secs: 0.5,
        retries: 2,
        max_body_bytes: 200_000,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    let took = started.elapsed();
    let s = outcome.summary;
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    assert_eq!((s.fetched, s.failed), (7, 3), "{s:?}");
    let failed: Vec<(u64, Option<&FetchError>)> = outcome
        .failed_pages
        .iter()
        .map(|(p, r)| (*p, r.fetch_error()))
        .collect();
    assert!(
        matches!(failed[0], (2, Some(FetchError::Status { code: 404, .. }))),
        "{failed:?}"
    );
    assert!(
        matches!(failed[1], (3, Some(FetchError::Timeout(_)))),
        "{failed:?}"
    );
    assert!(
        matches!(failed[2], (4, Some(FetchError::TooLarge(_)))),
        "{failed:?}"
    );
    let site = &env.site;
    assert_eq!(
        site.requests_for(1),
        2,
        "500 is retried once, then succeeds"
    );
    assert_eq!(site.requests_for(2), 1, "404 is not retried");
    assert_eq!(site.requests_for(3), 3, "a stall times out, and is retried");
    assert_eq!(
        site.requests_for(4),
        1,
        "a body over the limit is not retried"
    );
    assert_eq!(
        site.requests_for(5),
        2,
        "429 with Retry-After: 0 is retried"
    );
    assert_eq!(s.retries, 1 + 2 + 1);
    // Three attempts at 0.5 s each, plus short backoffs: far below the 10 s a hang would take.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let pages: BTreeSet<u64> = check_pages(&env.items(), &site.options())
        .into_keys()
        .collect();
    assert_eq!(pages, BTreeSet::from([0, 1, 5, 6, 7, 8, 9]));
}

#[test]
fn truncated_body_is_retried_and_never_parsed() {
    let env = TestEnv::new(SiteOptions {
        pages: 6,
        faults: BTreeMap::from([(2, Fault::Truncated)]),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(5),
        raw_server: true,
        retries: 2,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    let s = outcome.summary;
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    assert_eq!((s.fetched, s.failed), (5, 1), "{s:?}");
    assert!(
        matches!(
            outcome.failed_pages[&2].fetch_error(),
            Some(FetchError::Network(_))
        ),
        "{outcome:?}"
    );
    assert_eq!(env.site.requests_for(2), 3);
    let pages: BTreeSet<u64> = check_pages(&env.items(), &env.site.options())
        .into_keys()
        .collect();
    assert!(!pages.contains(&2), "no items from a partial body");
    assert_eq!(pages.len(), 5);
}

#[test]
fn until_empty_stops_at_the_first_empty_page() {
    let env = TestEnv::with_pages(7);
    let knobs = Knobs {
        last_page: None,
        crawlers: 2,
        parsers: 2,
        queues: (2, 2, 8),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(outcome.end_of_listing, Some(7));
    let counts = check_pages(&env.items(), &env.site.options());
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    // Pages past the end can only be those already in flight when page 7 was parsed:
    // one per crawler, per html slot and per parser.
    let past: u64 = (8..100).map(|p| env.site.requests_for(p)).sum();
    assert!(past <= 2 + 2 + 2, "fetched {past} pages past the end");
}

#[test]
fn until_empty_takes_a_404_as_the_end() {
    let env = TestEnv::new(SiteOptions {
        pages: 5,
        faults: BTreeMap::from([(
            5,
            Fault::Status {
                code: 404,
                times: u32::MAX,
                retry_after: None,
            },
        )]),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: None,
        crawlers: 1,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(outcome.end_of_listing, Some(5));
    assert_eq!(outcome.summary.failed, 0);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 5);
}

#[test]
fn delay_spaces_requests() {
    let env = TestEnv::with_pages(6);
    let knobs = Knobs {
        last_page: Some(5),
        crawlers: 4,
        delay_ms: 50,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.summary.fetched, 6);
    // Six request starts 50 ms apart span at least 250 ms, whatever the thread count.
    assert!(started.elapsed() >= Duration::from_millis(250));
}
