//! The service's metrics and health endpoint: `/metrics` equal to the round's summary and
//! `/healthz` following the state, a taken port refused with exit 1 before anything is crawled,
//! and hostile clients (pipelining without reading, a huge request head, more idle sockets than
//! file descriptors) that must not deny it to a scraper.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::service::{Service, get, schedule};
use common::{Knobs, TestEnv, num, summary_of};

#[test]
fn metrics_match_the_summary_and_health_reflects_the_state() {
    let env = TestEnv::with_pages(8);
    let config = env.write_config(&Knobs {
        last_page: Some(7),
        // "£47.01" is no number: 25 values per page that do not convert.
        extra_fields: "bad_price = { css = \"span.price\", type = \"number\" }\n",
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    let addr = service.endpoint();
    service.wait_line("round 1 done");
    let summary = summary_of(&service.log());
    assert_eq!(num(&summary, "fields_unconverted"), 200);

    let (code, body) = get(addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["state"], "idle", "{body}");
    assert_eq!(health["round"], 1, "{body}");
    assert_eq!(health["pages_done"], 8, "{body}");
    assert!(health["next_round_at"].is_string(), "{body}");

    let (code, text) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let value = |name: &str| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    for (metric, key) in [
        ("pagecrawl_pages_fetched_total", "pages_fetched"),
        ("pagecrawl_pages_failed_total", "pages_failed"),
        ("pagecrawl_pages_disallowed_total", "pages_disallowed"),
        ("pagecrawl_retries_total", "retries"),
        ("pagecrawl_items_written_total", "items"),
        ("pagecrawl_pages_written_total", "pages_written"),
        ("pagecrawl_response_bytes_total", "bytes"),
        ("pagecrawl_pages_parsed_dom_total", "pages_parsed_dom"),
        ("pagecrawl_fields_unconverted_total", "fields_unconverted"),
    ] {
        assert_eq!(value(metric), num(&summary, key) as f64, "{metric}");
    }
    assert_eq!(value("pagecrawl_items_written_total"), 200.0);
    assert_eq!(value("pagecrawl_round"), 1.0);
    assert_eq!(value("pagecrawl_up"), 1.0);
    assert!(value("pagecrawl_last_round_end_timestamp_seconds") > 1.0e9);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "pagecrawl_fetch_duration_seconds"
                && matches!(&s.value, prometheus_parse::Value::Histogram(h) if h.iter().any(|b| b.count == 8.0))),
        "a histogram of 8 fetches:\n{text}"
    );
    assert_eq!(get(addr, "/nope").0, 404);

    // Idle until an hour from now: a stop ends it at once, with 0.
    let sent = Instant::now();
    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    assert!(log.contains("stop requested while idle"), "{log}");
    // Only what happens: nothing is in flight while idle.
    assert!(!log.contains("finishing pages in flight"), "{log}");
}

#[test]
fn a_taken_port_fails_cleanly_with_exit_1() {
    let env = TestEnv::with_pages(1);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = env.write_config(&Knobs {
        last_page: Some(0),
        extra: format!("[service]\nlisten = \"{addr}\"\n"),
        ..Knobs::default()
    });
    let service = Service::start(&config);
    let (code, log) = service.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("binding service.listen {addr}")),
        "{log}"
    );
    assert_eq!(env.site.total_requests(), 0, "nothing crawled");
}

/// A GET that must be answered within `limit`: `(status, body)`.
fn get_within(addr: SocketAddr, path: &str, limit: Duration) -> (u16, String) {
    let started = Instant::now();
    let answer = get(addr, path);
    assert!(
        started.elapsed() < limit,
        "GET {path} took {:?}",
        started.elapsed()
    );
    answer
}

#[test]
fn hostile_clients_cannot_deny_the_endpoint_to_a_scraper() {
    use std::io::Write;
    use std::net::TcpStream;
    let env = TestEnv::with_pages(2);
    let config = env.write_config(&Knobs {
        last_page: Some(1),
        extra: format!("{}[service]\nlisten = \"127.0.0.1:0\"\n", schedule(3600)),
        ..Knobs::default()
    });
    // Few file descriptors, as under a tight `ulimit -n`: the flood below runs the process out.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" run --config "$1""#)
        .arg(common::bin())
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let service = Service::of(child);
    let addr = service.endpoint();
    service.wait_line("round 1 done");
    let prompt = Duration::from_secs(3);

    // 1. A client that pipelines requests and never reads an answer.
    let mut pipeliner = TcpStream::connect(addr).unwrap();
    pipeliner
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for _ in 0..2000 {
        if pipeliner
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            break; // answered once and closed: the rest is refused
        }
    }
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    // 2. A request head of 64 MB: refused after a few kilobytes, never buffered whole.
    let mut huge = TcpStream::connect(addr).unwrap();
    huge.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    huge.write_all(b"GET /metrics HTTP/1.1\r\nX-Junk: ")
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < 64 << 20 && huge.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    assert!(sent < 16 << 20, "{sent} bytes of one header were taken in");
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    // 3. Four times as many silent connections as the process has file descriptors.
    let idle: Vec<TcpStream> = (0..256)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(idle.len() > 100, "only {} connections opened", idle.len());
    let (code, body) = get_within(addr, "/metrics", prompt);
    assert_eq!(code, 200);
    assert!(body.contains("pagecrawl_up 1"), "{body}");
    let log = service.wait_line("out of file descriptors");
    assert!(log.contains("closing idle connections"), "{log}");
    drop(idle);
    assert_eq!(get_within(addr, "/healthz", prompt).0, 200);

    service.signal(libc::SIGTERM);
    let (code, log) = service.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{log}");
}
