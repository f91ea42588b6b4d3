//! Hostile and broken servers: each may slow a crawl down or fail its own page with a one-line
//! reason, but never crash it, hang it, fill its memory or steer it somewhere it should not go.
//! Every other page's items are written exactly once.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use common::{Knobs, TestEnv, check_pages, num, summary_of};
use demo_site::{Fault, SiteOptions};
use pagecrawl::{ExitCode, FetchError, PageError};

/// The fetch error a page failed with.
fn fetch_error(reason: &PageError) -> &FetchError {
    reason
        .fetch_error()
        .unwrap_or_else(|| panic!("not a fetch error: {reason:?}"))
}

const LIMIT: Duration = Duration::from_secs(120);

fn site(pages: u64, faults: impl IntoIterator<Item = (u64, Fault)>) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        faults: faults.into_iter().collect(),
        ..SiteOptions::default()
    })
}

fn redirect(location: impl Into<String>) -> Fault {
    Fault::Redirect {
        status: 302,
        location: location.into(),
    }
}

/// Pages in the output, each checked to be exactly what the site served.
fn pages_written(env: &TestEnv) -> BTreeSet<u64> {
    check_pages(&env.items(), &env.site.options())
        .into_keys()
        .collect()
}

#[test]
fn a_trickling_body_is_stopped_by_the_whole_request_budget() {
    let env = site(4, [(1, Fault::Trickle)]);
    let knobs = Knobs {
        last_page: Some(3),
        raw_server: true,
        timeout_secs: 1.0,
        retries: 1,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    // Two attempts of at most a second each: a per-read timeout alone would never fire, since
    // a byte arrives every 50 ms.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            fetch_error(&outcome.failed_pages[&1]),
            FetchError::Timeout(_)
        ),
        "{outcome:?}"
    );
    assert_eq!(env.site.requests_for(1), 2);
    assert_eq!(pages_written(&env), BTreeSet::from([0, 2, 3]));
}

#[test]
fn a_gzip_bomb_is_limited_after_decoding() {
    let env = site(
        3,
        [(
            1,
            Fault::GzipBomb {
                decoded_bytes: 64 * 1024 * 1024,
            },
        )],
    );
    let knobs = Knobs {
        last_page: Some(2),
        max_body_bytes: 1024 * 1024,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert!(
        matches!(
            fetch_error(&outcome.failed_pages[&1]),
            FetchError::TooLarge(_)
        ),
        "{outcome:?}"
    );
    assert_eq!(env.site.requests_for(1), 1, "not retried");
    // The limit stops the read at 1 MiB + 1 byte of decoded data: far below the 64 MiB.
    assert!(outcome.summary.bytes < 1024 * 1024, "{:?}", outcome.summary);
    assert_eq!(pages_written(&env), BTreeSet::from([0, 2]));
}

#[test]
fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let in_one_second = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let env = site(
        4,
        [
            (
                1,
                Fault::Status {
                    code: 429,
                    times: 1,
                    retry_after: Some("1".into()),
                },
            ),
            (
                2,
                Fault::Status {
                    code: 503,
                    times: 1,
                    retry_after: Some(in_one_second),
                },
            ),
        ],
    );
    let knobs = Knobs {
        last_page: Some(3),
        backoff_ms: 1,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    // The date is rounded to whole seconds, so "in 2 s" may mean a little over 1 s.
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!((env.site.requests_for(1), env.site.requests_for(2)), (2, 2));
    assert_eq!(pages_written(&env).len(), 4);
}

#[test]
fn a_429_never_speeds_the_crawl_up() {
    // delay_ms spaces 7 request starts (6 pages and one retry) by at least 200 ms; a 429 with
    // Retry-After: 0 must not shorten that, and it widens the gap for the rest of the crawl.
    // How much wider the last gaps are depends on how many successes relaxed the gap before
    // they were reserved (the pacer's unit test pins the arithmetic), so only 100 ms of the
    // widening is asserted here: a loaded machine once saw 1.38 s where 1.56 s is usual.
    let env = site(
        6,
        [(
            0,
            Fault::Status {
                code: 429,
                times: 1,
                retry_after: Some("0".into()),
            },
        )],
    );
    let knobs = Knobs {
        last_page: Some(5),
        crawlers: 4,
        delay_ms: 200,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(6 * 200 + 100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pages_written(&env).len(), 6);
}

#[test]
fn redirects_are_followed_only_where_the_policy_allows() {
    // Another server on the same address, another port: what a redirect to the site's own IP
    // on another port (Redis, an admin page) would reach.
    let other = site(10, []);
    let b = other.site.addr();
    let env = site(
        10,
        [
            (1, redirect("/top250?page=1")), // a loop
            (2, redirect("/top250?page=2&direct=1")),
            (
                3,
                redirect(format!("http://localhost:{}/top250?page=3", b.port())),
            ),
            (4, redirect("file:///etc/passwd")),
            (5, redirect("ftp://127.0.0.1/top250")),
            (6, redirect(format!("http://{b}/top250?page=6&direct=1"))),
            (7, redirect("https://127.0.0.1/top250?page=7")),
        ],
    );
    let knobs = Knobs {
        last_page: Some(9),
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    let failed = &outcome.failed_pages;
    assert!(
        matches!(fetch_error(&failed[&1]), FetchError::Redirect(why)
            if why.contains("more than http.max_redirects (5)")),
        "{failed:?}"
    );
    assert_eq!(
        env.site.requests_for(1),
        6,
        "the first request and five redirects"
    );
    assert!(!failed.contains_key(&2), "a same-site redirect is followed");
    assert_eq!(env.site.requests_for(2), 2);
    let redirect = |page: u64| match fetch_error(&failed[&page]) {
        FetchError::Redirect(why) => why.clone(),
        other => panic!("page {page}: not a refused redirect: {other:?}"),
    };
    assert!(redirect(4).contains("scheme file"), "{failed:?}");
    assert!(redirect(5).contains("scheme ftp"), "{failed:?}");
    // Same site means the same scheme, host and port: localhost is not 127.0.0.1, another port
    // is another server, and https is not http.
    for page in [3, 6, 7] {
        assert!(
            redirect(page).contains("redirect to another site"),
            "page {page}: {failed:?}"
        );
        assert_eq!(env.site.requests_for(page), 1, "page {page}: not followed");
    }
    assert!(
        redirect(6).contains(&format!("(http://{b}, not http://127.0.0.1:")),
        "{failed:?}"
    );
    assert_eq!(
        other.site.total_requests(),
        0,
        "the other server got nothing"
    );
    let written = pages_written(&env);
    assert_eq!(written, BTreeSet::from([0, 2, 8, 9]));
}

/// A crawl of `env` with `follow_offsite_redirects = true` and no retries.
fn crawl_following_offsite(env: &TestEnv, last_page: u64) -> pagecrawl::Outcome {
    let knobs = Knobs {
        last_page: Some(last_page),
        retries: 0,
        ..Knobs::default()
    };
    let config = env.config_toml(&knobs).replace(
        "retries = 0",
        "retries = 0\nfollow_offsite_redirects = true",
    );
    common::run_bounded(
        pagecrawl::config::Config::from_toml(&config).unwrap(),
        pagecrawl::Shutdown::new(),
        LIMIT,
    )
}

#[test]
fn offsite_redirects_follow_only_when_allowed_and_never_to_internal_addresses() {
    let env = site(
        6,
        [
            (1, redirect("http://localhost:1/top250?page=1&direct=1")),
            (2, redirect("http://169.254.169.254/latest/meta-data/")),
            (3, redirect("http://127.0.0.2/top250")),
            (4, redirect("http://10.0.0.1/top250")),
        ],
    );
    let outcome = crawl_following_offsite(&env, 5);
    let failed = &outcome.failed_pages;
    // Followed (localhost is the site's own 127.0.0.1), then nothing listens on port 1.
    assert!(
        matches!(fetch_error(&failed[&1]), FetchError::Network(_)),
        "{failed:?}"
    );
    for page in [2, 3, 4] {
        assert!(
            matches!(fetch_error(&failed[&page]), FetchError::Redirect(why)
                if why.contains("not a public address")),
            "page {page}: {failed:?}"
        );
    }
    assert_eq!(pages_written(&env), BTreeSet::from([0, 5]));
}

#[test]
fn ipv6_addresses_that_carry_an_internal_ipv4_address_are_refused() {
    let env = site(
        7,
        [
            // 169.254.169.254, the cloud metadata address, in four IPv6 dresses.
            (1, redirect("http://[::a9fe:a9fe]/latest/meta-data/")),
            (2, redirect("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/")),
            (3, redirect("http://[2002:a9fe:a9fe::1]/latest/meta-data/")),
            // Teredo, whose client address (stored inverted) is 127.0.0.1.
            (4, redirect("http://[2001:0:5ef5:79fb:0:f227:80ff:fffe]/")),
            (5, redirect("http://[::ffff:10.0.0.1]/")),
        ],
    );
    let outcome = crawl_following_offsite(&env, 6);
    let failed = &outcome.failed_pages;
    for page in 1..=5 {
        assert!(
            matches!(fetch_error(&failed[&page]), FetchError::Redirect(why)
                if why.contains("not a public address")),
            "page {page}: {failed:?}"
        );
    }
    assert_eq!(pages_written(&env), BTreeSet::from([0, 6]));
}

#[test]
fn huge_response_headers_fail_the_page_only() {
    // Response heads up to 32 KiB are read (what AWS's load balancers pass on); a larger one
    // fails its page with a reason, a megabyte of them as well.
    let env = site(
        5,
        [
            (1, Fault::HugeHeaders { bytes: 1024 * 1024 }),
            (2, Fault::HugeHeaders { bytes: 40 * 1024 }),
            (3, Fault::HugeHeaders { bytes: 28 * 1024 }),
        ],
    );
    let knobs = Knobs {
        last_page: Some(4),
        raw_server: true,
        retries: 1,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert!(outcome.failed_pages.contains_key(&1), "{outcome:?}");
    for page in [1, 2] {
        let err = fetch_error(&outcome.failed_pages[&page]);
        assert!(
            matches!(err, FetchError::Other(_))
                && err.to_string().contains("response header is too big"),
            "{err:?}"
        );
    }
    assert_eq!(pages_written(&env), BTreeSet::from([0, 3, 4]));
}

#[test]
fn pages_in_other_charsets_are_decoded() {
    let charset = |label: &str, in_meta| Fault::Charset {
        label: label.into(),
        in_meta,
    };
    let env = site(
        5,
        [
            (0, charset("gbk", false)),
            (1, charset("gb18030", true)),
            (2, charset("big5", false)),
            (3, charset("shift_jis", true)),
        ],
    );
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(4),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    // check_pages compares every title, Chinese text included, with what the site meant.
    assert_eq!(pages_written(&env).len(), 5);
}

#[test]
fn no_proxy_is_taken_from_the_environment() {
    let env = site(3, []);
    let config = env.write_config(&Knobs {
        last_page: Some(2),
        ..Knobs::default()
    });
    let child = std::process::Command::new(common::bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        // Nothing listens there: a crawler that used it would fail every page.
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .env("http_proxy", "http://127.0.0.1:1")
        .env("ALL_PROXY", "http://127.0.0.1:1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_bounded(child, LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 3);
}

#[test]
fn timeout_secs_bounds_the_whole_request_redirects_included() {
    // Every answer takes 500 ms and page 1 redirects to itself: five hops would take 3 s.
    let env = TestEnv::new(SiteOptions {
        pages: 3,
        latency: Duration::from_millis(500),
        faults: [(1, redirect("/top250?page=1"))].into_iter().collect(),
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: Some(2),
        timeout_secs: 1.2,
        retries: 0,
        ..Knobs::default()
    };
    let started = Instant::now();
    let outcome = env.crawl(&knobs, LIMIT);
    assert!(
        matches!(
            fetch_error(&outcome.failed_pages[&1]),
            FetchError::Timeout(_)
        ),
        "{:?}",
        outcome.failed_pages
    );
    assert!(
        env.site.requests_for(1) <= 3,
        "hops after the deadline: {}",
        env.site.requests_for(1)
    );
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pages_written(&env), BTreeSet::from([0, 2]));
}

/// `data` compressed as `encoding` says (`gzip`, `deflate` for zlib, `deflate-bare`, `br`).
fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;
    let mut out = Vec::new();
    let mut writer: Box<dyn Write + '_> = match encoding {
        "gzip" => Box::new(GzEncoder::new(&mut out, Compression::best())),
        "deflate" => Box::new(ZlibEncoder::new(&mut out, Compression::best())),
        "deflate-bare" => Box::new(DeflateEncoder::new(&mut out, Compression::best())),
        "br" => Box::new(brotli::CompressorWriter::new(&mut out, 64 * 1024, 5, 22)),
        other => panic!("no encoder for {other}"),
    };
    writer.write_all(data).unwrap();
    drop(writer); // each encoder finishes its stream when dropped
    out
}

#[test]
fn gzip_deflate_and_br_pages_are_decoded_and_bombs_of_each_stopped_after_decoding() {
    let base = SiteOptions {
        pages: 10,
        ..SiteOptions::default()
    };
    let page = |n| demo_site::render_page(&base, n).into_bytes();
    let encoded = |header: &str, body: Vec<u8>| Fault::Encoded {
        encoding: header.into(),
        body,
    };
    let bomb = vec![b' '; 32 * 1024 * 1024];
    let env = site(
        10,
        [
            (1, encoded("gzip", compress("gzip", &page(1)))),
            (2, encoded("deflate", compress("deflate", &page(2)))),
            (3, encoded("deflate", compress("deflate-bare", &page(3)))),
            (4, encoded("br", compress("br", &page(4)))),
            (5, encoded("zstd", page(5))),
            (6, encoded("br", compress("br", &bomb))),
            (7, encoded("deflate", compress("deflate", &bomb))),
            (8, encoded("deflate", compress("deflate-bare", &bomb))),
        ],
    );
    let knobs = Knobs {
        last_page: Some(9),
        max_body_bytes: 1024 * 1024,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    let failed = &outcome.failed_pages;
    assert!(
        matches!(fetch_error(&failed[&5]), FetchError::Encoding(why)
            if why.contains("\"zstd\" was not asked for")),
        "{failed:?}"
    );
    for page in [6, 7, 8] {
        assert!(
            matches!(fetch_error(&failed[&page]), FetchError::TooLarge(_)),
            "page {page}: {failed:?}"
        );
    }
    for page in 5..=8 {
        assert_eq!(env.site.requests_for(page), 1, "page {page}: not retried");
    }
    // Every decoded page is whole, with the items the site meant.
    assert_eq!(pages_written(&env), BTreeSet::from([0, 1, 2, 3, 4, 9]));
}
