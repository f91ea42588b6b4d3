//! Tests of both servers and of the content.

use super::*;
use crate::pages::pad_page;
use crate::raw::parse_head;
use crate::reply::{Route, route};
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Instant;

mod content;

/// A response as a test sees it.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

fn send(stream: &mut TcpStream, target: &str, close: bool) {
    let connection = if close { "close" } else { "keep-alive" };
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: demo\r\nConnection: {connection}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
}

/// Reads a status line and headers, byte by byte so nothing of the body is consumed.
fn read_resp_head(stream: &mut TcpStream) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("read head"),
            1,
            "head cut off"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ascii head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (status.parse().expect("numeric status"), headers)
}

/// Reads one complete response framed by Content-Length.
fn read_resp(stream: &mut TcpStream) -> Resp {
    let (status, headers) = read_resp_head(stream);
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("Content-Length")
        .expect("Content-Length")
        .parse()
        .expect("numeric length");
    resp.body = vec![0; len];
    stream.read_exact(&mut resp.body).expect("read body");
    resp
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    let mut stream = connect(addr);
    send(&mut stream, target, true);
    read_resp(&mut stream)
}

fn site(pages: u64, faults: impl IntoIterator<Item = (u64, Fault)>) -> DemoSite {
    DemoSite::start(SiteOptions {
        pages,
        faults: faults.into_iter().collect(),
        workers: 4,
        ..SiteOptions::default()
    })
    .expect("start site")
}

/// Waits, boundedly, until `cond` holds: the site counts a request before it acts on it.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// The items a naive scan finds: the first anchor after each `<div class="pl2">`, decoys too.
fn scan_items(html: &str) -> Vec<DemoItem> {
    let mut items = Vec::new();
    for chunk in html.split("<div class=\"pl2\">").skip(1) {
        let anchor = &chunk[chunk.find("<a ").expect("anchor")..];
        let href = anchor.split("href=\"").nth(1).expect("href");
        let link = href[..href.find('"').expect("end of href")].to_string();
        let text = &anchor[anchor.find('>').expect("end of tag") + 1..];
        let text = &text[..text.find("</a>").expect("closing tag")];
        let title = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        // Relative links on the pages with a <base href>, as the page says.
        let base = "<base href=\"https://book.example/\">";
        let link = if !link.contains("://") && html.contains(base) {
            format!("https://book.example/{link}")
        } else {
            link
        };
        let after = |mark: &str, end: &str| {
            chunk.find(mark).map(|at| {
                let rest = &chunk[at + mark.len()..];
                rest[..rest.find(end).expect("end")].to_string()
            })
        };
        let rank = after("<span class=\"rank\">", ".").map_or(0, |r| r.parse().expect("rank"));
        let price = after("<span class=\"price\">£", "<").unwrap_or_default();
        let tags = after("<span class=\"tags\">", "</span>")
            .unwrap_or_default()
            .split("</a>")
            .filter_map(|tag| Some(tag.rsplit_once('>')?.1.to_string()))
            .collect();
        items.push(DemoItem {
            title,
            link,
            rank,
            price,
            tags,
        });
    }
    items
}

fn real_items(html: &str) -> Vec<DemoItem> {
    scan_items(html)
        .into_iter()
        .filter(|item| !item.link.starts_with("https://decoy.example/"))
        .collect()
}

#[test]
fn both_servers_serve_the_same_page_and_keep_alive_works() {
    let site = site(3, []);
    let mut stream = connect(site.addr());
    send(&mut stream, "/top250?start=0", false);
    let first = read_resp(&mut stream);
    send(&mut stream, "/top250?page=2", false);
    let second = read_resp(&mut stream);
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.text(), render_page(&site.options(), 0));
    assert_eq!(second.text(), render_page(&site.options(), 2));

    let raw = get(site.raw_addr(), "/top250?start=50");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text(), second.text());
    assert_eq!(site.requests_for(2), 2);
}

#[test]
fn pages_past_the_end_and_empty_pages_have_no_items() {
    let site = site(3, [(1, Fault::Empty)]);
    for target in ["/top250?start=75", "/top250?start=25"] {
        let resp = get(site.addr(), target);
        assert_eq!(resp.status, 200, "{target}");
        assert!(real_items(resp.text()).is_empty(), "{target}");
        assert!(resp.text().contains("没有更多了"), "{target}");
    }
    assert!(expected_items(&site.options(), 3).is_empty());
    assert!(expected_items(&site.options(), 1).is_empty());
    assert_eq!(expected_items(&site.options(), 2).len(), 25);
}

#[test]
fn past_the_end_a_site_may_repeat_its_last_page_or_answer_a_status() {
    let repeat = DemoSite::start(SiteOptions {
        pages: 3,
        past_end: PastEnd::RepeatLast,
        ..SiteOptions::default()
    })
    .unwrap();
    let last = real_items(get(repeat.addr(), "/top250?start=50").text());
    assert_eq!(last.len(), 25);
    for target in ["/top250?start=75", "/top250?start=2500"] {
        assert_eq!(
            real_items(get(repeat.addr(), target).text()),
            last,
            "{target}"
        );
    }
    assert_eq!(
        expected_items(&repeat.options(), 9),
        expected_items(&repeat.options(), 2)
    );

    let blocked = DemoSite::start(SiteOptions {
        pages: 3,
        past_end: PastEnd::Status(403),
        faults: BTreeMap::from([(4, Fault::Empty)]),
        ..SiteOptions::default()
    })
    .unwrap();
    assert_eq!(get(blocked.addr(), "/top250?start=50").status, 200);
    assert_eq!(get(blocked.addr(), "/top250?start=75").status, 403);
    assert_eq!(get(blocked.raw_addr(), "/top250?start=7500").status, 403);
    // A fault listed for a page past the end wins.
    assert_eq!(get(blocked.addr(), "/top250?start=100").status, 200);
}

#[test]
fn a_slow_page_answers_after_its_own_latency() {
    let site = DemoSite::start(SiteOptions {
        pages: 3,
        slow: BTreeMap::from([(1, Duration::from_millis(300))]),
        ..SiteOptions::default()
    })
    .unwrap();
    for (target, slow) in [("/top250?start=25", true), ("/top250?start=50", false)] {
        for addr in [site.addr(), site.raw_addr()] {
            let started = std::time::Instant::now();
            assert_eq!(get(addr, target).status, 200);
            let took = started.elapsed();
            assert_eq!(
                took >= Duration::from_millis(300),
                slow,
                "{target}: {took:?}"
            );
        }
    }
}

#[test]
fn routing_reads_start_or_page_and_rejects_other_paths() {
    assert_eq!(route("/top250?start=50", 25), Route::Page(2));
    assert_eq!(route("/top250?start=49", 25), Route::Page(1));
    assert_eq!(route("/top250?filter=&start=75", 25), Route::Page(3));
    assert_eq!(route("/top250?page=7", 25), Route::Page(7));
    assert_eq!(route("/top250", 25), Route::Page(0));
    assert_eq!(route("/top250?start=abc", 25), Route::Page(0));
    assert_eq!(route("/top250?start=10", 0), Route::Page(10));
    // The JSON API's cursor, percent-encoded as it must be; sent raw, its `+` is a space.
    assert_eq!(route("/top250?cursor=p%2B4%2F", 25), Route::Page(4));
    assert_eq!(route("/top250?cursor=p+4/", 25), Route::Page(0));
    assert_eq!(crate::api::page_of_cursor(&crate::api::cursor_of(9)), None);
    assert_eq!(crate::api::page_of_cursor("p%2B9%2F"), Some(9));
    assert_eq!(route("/", 25), Route::Index);
    assert_eq!(route("/favicon.ico", 25), Route::NotFound);

    let site = site(1, []);
    assert_eq!(get(site.addr(), "/favicon.ico").status, 404);
    assert_eq!(get(site.raw_addr(), "/nope").status, 404);
    assert_eq!(get(site.addr(), "/").status, 200);
    assert_eq!(site.total_requests(), 3);
}

#[test]
fn a_status_fault_ends_after_its_count_on_either_server() {
    let retry = Some("7".to_string());
    let site = site(
        3,
        [(
            1,
            Fault::Status {
                code: 503,
                times: 2,
                retry_after: retry,
            },
        )],
    );
    let first = get(site.addr(), "/top250?start=25");
    let second = get(site.raw_addr(), "/top250?start=25");
    let third = get(site.addr(), "/top250?start=25");
    for resp in [&first, &second] {
        assert_eq!(resp.status, 503);
        assert_eq!(resp.header("Retry-After"), Some("7"));
        assert!(resp.text().contains("503"));
    }
    assert_eq!(third.status, 200);
    assert_eq!(third.header("Retry-After"), None);
    assert_eq!(real_items(third.text()).len(), 25);
    assert_eq!(site.requests_for(1), 3);
}

#[test]
fn a_permanent_status_fault_never_ends() {
    let fault = Fault::Status {
        code: 404,
        times: u32::MAX,
        retry_after: None,
    };
    let site = site(3, [(0, fault)]);
    for _ in 0..3 {
        let resp = get(site.addr(), "/top250?start=0");
        assert_eq!(resp.status, 404);
        assert_eq!(resp.header("Retry-After"), None);
    }
}

#[test]
fn a_huge_page_is_padded_to_exactly_its_size() {
    let site = site(3, [(0, Fault::Huge { bytes: 300_000 })]);
    let resp = get(site.addr(), "/top250?start=0");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 300_000);
    assert_eq!(real_items(resp.text()), expected_items(&site.options(), 0));

    let page = render_page(&site.options(), 0);
    let len = page.len();
    for bytes in [0, len, len + 1, len + 8, len + 9, len + 10, len + 5000] {
        assert_eq!(
            pad_page(page.clone(), bytes).len(),
            bytes.max(len),
            "{bytes}"
        );
    }
}

#[test]
fn the_raw_server_truncates_the_body_and_closes() {
    let site = site(3, [(1, Fault::Truncated)]);
    let mut stream = connect(site.raw_addr());
    send(&mut stream, "/top250?start=25", false);
    let (status, headers) = read_resp_head(&mut stream);
    assert_eq!(status, 200);
    let announced: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .map(|(_, v)| v.parse().expect("length"))
        .expect("Content-Length");
    let mut body = Vec::new();
    // read_to_end only returns once read gives 0: the server closed the socket.
    stream.read_to_end(&mut body).expect("read to the end");
    assert!(body.len() < announced, "{} of {announced}", body.len());
    assert_eq!(announced, render_page(&site.options(), 1).len());

    // The main server cannot truncate, so it serves the page whole.
    assert_eq!(get(site.addr(), "/top250?start=25").body.len(), announced);
}

#[test]
fn a_stalled_raw_client_gets_nothing_and_does_not_delay_drop() {
    let site = site(3, [(2, Fault::Stall)]);
    let mut stream = connect(site.raw_addr());
    send(&mut stream, "/top250?start=50", false);
    wait_until("the stalled request", || site.requests_for(2) == 1);
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    let err = stream.read(&mut buf).expect_err("no bytes while stalled");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{err}"
    );

    let started = Instant::now();
    drop(site);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The stall ended with the site: the socket is closed without a byte.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    assert_eq!(stream.read(&mut buf).expect("read after drop"), 0);
}

#[test]
fn stalls_and_latency_on_the_main_server_end_when_the_site_is_dropped() {
    let site = DemoSite::start(SiteOptions {
        pages: 3,
        latency: Duration::from_secs(60),
        faults: BTreeMap::from([(0, Fault::Stall)]),
        workers: 4,
        ..SiteOptions::default()
    })
    .expect("start site");
    let mut stalled = connect(site.addr());
    send(&mut stalled, "/top250?start=0", true);
    let mut slow = connect(site.addr());
    send(&mut slow, "/top250?start=25", true);
    wait_until("both requests", || site.total_requests() == 2);

    let started = Instant::now();
    drop(site);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Neither client is left hanging: each connection is answered or closed at once.
    for stream in [&mut stalled, &mut slow] {
        let mut buf = [0u8; 1024];
        let waited = Instant::now();
        let _ = stream.read(&mut buf);
        assert!(waited.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn a_burst_of_keep_alive_connections_is_served_together() {
    // Every connection stays open while the others are answered: a server that parks new
    // connections behind open ones (tiny_http 0.12 does) would time out here.
    let site = DemoSite::start(SiteOptions {
        pages: 3,
        ..SiteOptions::default()
    })
    .expect("start site");
    let mut streams: Vec<TcpStream> = (0..16).map(|_| connect(site.addr())).collect();
    for round in 0..3 {
        for stream in &mut streams {
            send(stream, "/top250?start=25", false);
        }
        for stream in &mut streams {
            let resp = read_resp(stream);
            assert_eq!(resp.status, 200, "round {round}");
            assert_ne!(resp.header("Connection"), Some("close"));
        }
    }
    assert_eq!(site.requests_for(1), 16 * 3);
}

#[test]
fn raw_connections_beyond_the_workers_get_503() {
    let site = DemoSite::start(SiteOptions {
        workers: 2,
        faults: BTreeMap::from([(0, Fault::Stall)]),
        ..SiteOptions::default()
    })
    .expect("start site");
    // Two stalled requests hold both raw-server slots.
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(site.raw_addr())).collect();
    for stream in &mut held {
        send(stream, "/top250?start=0", true);
    }
    wait_until("both stalled requests", || site.requests_for(0) == 2);
    let busy = get(site.raw_addr(), "/top250?start=25");
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("Retry-After"), Some("1"));
    assert_eq!(
        site.requests_for(1),
        0,
        "a refused request is not a page request"
    );
    assert_eq!(site.total_requests(), 3);
}

#[test]
fn request_heads_are_parsed_strictly() {
    fn parse(head: &str) -> Option<(&str, &str)> {
        parse_head(head.as_bytes()).map(|h| (h.method, h.target))
    }
    assert_eq!(
        parse("GET /top250?start=25 HTTP/1.1\r\nHost: a"),
        Some(("GET", "/top250?start=25"))
    );
    assert_eq!(parse("HEAD / HTTP/1.0"), Some(("HEAD", "/")));
    assert_eq!(parse("GET /top250 HTTP/2.0"), None);
    assert_eq!(parse("GET http://a/ HTTP/1.1"), None);
    assert_eq!(parse("nonsense"), None);

    // The main server (hyper) answers pipelined requests in order.
    let site = site(1, []);
    let mut stream = connect(site.addr());
    stream
        .write_all(b"GET /top250 HTTP/1.1\r\n\r\nGET /top250?page=1 HTTP/1.1\r\n\r\n")
        .expect("send two pipelined requests");
    assert_eq!(real_items(read_resp(&mut stream).text()).len(), 25);
    assert_eq!(real_items(read_resp(&mut stream).text()).len(), 0);
    assert_eq!(get(site.raw_addr(), "/top250 junk").status, 400);
}
