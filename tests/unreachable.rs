//! A site that does not answer: down from the start, it stops the crawl within the retries of
//! its first pages with one message naming the URL and the cause (whether or not robots.txt is
//! asked for); an outage in the middle of a crawl keeps `site.max_failed_in_a_row`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::{Knobs, TestEnv, num, read_items, run_bin, summary_of};

const LIMIT: Duration = Duration::from_secs(120);

/// An address nothing listens on: bound, then closed.
fn dead_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs the test site's config for `knobs` pointed at a dead address; the exit code, the log and
/// the dead address.
fn run_dead(knobs: &Knobs) -> (Option<i32>, String, SocketAddr) {
    let env = TestEnv::with_pages(1);
    let dead = dead_address();
    let live = env.site.addr().to_string();
    let config = env.config_toml(knobs).replace(&live, &dead.to_string());
    assert!(config.contains(&dead.to_string()), "{config}");
    let path = env.dir.path().join("down.toml");
    std::fs::write(&path, config).unwrap();
    let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, dead)
}

#[test]
fn a_site_that_is_down_is_reported_as_down_not_as_a_robots_txt_problem() {
    let (code, stderr, dead) = run_dead(&Knobs {
        last_page: Some(29),
        retries: 1,
        ..Knobs::default()
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the site is unreachable: its robots.txt got no answer (http://{dead}/robots.txt"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("http.robots = false"), "{stderr}");
    assert!(!stderr.contains("disallowed every page"), "{stderr}");
    // It stops at the first pages, not after all thirty.
    let summary = summary_of(&stderr);
    assert!((1..=4).contains(&num(&summary, "pages_failed")), "{stderr}");
}

#[test]
fn a_dead_site_stops_within_the_retries_of_its_first_pages() {
    // With robots.txt off, the pages themselves meet the refused connections; whether the
    // range is known or not, the crawl stops once the first page has used its retries.
    for last_page in [None, Some(99)] {
        let knobs = Knobs {
            last_page,
            crawlers: 4,
            retries: 2,
            http: "robots = false\n".to_string(),
            ..Knobs::default()
        };
        let (code, stderr, dead) = run_dead(&knobs);
        assert_eq!(code, Some(3), "{last_page:?}: {stderr}");
        let page_url = format!("http://{dead}/");
        let stop = stderr
            .lines()
            .find(|l| l.contains("the site is unreachable: page "))
            .unwrap_or_else(|| panic!("no stop message:\n{stderr}"));
        assert!(
            stop.contains(&page_url)
                && stop.contains("got no connection")
                && stop.contains("refused"),
            "{stop}"
        );
        assert!(!stderr.contains("pages in a row failed"), "{stderr}");
        let summary = summary_of(&stderr);
        // At most the pages the four crawlers had taken, each with its two retries.
        let failed = num(&summary, "pages_failed");
        assert!((1..=4).contains(&failed), "{last_page:?}: {stderr}");
        assert!(num(&summary, "retries") <= 4 * 2, "{stderr}");
        assert_eq!(num(&summary, "pages_fetched"), 0);
    }
}

/// A listing that answers `pages` connections (one page each, numbered by its URL) and then
/// closes its port: later connections are refused.
fn serve_then_go_down(pages: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(pages) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            // "GET /list/3 HTTP/1.1": the number after "/list/".
            let page = request
                .split_whitespace()
                .nth(1)
                .and_then(|path| path.strip_prefix("/list/"))
                .unwrap_or("?")
                .to_string();
            let body = format!(
                "<!DOCTYPE html><div class=\"pl2\"><a href=\"/b{page}\">book {page}</a></div>"
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
        // The listener is dropped here: the port refuses connections from now on.
    });
    port
}

#[test]
fn an_outage_in_the_middle_of_a_crawl_keeps_the_failed_in_a_row_rule() {
    let port = serve_then_go_down(5);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let config = dir.path().join("pagecrawl.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nurl = \"http://127.0.0.1:{port}/list/{{page}}\"\nmax_failed_in_a_row = 3\n\
             [threads]\ncrawlers = 1\nparsers = 1\n\
             [http]\nretries = 1\nbackoff_ms = 10\nrobots = false\n\
             [extract]\nitem = \"div.pl2\"\n[extract.fields]\ntitle = \"a\"\nlink = \"a@href\"\n\
             [output]\npath = {out:?}\n"
        ),
    )
    .unwrap();
    let run = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("3 pages in a row failed (`site.max_failed_in_a_row` = 3)"),
        "{stderr}"
    );
    assert!(!stderr.contains("the site is unreachable"), "{stderr}");
    let titles: Vec<String> = read_items(&out)
        .iter()
        .map(|item| item.title.clone())
        .collect();
    let expected: Vec<String> = (0..5).map(|p| format!("book {p}")).collect();
    assert_eq!(titles, expected);
}
