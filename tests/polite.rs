//! Being a good citizen: robots.txt (skipped pages, the statuses of the file,
//! Crawl-delay, one fetch per round), `[http.headers]` (sent, to the site's origin only,
//! refused when malformed) and HTTPS (`http.ca_file`, certificate errors in words).

mod common;

use std::time::Duration;

use common::{Knobs, TestEnv, check_pages, run_bin};
use demo_site::{DemoSite, Fault, RobotsTxt, SiteOptions, TestCa, Validity};
use pagecrawl::ExitCode;
use pagecrawl::config::Config;

const LIMIT: Duration = Duration::from_secs(60);

/// A site of `pages` pages whose robots.txt answers `robots`.
fn env_with_robots(pages: u64, robots: RobotsTxt) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        robots,
        ..SiteOptions::default()
    })
}

/// `k`'s config with `lines` added to its `[http]` table.
fn with_http(env: &TestEnv, k: &Knobs, lines: &str) -> Config {
    let text = env
        .config_toml(k)
        .replace("[http]\n", &format!("[http]\n{lines}\n"));
    Config::from_toml(&text).unwrap_or_else(|err| panic!("{err:#}\n{text}"))
}

/// The pages present in the output.
fn pages_written(env: &TestEnv) -> Vec<u64> {
    let mut pages: Vec<u64> = env.items().iter().map(|i| i.page).collect();
    pages.sort_unstable();
    pages.dedup();
    pages
}

#[test]
fn disallowed_pages_are_skipped_counted_not_written_and_crawled_once_allowed() {
    // Pages 2 (start=50) and 7 (start=175); `$` keeps start=500 … allowed.
    let robots = "User-agent: *\nDisallow: /top250?start=50$\nDisallow: /top250?start=175$\n";
    for last_page in [Some(9), None] {
        let env = env_with_robots(10, RobotsTxt::Text(robots.into()));
        let k = Knobs {
            last_page,
            ..Knobs::default()
        };
        let outcome = env.crawl(&k, LIMIT);
        assert_eq!(
            outcome.exit_code(),
            ExitCode::Success,
            "{last_page:?}: {outcome:?}"
        );
        assert_eq!(outcome.summary.disallowed, 2, "{last_page:?}");
        assert_eq!(outcome.summary.failed, 0);
        assert!(outcome.failed_pages.is_empty());
        assert!(
            outcome
                .disallowed_example
                .as_deref()
                .is_some_and(|url| url.ends_with("start=50") || url.ends_with("start=175")),
            "{:?}",
            outcome.disallowed_example
        );
        // Not fetched, not written; the listing did not end at them.
        assert_eq!(env.site.requests_for(2), 0);
        assert_eq!(env.site.requests_for(7), 0);
        assert_eq!(
            pages_written(&env),
            [0, 1, 3, 4, 5, 6, 8, 9],
            "{last_page:?}"
        );
        check_pages(&env.items(), &env.site.options());
        if last_page.is_none() {
            assert_eq!(outcome.end_of_listing, Some(10));
        }
        assert!(!outcome.round_ended, "skipped pages keep the round open");
        assert_eq!(env.site.robots_requests(), 1);

        // A resume that does not read robots.txt crawls them, and only them.
        let again = pagecrawl::run(
            &with_http(&env, &k, "robots = false"),
            &pagecrawl::Shutdown::new(),
            &pagecrawl::OutputLock::default(),
        )
        .unwrap();
        assert_eq!(again.exit_code(), ExitCode::Success, "{again:?}");
        assert_eq!(again.summary.disallowed, 0);
        assert_eq!(
            again.summary.fetched, 2,
            "{last_page:?}: {:?}",
            again.summary
        );
        assert_eq!(
            env.site.robots_requests(),
            1,
            "robots = false reads no robots.txt"
        );
        let mut pages = pages_written(&env);
        pages.sort_unstable();
        assert_eq!(pages, (0..10).collect::<Vec<_>>());
        assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 10);
    }
}

#[test]
fn a_missing_robots_txt_allows_everything_and_is_fetched_once_per_round() {
    let env = TestEnv::with_pages(20);
    let k = Knobs {
        last_page: Some(19),
        crawlers: 8,
        ..Knobs::default()
    };
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.summary.disallowed, 0);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 20);
    assert_eq!(env.site.robots_requests(), 1, "8 crawlers, one fetch");
    // Asked with our User-Agent.
    let robots: Vec<_> = env
        .site
        .requests_seen()
        .into_iter()
        .filter(|r| r.target == "/robots.txt")
        .collect();
    assert_eq!(robots.len(), 1);
    let ua = robots[0]
        .header("user-agent")
        .unwrap_or_default()
        .to_string();
    assert!(ua.starts_with("pagecrawl/"), "{ua:?}");

    // The next round (a fresh output here) asks again, once.
    env.reset();
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success);
    assert_eq!(env.site.robots_requests(), 2);
}

#[test]
fn a_failing_robots_txt_disallows_the_round_and_a_resume_crawls_the_pages() {
    for last_page in [Some(5), None] {
        let env = env_with_robots(6, RobotsTxt::Status(500));
        let k = Knobs {
            last_page,
            retries: 2,
            ..Knobs::default()
        };
        let outcome = env.crawl(&k, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
        assert_eq!(outcome.summary.fetched, 0);
        assert!(outcome.summary.disallowed > 0);
        assert!(outcome.failed_pages.is_empty(), "disallowed, not failed");
        assert_eq!(env.site.robots_requests(), 3, "one try and two retries");
        for page in 0..6 {
            assert_eq!(env.site.requests_for(page), 0, "page {page}");
        }
        assert!(env.items().is_empty());
        match last_page {
            Some(_) => assert!(outcome.all_disallowed()),
            None => assert!(
                outcome
                    .stopped
                    .as_deref()
                    .is_some_and(|why| why.contains("disallowed by robots.txt")),
                "{:?}",
                outcome.stopped
            ),
        }

        // The server recovers: the resume reads robots.txt again and crawls everything.
        env.site.set_robots(RobotsTxt::Missing);
        let outcome = env.crawl(&k, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        assert_eq!(env.site.robots_requests(), 4);
        assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 6);
    }
}

#[test]
fn a_robots_txt_slower_than_the_timeout_counts_as_unreachable() {
    let env = env_with_robots(
        3,
        RobotsTxt::Slow {
            text: "User-agent: *\nAllow: /\n".into(),
            delay: Duration::from_secs(30),
        },
    );
    let k = Knobs {
        last_page: Some(2),
        timeout_secs: 0.3,
        retries: 1,
        ..Knobs::default()
    };
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    assert!(outcome.all_disallowed());
    assert_eq!(outcome.summary.disallowed, 3);
    assert_eq!(env.site.robots_requests(), 2);
    assert_eq!(env.site.requests_for(0), 0);
}

#[test]
fn crawl_delay_spaces_the_page_requests() {
    let env = env_with_robots(
        6,
        RobotsTxt::Text("User-agent: *\nCrawl-delay: 0.2\n".into()),
    );
    let k = Knobs {
        last_page: Some(5),
        crawlers: 4,
        ..Knobs::default()
    };
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 6);
    let mut arrivals: Vec<_> = env
        .site
        .requests_seen()
        .into_iter()
        .filter(|r| r.target.starts_with("/top250"))
        .map(|r| r.at)
        .collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 6);
    // The pacer starts them 200 ms apart; arrival times may jitter a little either way.
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(120),
            "{gap:?} between two pages"
        );
    }
    let span = arrivals[5] - arrivals[0];
    assert!(span >= Duration::from_millis(900), "{span:?} for 6 pages");
}

#[test]
fn extra_headers_reach_the_site_and_never_another_host() {
    let other = DemoSite::start(SiteOptions::default()).unwrap();
    let mut faults = std::collections::BTreeMap::new();
    faults.insert(
        3,
        Fault::Redirect {
            status: 302,
            location: format!("http://{}/top250?start=75&direct=1", other.addr()),
        },
    );
    let env = TestEnv::new(SiteOptions {
        pages: 5,
        faults,
        ..SiteOptions::default()
    });
    let k = Knobs {
        last_page: Some(4),
        extra:
            "[http.headers]\nAccept-Language = \"fr-FR, fr;q=0.9\"\nCookie = \"session=s3cret\"\n\
                X-Trace = \"polite-test\"\n"
                .into(),
        ..Knobs::default()
    };
    let config = with_http(&env, &k, "follow_offsite_redirects = true");
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let seen = env.site.requests_seen();
    assert_eq!(seen.len(), 6, "robots.txt and 5 pages: {seen:?}");
    for request in &seen {
        assert_eq!(request.header("accept-language"), Some("fr-FR, fr;q=0.9"));
        assert_eq!(request.header("cookie"), Some("session=s3cret"));
        assert_eq!(request.header("x-trace"), Some("polite-test"));
    }
    // Page 3 was answered by the other host, which got none of them.
    let elsewhere = other.requests_seen();
    assert_eq!(elsewhere.len(), 1, "{elsewhere:?}");
    assert_eq!(elsewhere[0].header("cookie"), None);
    assert_eq!(elsewhere[0].header("x-trace"), None);
    assert!(elsewhere[0].header("user-agent").is_some());
}

#[test]
fn malformed_headers_are_refused_naming_the_key() {
    let env = TestEnv::with_pages(1);
    let bad = [
        ("\"Bad Name\" = \"x\"", "http.headers.\"Bad Name\""),
        ("Host = \"evil.example\"", "http.headers.Host"),
        ("X-Split = \"a\\r\\nX-Injected: 1\"", "http.headers.X-Split"),
        ("X-Number = 3", "http.headers.X-Number"),
        ("User-Agent = \"x\"", "http.user_agent"),
    ];
    for (line, key) in bad {
        let k = Knobs {
            extra: format!("[http.headers]\n{line}\n"),
            ..Knobs::default()
        };
        let path = env.write_config(&k);
        let out = run_bin(&["check", "--config", path.to_str().unwrap()], LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{line}: {stderr}");
        assert!(stderr.contains(key), "{line}: {stderr}");
    }
    // A good table is shown by `check`, the cookie hidden.
    let k = Knobs {
        extra: "[http.headers]\nAccept-Language = \"de\"\nCookie = \"id=42\"\n".into(),
        ..Knobs::default()
    };
    let path = env.write_config(&k);
    let out = run_bin(&["check", "--config", path.to_str().unwrap()], LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("[http.headers]\n"), "{stdout}");
    assert!(stdout.contains("Accept-Language = \"de\""), "{stdout}");
    assert!(stdout.contains("Cookie = \"<hidden: 5 bytes"), "{stdout}");
    assert!(!stdout.contains("id=42"), "{stdout}");
    assert!(stdout.contains("robots = true"), "{stdout}");
}

/// A site served over HTTPS with `identity`'s certificate.
fn https_env(ca: &TestCa, names: &[&str], validity: Validity) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages: 3,
        tls: Some(ca.identity(names, validity)),
        ..SiteOptions::default()
    })
}

/// The config of an HTTPS crawl of `env`'s 3 pages, trusting `ca_file` if given.
fn https_config(env: &TestEnv, ca_file: Option<&std::path::Path>) -> Config {
    let k = Knobs {
        last_page: Some(2),
        ..Knobs::default()
    };
    let text = env
        .config_toml(&k)
        .replace(&env.site.url_template(), &env.site.https_url_template());
    let text = match ca_file {
        Some(path) => text.replace("[http]\n", &format!("[http]\nca_file = {path:?}\n")),
        None => text,
    };
    Config::from_toml(&text).unwrap_or_else(|err| panic!("{err:#}"))
}

#[test]
fn https_with_the_ca_in_ca_file_crawls_everything() {
    let ca = TestCa::new();
    let env = https_env(&ca, &["127.0.0.1"], Validity::Current);
    let ca_file = env.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let outcome = common::run_bounded(
        https_config(&env, Some(&ca_file)),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 3);
    let items = env.items();
    assert!(
        items[0].url.starts_with("https://127.0.0.1:"),
        "{:?}",
        items[0]
    );
    assert_eq!(env.site.robots_requests(), 1, "robots.txt over HTTPS too");
}

/// Crawls `env` over HTTPS (trusting `ca_file`, if any) and returns each page's TLS failure,
/// in words.
fn https_failures(env: &TestEnv, ca_file: Option<&std::path::Path>) -> Vec<String> {
    let outcome = common::run_bounded(
        https_config(env, ca_file),
        pagecrawl::Shutdown::new(),
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    assert!(env.items().is_empty());
    assert_eq!(outcome.summary.disallowed, 0, "failed, not disallowed");
    assert_eq!(outcome.failed_pages.len(), 3, "{outcome:?}");
    assert_eq!(
        outcome.summary.retries, 0,
        "a certificate error is not retried"
    );
    let https = format!("https://{}/top250?start=", env.site.https_addr().unwrap());
    let mut out = Vec::new();
    for reason in outcome.failed_pages.values() {
        let Some(pagecrawl::FetchError::Tls(why)) = reason.fetch_error() else {
            panic!("not a TLS failure: {reason:?}");
        };
        assert!(why.contains(&https), "the URL in {why:?}");
        out.push(why.clone());
    }
    out
}

#[test]
fn certificate_errors_say_what_failed() {
    let ca = TestCa::new();
    let ok_name = https_env(&ca, &["127.0.0.1"], Validity::Current);
    for reason in https_failures(&ok_name, None) {
        assert!(reason.contains("unknown issuer"), "{reason}");
        assert!(reason.contains("http.ca_file"), "{reason}");
    }

    let ca_file = ok_name.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let wrong_name = https_env(&ca, &["listing.example"], Validity::Current);
    for reason in https_failures(&wrong_name, Some(&ca_file)) {
        assert!(
            reason.contains("not valid for this host name (wrong name)"),
            "{reason}"
        );
    }

    let expired = https_env(&ca, &["127.0.0.1"], Validity::Expired);
    for reason in https_failures(&expired, Some(&ca_file)) {
        assert!(reason.contains("expired"), "{reason}");
    }
}

#[test]
fn a_bad_ca_file_is_refused_at_load_naming_the_key_and_file() {
    let env = TestEnv::with_pages(1);
    let not_pem = env.dir.path().join("notes.txt");
    std::fs::write(&not_pem, "just some text\n").unwrap();
    let missing = env.dir.path().join("missing.pem");
    for path in [&not_pem, &missing] {
        let text = env
            .config_toml(&Knobs::default())
            .replace("[http]\n", &format!("[http]\nca_file = {path:?}\n"));
        let err = format!("{:#}", Config::from_toml(&text).unwrap_err());
        assert!(err.contains("`http.ca_file`"), "{err}");
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn robots_txt_redirects_are_followed_within_the_address_policy() {
    let rules = "User-agent: *\nDisallow: /top250?start=50$\n";
    // To the site's own file: followed, its rules apply.
    let env = env_with_robots(
        4,
        RobotsTxt::Redirect {
            location: "/robots.txt?direct=1".into(),
            text: rules.into(),
        },
    );
    let k = Knobs {
        last_page: Some(3),
        ..Knobs::default()
    };
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.summary.disallowed, 1);
    assert_eq!(env.site.requests_for(2), 0);
    assert_eq!(env.site.robots_requests(), 2, "the redirect and its target");

    // To another site (another port): the address policy does not follow it, so there is no
    // file, and everything is allowed, as RFC 9309 has it for a redirect not followed.
    let other = env_with_robots(1, RobotsTxt::Text("User-agent: *\nDisallow: /\n".into()));
    let env = env_with_robots(
        4,
        RobotsTxt::Redirect {
            location: format!("http://{}/robots.txt", other.site.addr()),
            text: String::new(),
        },
    );
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.summary.disallowed, 0);
    assert_eq!(other.site.robots_requests(), 0, "not followed");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 4);
}

#[test]
fn a_huge_robots_txt_is_read_to_its_first_500_kib() {
    let mut text = "User-agent: *\nDisallow: /top250?start=25$\n".to_string();
    while text.len() < 700 * 1024 {
        text.push_str("# a comment line that pads the file past the 500 KiB RFC 9309 limit\n");
    }
    // Past the limit: ignored.
    text.push_str("Disallow: /top250?start=50$\n");
    let env = env_with_robots(4, RobotsTxt::Text(text));
    let k = Knobs {
        last_page: Some(3),
        ..Knobs::default()
    };
    let outcome = env.crawl(&k, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(outcome.summary.disallowed, 1, "{:?}", outcome.summary);
    assert_eq!(env.site.requests_for(1), 0);
    assert_eq!(env.site.requests_for(2), 1);
}

#[test]
fn the_binary_exits_0_with_a_warning_for_some_and_3_for_all_disallowed() {
    let env = env_with_robots(
        4,
        RobotsTxt::Text("User-agent: *\nDisallow: /top250?start=50$\n".into()),
    );
    let k = Knobs {
        last_page: Some(3),
        retries: 0,
        ..Knobs::default()
    };
    let path = env.write_config(&k);
    let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        common::num(&common::summary_of(&stderr), "pages_disallowed"),
        1
    );
    assert!(
        stderr.contains("robots.txt disallowed 1 page (e.g. http://")
            && stderr.contains("/top250?start=50): skipped, not failed"),
        "{stderr}"
    );

    env.reset();
    env.site
        .set_robots(RobotsTxt::Text("User-agent: *\nDisallow: /\n".into()));
    let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(
        common::num(&common::summary_of(&stderr), "pages_disallowed"),
        4
    );
    assert!(
        stderr.contains("robots.txt disallowed every page this run tried (4, e.g. http://"),
        "{stderr}"
    );
}
