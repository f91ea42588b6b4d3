//! `pagecrawl demo`: the crawl of the built-in site and its check, the list → detail → files
//! crawl, the site served to another process, and `--verify` on other crawlers' output.

mod common;

use std::time::Duration;

use common::{run_bin, spawn_bin, wait_for};
use demo_site::SiteOptions;

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_crawls_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    let out = run_bin(
        &["demo", "--pages", "30", "--out", out_path.to_str().unwrap()],
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "verified against the site: 750 items expected, 0 missing, 0 duplicated, 0 unexpected"
        ),
        "{stdout}"
    );
    // Every item exactly, the table forms of config/demo.toml included: an integer, the
    // page's digits of the price, the list of tags, the link made absolute.
    let site = SiteOptions {
        pages: 30,
        ..SiteOptions::default()
    };
    let mut want: Vec<String> = (0..30)
        .flat_map(|page| {
            demo_site::expected_items(&site, page)
                .into_iter()
                .map(move |item| {
                    let tags: Vec<String> = item.tags.iter().map(|t| format!("{t:?}")).collect();
                    format!(
                        "\"page\":{page},\"title\":{:?},\"link\":{:?},\"rank\":{},\"price\":{},\"tags\":[{}]",
                        item.title,
                        item.link,
                        item.rank,
                        item.price,
                        tags.join(",")
                    )
                })
        })
        .collect();
    let written = std::fs::read_to_string(&out_path).unwrap();
    let mut got: Vec<String> = written
        .lines()
        .map(|line| {
            // Drop the "url" (it names the port the demo chose): `{"page":N,"url":"…",`.
            let (head, rest) = line.split_once(",\"url\":").unwrap();
            let rest = &rest[rest.find(",\"title\"").unwrap()..];
            format!("{}{}", &head[1..], &rest[..rest.len() - 1])
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), 750);
    assert_eq!(got, want);
}

#[test]
fn demo_follow_crawls_list_detail_and_files_and_verifies_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    let out = run_bin(
        &[
            "demo",
            "--pages",
            "6",
            "--follow",
            "--out",
            out_path.to_str().unwrap(),
        ],
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // 1 to 3 images per book.
    let opts = demo_site::SiteOptions {
        self_links: true,
        ..demo_site::SiteOptions::default()
    };
    let images: usize = (0..150)
        .map(|book| demo_site::expected_detail(&opts, book).images.len())
        .sum();
    assert!(images > 200, "{images}");
    assert!(
        stdout.contains(&format!(
            "150 detail pages fetched, {images} files downloaded"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "verified against the detail pages: 150 items right, 0 wrong; files: {images} of \
             {images} right (bytes and md5), 0 wrong or missing"
        )),
        "{stdout}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path().join("demo-files"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Every image, and the registry of which URL each name holds.
    let files = names.iter().filter(|name| !name.starts_with('.')).count();
    assert_eq!(files, images);
    assert_eq!(
        names
            .iter()
            .filter(|name| name.starts_with('.'))
            .collect::<Vec<_>>(),
        [".pagecrawl-names.db"]
    );

    // Without downloads: the detail pages only.
    let out = run_bin(
        &[
            "demo",
            "--pages",
            "2",
            "--follow",
            "--no-download",
            "--out",
            out_path.to_str().unwrap(),
        ],
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("50 items right, 0 wrong"), "{stdout}");
    assert!(stdout.contains("0 files downloaded"), "{stdout}");
}

/// `demo --gallery`: galleries in parts, each image behind its part's Referer and stored as
/// `<title>/<n>.png`, every one verified; a second run starts from what it removed, and
/// names every file as the first did.
#[test]
fn demo_gallery_reads_every_part_and_verifies_every_image_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    let args = [
        "demo",
        "--pages",
        "4",
        "--gallery",
        "--out",
        out_path.to_str().unwrap(),
    ];
    let parts: u64 = (0..100).map(demo_site::gallery_parts).sum();
    assert!(parts > 250, "{parts}: galleries of several parts");
    for run in 0..2 {
        let out = run_bin(&args, LIMIT);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {run}: {}",
            text(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "100 detail pages fetched (and {} later parts), {parts} files downloaded",
                parts - 100
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "verified against the detail pages: 100 items right, 0 wrong; files: {parts} \
                 of {parts} right (bytes and md5), 0 wrong or missing"
            )),
            "{stdout}"
        );
    }
    let galleries = dir.path().join("demo-galleries");
    let folders = std::fs::read_dir(&galleries)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(folders, 100, "a folder per gallery");
    let first = demo_site::expected_items(&demo_site::SiteOptions::default(), 0)[0]
        .title
        .clone();
    let mut names: Vec<String> = std::fs::read_dir(galleries.join(first))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want: Vec<String> = (1..=demo_site::gallery_parts(0))
        .map(|n| format!("{n}.png"))
        .collect();
    assert_eq!(names, want, "no -2 suffix from the run before");
}

/// `demo --serve --follow` serves the site `demo --follow` crawls, for a crawler in another
/// process (the benchmark's list + detail run): its books link to its own detail pages, and a
/// `run` with `[follow]` reads every book's rating from them.
#[test]
fn demo_serve_follow_serves_the_detail_pages_to_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut site = spawn_bin(&[
        "demo", "--serve", "--follow", "--listen", &listen, "--pages", "2",
    ]);
    wait_for("the demo site to listen", LIMIT, || {
        std::net::TcpStream::connect(&listen).is_ok()
    });
    let out_path = dir.path().join("books.jsonl");
    let follow = include_str!("../config/demo-follow.toml")
        .split_once("\n[download]\n")
        .unwrap()
        .0;
    let config = dir.path().join("books.toml");
    std::fs::write(
        &config,
        pagecrawl::config::demo_toml(
            &format!("http://{listen}/top250?start={{offset}}"),
            1,
            &out_path,
        ) + follow,
    )
    .unwrap();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    site.kill().unwrap();
    site.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let opts = SiteOptions {
        self_links: true,
        ..SiteOptions::default()
    };
    let mut got: Vec<(String, String)> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|line| {
            let item: serde_json::Value = serde_json::from_str(line).unwrap();
            (item["link"].to_string(), item["rating"].to_string())
        })
        .collect();
    let mut want: Vec<(String, String)> = (0..50)
        .map(|book| {
            (
                format!("\"http://{listen}/subject/{}/\"", 1_000_000 + book),
                demo_site::expected_detail(&opts, book).rating,
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Downloads are the crawler's business: --no-download means nothing to a site.
    let out = run_bin(&["demo", "--serve", "--follow", "--no-download"], LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn verify_takes_other_crawlers_raw_links_as_the_base_makes_them() {
    // A peer's output: title and the href as written, relative on the odd pages (under their
    // <base href>), no rank, price or tags.
    let site = SiteOptions {
        pages: 2,
        ..SiteOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peer.jsonl");
    let lines = |title_of: &dyn Fn(&str) -> String| -> String {
        (0..2)
            .flat_map(|page| {
                demo_site::expected_items(&site, page)
                    .into_iter()
                    .map(move |item| (page, item))
            })
            .map(|(page, item)| {
                let link = if page % 2 == 1 {
                    item.link.replace("https://book.example/", "")
                } else {
                    item.link.clone()
                };
                let line = serde_json::json!({ "title": title_of(&item.title), "link": link });
                format!("{line}\n")
            })
            .collect()
    };
    std::fs::write(&path, lines(&|t| t.to_string())).unwrap();
    let verify = || {
        run_bin(
            &["demo", "--verify", path.to_str().unwrap(), "--pages", "2"],
            LIMIT,
        )
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"expected":50,"missing":0,"duplicated":0,"unexpected":0}"#
    );
    // A wrong title is no match: one unexpected, one missing, exit 1.
    let first = demo_site::expected_items(&site, 0)[0].title.clone();
    let typo = |t: &str| {
        if t == first {
            format!("{t}!")
        } else {
            t.to_string()
        }
    };
    std::fs::write(&path, lines(&typo)).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"expected":50,"missing":1,"duplicated":0,"unexpected":1}"#
    );
}

#[test]
fn demo_watch_checks_three_rounds_of_a_changing_site() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("watch.jsonl");
    let out = run_bin(
        &[
            "demo",
            "--watch",
            "--pages",
            "20",
            "--out",
            out_path.to_str().unwrap(),
        ],
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for line in [
        "round 1: expected 500 new, 0 changed, 0 gone: 0 missing, 0 wrong (exact)",
        "round 3 (nothing changed since round 2): 0 pages fetched, 20 not modified; 0 new, 0 \
         changed, 0 gone, 501 unchanged",
        "round 3: expected 0 new, 0 changed, 0 gone: 0 missing, 0 wrong (exact)",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    // The file holds each round's events and nothing else: 500 new, then round 2's.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |round: u64, event: &str| {
        lines
            .iter()
            .filter(|l| l["round"] == round && l["event"] == event)
            .count()
    };
    assert_eq!(count(1, "new"), 500);
    assert_eq!((count(2, "new"), count(2, "gone")), (3, 2));
    let changed = count(2, "changed");
    assert!(changed > 0, "1 % of 500 prices moved");
    assert_eq!(lines.len(), 500 + 3 + 2 + changed);
    assert!(stdout.contains(&format!(
        "round 2: expected 3 new, {changed} changed, 2 gone: 0 missing, 0 wrong (exact)"
    )));
    assert!(dir.path().join("watch.db").is_file());
}

/// `demo --verify-changes`: a file missing the events edition 1 implies fails, naming the
/// counts; edition 0 (where a listing starts) is refused.
#[test]
fn verify_changes_counts_missing_and_wrong_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    // One round-1 line for a book whose price did not move: wrong; every real change missing.
    std::fs::write(
        &path,
        "{\"event\":\"changed\",\"round\":1,\"link\":\"https://book.example/subject/1000000/\",\"price\":1.0}\n",
    )
    .unwrap();
    let args = |edition: &str| {
        run_bin(
            &[
                "demo",
                "--verify-changes",
                path.to_str().unwrap(),
                "--pages",
                "40",
                "--edition",
                edition,
            ],
            LIMIT,
        )
    };
    let out = args("1");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let counts: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let expected = counts["expected_changed"].as_u64().unwrap();
    assert!(expected > 3, "1 % of 1,000 books: {counts}");
    assert_eq!(counts["missing"].as_u64(), Some(expected));
    assert_eq!(counts["wrong"].as_u64(), Some(1));
    let out = args("0");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs --edition 1 or later"));
}

/// `demo --json`: the listing served as a JSON API, crawled with config/demo-json.toml, every
/// item verified.
#[test]
fn demo_json_crawls_the_api_and_verifies_every_item() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    let out = run_bin(
        &[
            "demo",
            "--pages",
            "8",
            "--json",
            "--out",
            out_path.to_str().unwrap(),
        ],
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "verified against the site: 200 items expected, 0 missing, 0 duplicated, 0 unexpected"
        ),
        "{stdout}"
    );
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out_path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(first["price"].is_f64() && first["rank"].is_u64(), "{first}");
}

/// `demo --next`: the listing read through its paginator's next links (and, with --json, the
/// API's cursors), one page after the other, every item verified.
#[test]
fn demo_next_reads_the_listing_through_its_next_links_and_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    for json in [false, true] {
        let mut args = vec!["demo", "--pages", "12", "--next", "--out"];
        args.push(out_path.to_str().unwrap());
        if json {
            args.push("--json");
        }
        let out = run_bin(&args, LIMIT);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            stdout.contains(
                "verified against the site: 300 items expected, 0 missing, 0 duplicated, 0 unexpected"
            ),
            "json {json}: {stdout}"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("the listing ends after page 11") && stderr.contains("no next link"),
            "json {json}: {stderr}"
        );
        let last: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&out_path)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap();
        let want = if json {
            "?cursor=p%2B11%2F"
        } else {
            "?start=275"
        };
        assert!(
            last["url"].as_str().unwrap().ends_with(want),
            "json {json}: {last}"
        );
    }
}
