//! `pagecrawl try`: one page of the demo site through the binary: the exact JSON on stdout,
//! each field's count on stderr, the exit codes, and not one file written.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Knobs, TestEnv, files_in, run_bin};
use demo_site::{Fault, SiteOptions, expected_items};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Knobs for a config that would write an output, a state, a lock and a seen-set, and join a
/// Redis frontier (on a port where nothing listens): `try` must touch none of them.
fn knobs(engine: &'static str) -> Knobs {
    Knobs {
        engine: Some(engine),
        dedup: Some("link"),
        extra_fields: "isbn = \"span.isbn\"\n",
        extra: "[frontier]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\n".to_string(),
        ..Knobs::default()
    }
}

#[test]
fn try_prints_the_pages_items_as_the_output_would_hold_them() {
    for engine in ["stream", "dom"] {
        let env = TestEnv::with_pages(3);
        let config = env.write_config(&knobs(engine));
        let out = run_bin(
            &["try", "--config", config.to_str().unwrap(), "--page", "1"],
            LIMIT,
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{stderr}");

        let url = format!("http://{}/top250?start=25", env.site.addr());
        let expected: Vec<_> = expected_items(&env.site.options(), 1)
            .into_iter()
            .map(|item| {
                json!({"page": 1, "url": url, "title": item.title, "link": item.link, "isbn": null})
            })
            .collect();
        assert_eq!(expected.len(), 25);
        // Byte for byte: the keys in the output's order, pretty-printed.
        assert_eq!(
            stdout,
            format!("{}\n", serde_json::to_string_pretty(&expected).unwrap())
        );
        for line in [
            format!("page 1: {url}\n"),
            "http status 200, ".to_string(),
            format!(" bytes, engine {engine}\n"),
            "25 items (`extract.item` = \"div.pl2\"); items with a value, per field:\n".into(),
            "  title  25/25\n".into(),
            "  link   25/25\n".into(),
            "  isbn   0/25  ← never matched: \"span.isbn\"\n".into(),
        ] {
            assert!(stderr.contains(&line), "{line:?} in:\n{stderr}");
        }
        assert_eq!(env.site.requests_for(1), 1);
        assert_eq!(env.site.total_requests(), 1, "one page, nothing else");
        // No output, state, lock or seen-set (and no Redis: its port refuses connections).
        assert_eq!(files_in(env.dir.path()), ["pagecrawl.toml"]);
    }
}

#[test]
fn try_follows_redirects_and_names_the_final_url() {
    let env = TestEnv::new(SiteOptions {
        pages: 3,
        faults: BTreeMap::from([(
            0,
            Fault::Redirect {
                status: 302,
                location: "/top250?start=50".into(),
            },
        )]),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs::default());
    // Page 0 by default (`site.first_page`), which the site sends on to page 2.
    let out = run_bin(&["try", "--config", config.to_str().unwrap()], LIMIT);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let addr = env.site.addr();
    assert!(
        stderr.contains(&format!(
            "page 0: http://{addr}/top250?start=0\nhttp status 200 from \
             http://{addr}/top250?start=50, "
        )),
        "{stderr}"
    );
    let items: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let page2 = expected_items(&env.site.options(), 2);
    assert_eq!(items.len(), 25);
    assert_eq!(items[0]["title"], page2[0].title.as_str());
    // The page is the one asked for, and its URL the one the crawl would write.
    assert_eq!(items[0]["page"], 0);
    assert_eq!(
        items[0]["url"],
        format!("http://{addr}/top250?start=0").as_str()
    );
    assert_eq!(files_in(env.dir.path()), ["pagecrawl.toml"]);
}

#[test]
fn try_exits_3_when_the_item_selector_matches_nothing() {
    let env = TestEnv::with_pages(3);
    let text_config = env
        .config_toml(&Knobs::default())
        .replace("item = \"div.pl2\"", "item = \"div.pl3\"");
    let config = env.dir.path().join("pagecrawl.toml");
    std::fs::write(&config, text_config).unwrap();
    let out = run_bin(&["try", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(text(&out.stdout), "[]\n");
    let url = format!("http://{}/top250?start=0", env.site.addr());
    assert!(
        stderr.contains(&format!(
            "no item: `extract.item` = \"div.pl3\" matched nothing on this page. Check it \
             against the page's HTML (as served, before any script runs: `curl {url}`)"
        )),
        "{stderr}"
    );
    assert_eq!(files_in(env.dir.path()), ["pagecrawl.toml"]);

    // A page past the range (and past the site's items): said so, and no item either.
    let config = env.write_config(&Knobs::default());
    let out = run_bin(
        &["try", "--config", config.to_str().unwrap(), "--page", "12"],
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "page 12 (after `site.last_page`): http://{}/top250?start=300\n",
            env.site.addr()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("`extract.item` = \"div.pl2\" matched nothing"),
        "{stderr}"
    );
}

#[test]
fn try_exits_1_on_a_fetch_error_naming_the_url_after_the_http_settings() {
    let env = TestEnv::new(SiteOptions {
        pages: 3,
        faults: BTreeMap::from([(
            1,
            Fault::Status {
                code: 503,
                times: u32::MAX,
                retry_after: None,
            },
        )]),
        ..SiteOptions::default()
    });
    // `http.retries` is honoured: 1 + 2 attempts.
    let config = env.write_config(&Knobs::default());
    let out = run_bin(
        &["try", "--config", config.to_str().unwrap(), "--page", "1"],
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let url = format!("http://{}/top250?start=25", env.site.addr());
    assert!(
        stderr.contains(&format!("pagecrawl: error: fetching page 1 ({url}): ")),
        "{stderr}"
    );
    assert!(stderr.contains("503"), "{stderr}");
    assert_eq!(env.site.requests_for(1), 3);
    assert_eq!(text(&out.stdout), "");

    // `http.max_body_bytes` too: the demo page is about 70 KB.
    let config = env.write_config(&Knobs {
        max_body_bytes: 10_000,
        ..Knobs::default()
    });
    let out = run_bin(&["try", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let url = format!("http://{}/top250?start=0", env.site.addr());
    assert!(
        stderr.contains(&format!("fetching page 0 ({url}): ")) && stderr.contains("10000"),
        "{stderr}"
    );
    assert_eq!(files_in(env.dir.path()), ["pagecrawl.toml"]);
}

#[test]
fn try_usage_errors_exit_2() {
    for args in [
        &["try"][..],
        &["try", "--config", "c.toml", "--page", "one"],
        &["try", "--config", "c.toml", "--page", "-1"],
    ] {
        let out = run_bin(args, LIMIT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn try_says_when_the_stream_engine_cannot_be_used() {
    let env = TestEnv::with_pages(1);
    let config = env.write_config(&Knobs {
        engine: Some("stream"),
        extra_fields: "last = \"a:last-child\"\n",
        ..Knobs::default()
    });
    let out = run_bin(&["try", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(" bytes, engine dom\n"), "{stderr}");
    assert!(
        stderr.contains(
            "(`extract.engine` is \"stream\", but the stream engine cannot match the selector "
        ) && stderr.contains("a:last-child"),
        "{stderr}"
    );
}

#[test]
fn try_shows_the_first_items_whole_with_their_detail_fields_and_files_writing_nothing() {
    let env = TestEnv::new(SiteOptions {
        pages: 1,
        self_links: true,
        ..SiteOptions::default()
    });
    let files = env.dir.path().join("files");
    let knobs = Knobs {
        extra: format!(
            "[follow]\nfield = \"link\"\n[follow.fields]\n\
             rating = {{ css = \"strong.rating_num\", type = \"number\" }}\n\
             images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
             [download]\nfield = \"images\"\ndir = {files:?}\nname = \"{{title}}/{{n}}{{ext}}\"\n\
             hosts = [\"localhost\"]\n",
            files = files.display().to_string()
        ),
        ..Knobs::default()
    };
    let config = env.write_config(&knobs);
    let out = run_bin(
        &["try", "--config", config.to_str().unwrap(), "--items", "2"],
        LIMIT,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shown: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown.len(), 2, "{stdout}");
    let opts = env.site.options();
    for (book, item) in shown.iter().enumerate() {
        let detail = demo_site::expected_detail(&opts, book as u64);
        let want: f64 = detail.rating.parse().unwrap();
        assert_eq!(item["rating"], json!(want), "{item}");
        let urls: Vec<&str> = detail.images.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(item["images"], json!(urls));
        let title = item["title"].as_str().unwrap();
        let listed = item["files"].as_array().unwrap();
        assert_eq!(listed.len(), urls.len());
        for (n, file) in listed.iter().enumerate() {
            let path = files.join(title).join(format!("{}.png", n + 1));
            assert_eq!(
                file,
                &json!({"url": urls[n], "path": path.display().to_string(),
                        "status": "not downloaded (try)"})
            );
        }
    }
    assert!(
        stderr.contains("shown whole: the first 2 of the 25 items, with their detail pages"),
        "{stderr}"
    );
    assert!(stderr.contains("  rating  2/2\n"), "{stderr}");
    // The list page and two detail pages; no image, and not one file.
    assert_eq!(env.site.total_requests(), 3);
    assert_eq!(files_in(env.dir.path()), ["pagecrawl.toml"]);
}
