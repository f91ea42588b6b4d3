//! Per-page limits through the real binary: a page of deeply nested items, each item taking a
//! copy of the same text, fails with a one-line reason instead of exhausting memory, and the
//! crawl goes on.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{num, read_items, run_bin, summary_of};

/// Items nested in one another on the hostile page: under the default item limit (10,000).
const NESTED: usize = 10_000;
/// The text every nested item takes as its title: 10,000 copies make 60 MB of output.
const TEXT: usize = 6_000;

/// Page 1 is the hostile one; pages 0 and 2 are ordinary listings of three items.
fn page(n: u64) -> String {
    if n == 1 {
        return format!(
            "<!DOCTYPE html><html><body>{}<a href=\"/deep\">{}</a></body></html>",
            "<div class=\"pl2\">".repeat(NESTED),
            "word ".repeat(TEXT / 5)
        );
    }
    let items: String = (0..3)
        .map(|i| format!("<div class=\"pl2\"><a href=\"/{n}/{i}\">book {n}-{i}</a></div>\n"))
        .collect();
    format!("<!DOCTYPE html><html><body>{items}</body></html>")
}

/// Serves `page(n)` for `/list?page=n`, one response per connection, for a bounded number of
/// connections.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a local port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The rest of the request head, up to its blank line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let n = request
                .split_once("page=")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(99);
            let body = page(n);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The largest resident set of the children this process has waited for, in MiB.
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss as f64 / 1024.0
}

#[test]
fn a_page_of_nested_items_fails_alone_with_a_reason() {
    let port = serve();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let config = dir.path().join("pagecrawl.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nurl = \"http://127.0.0.1:{port}/list?page={{page}}\"\nlast_page = 2\n\
             [threads]\ncrawlers = 1\nparsers = 1\n[http]\nretries = 0\n\
             [extract]\nitem = \"div.pl2\"\n[extract.fields]\ntitle = \"a\"\nlink = \"a@href\"\n\
             [output]\npath = {:?}\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let output = run_bin(
        &["run", "--config", config.to_str().unwrap()],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let reason = "more than 8388608 bytes of field values on the page (extract.max_bytes_per_page)";
    let failure = stderr
        .lines()
        .find(|line| line.contains("page 1 (") && line.contains(reason))
        .unwrap_or_else(|| panic!("no one-line reason for page 1 in:\n{stderr}"));
    assert!(!failure.contains('\n'));
    let summary = summary_of(&stderr);
    assert_eq!(num(&summary, "pages_failed"), 1, "{stderr}");
    // Pages 0 and 2 are written whole, page 1 not at all.
    let items = read_items(&out);
    let mut pages: Vec<u64> = items.iter().map(|item| item.page).collect();
    pages.sort_unstable();
    assert_eq!(pages, [0, 0, 0, 2, 2, 2]);
    assert!(std::fs::metadata(&out).unwrap().len() < 4096);
    // Without the limit the page alone would be 60 MB of output and several times that in
    // memory; with it the crawler stays small.
    let peak = children_peak_rss_mib();
    assert!(peak < 64.0, "peak RSS {peak:.1} MiB");
}
