//! The field forms against the demo site, with both engines: the exact JSON of
//! every item for each form, links made absolute against the page's final URL (after a
//! redirect) and its `<base href>`, lists, `re` and `type` with the values that did not convert
//! counted, the item's own attribute, and CSS errors in our own words with their exit code.
//!
//! Expected values come from the site's own description of its items (`expected_items`) and
//! the test's own URL arithmetic, not from the crawler's code.

mod common;

use std::time::Duration;

use common::{Knobs, TestEnv, run_bin};
use demo_site::{DemoItem, Fault, SiteOptions, expected_items};

const LIMIT: Duration = Duration::from_secs(120);

/// Every form at once, after the default `title` and `link`.
const FORMS: &str = r#"rank = { css = "span.rank", re = '(\d+)', type = "integer" }
price = { css = "span.price", re = '([0-9.]+)', type = "number" }
tags = { css = "a.tag", all = true }
tag_links = { css = "a.tag", attr = "href", all = true }
raw_link = { css = "a", attr = "href", type = "string" }
cls = { attr = "class" }
no_price = { css = "span.price", type = "number" }
missing = { css = "span.nothing-here", all = true }
"#;

/// The JSON string of `text`.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The line the crawler must write for `item` on `page`, requested at `url`, whose relative
/// links resolve against `base` (a folder URL ending in `/`).
fn expected_line(page: u64, url: &str, item: &DemoItem, base: &str) -> String {
    let list = |values: Vec<String>| format!("[{}]", values.join(","));
    let odd = page % 2 == 1;
    // The site writes the title link relative on odd pages, under its <base href>.
    let id = item.link.trim_end_matches('/').rsplit('/').next().unwrap();
    let raw_link = if odd {
        format!("subject/{id}/")
    } else {
        item.link.clone()
    };
    format!(
        "{{\"page\":{page},\"url\":{url},\"title\":{title},\"link\":{link},\"rank\":{rank},\
         \"price\":{price},\"tags\":{tags},\"tag_links\":{tag_links},\"raw_link\":{raw_link},\
         \"cls\":\"pl2\",\"no_price\":null,\"missing\":[]}}",
        url = quoted(url),
        title = quoted(&item.title),
        link = quoted(&item.link),
        rank = item.rank,
        price = item.price,
        tags = list(item.tags.iter().map(|t| quoted(t)).collect()),
        tag_links = list(
            item.tags
                .iter()
                .map(|t| quoted(&format!("{base}tag/{t}")))
                .collect()
        ),
        raw_link = quoted(&raw_link),
    )
}

/// The config for `env` with every form and the given engine.
fn knobs(engine: &'static str) -> Knobs {
    Knobs {
        last_page: Some(1),
        extra_fields: FORMS,
        engine: Some(engine),
        ..Knobs::default()
    }
}

/// The output lines, sorted by page and then as written (one page's items stay in order).
fn lines(env: &TestEnv) -> Vec<String> {
    let text = std::fs::read_to_string(env.out_path()).unwrap();
    let mut lines: Vec<(u64, usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (value["page"].as_u64().unwrap(), i, line.to_string())
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, _, line)| line).collect()
}

#[test]
fn every_form_gives_the_exact_json_in_both_engines() {
    let env = TestEnv::with_pages(2);
    let site = env.site.options();
    let host = format!("http://{}/", env.site.addr());
    let mut want = Vec::new();
    for page in 0..2 {
        let url = env
            .site
            .url_template()
            .replace("{offset}", &(page * 25).to_string());
        // Page 0 has no <base>: its relative tag links resolve against the page's URL.
        let base = if page % 2 == 1 {
            "https://book.example/".to_string()
        } else {
            host.clone()
        };
        for item in expected_items(&site, page) {
            want.push(expected_line(page, &url, &item, &base));
        }
    }
    assert_eq!(want.len(), 50);
    // The lists are not all alike: some items have no tag, some several.
    assert!(want.iter().any(|l| l.contains("\"tags\":[]")));
    assert!(
        want.iter()
            .any(|l| l.contains("\"tags\":[\"") && l.contains("\",\""))
    );
    for (engine, dom_pages) in [("stream", 0), ("dom", 2)] {
        env.reset();
        let outcome = env.crawl(&knobs(engine), LIMIT);
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        let s = outcome.summary;
        assert_eq!((s.written_pages, s.items), (2, 50), "{engine}");
        assert_eq!(
            s.parsed_dom, dom_pages,
            "{engine}: which engine did the work"
        );
        // `no_price` reads "£47.01" as a number: every item's value is null and counted.
        assert_eq!(s.fields_unconverted, 50, "{engine}");
        assert_eq!(lines(&env), want, "{engine}");
    }
}

#[test]
fn relative_links_resolve_against_the_final_url_after_a_redirect() {
    // Page 0 redirects one folder down; page 1 redirects too but has a <base href>.
    let redirect = |start: u64| Fault::Redirect {
        status: 302,
        location: format!("/books/top250?start={start}&direct=1"),
    };
    let env = TestEnv::new(SiteOptions {
        pages: 2,
        faults: [(0, redirect(0)), (1, redirect(25))].into(),
        ..SiteOptions::default()
    });
    let site = env.site.options();
    let folder = format!("http://{}/books/", env.site.addr());
    for engine in ["stream", "dom"] {
        env.reset();
        let outcome = env.crawl(&knobs(engine), LIMIT);
        assert_eq!(outcome.summary.items, 50, "{engine}");
        let mut want = Vec::new();
        for page in 0..2 {
            // The output names the URL that was asked for; links resolve against where the
            // page came from.
            let url = env
                .site
                .url_template()
                .replace("{offset}", &(page * 25).to_string());
            let base = if page == 1 {
                "https://book.example/".to_string()
            } else {
                folder.clone()
            };
            for item in expected_items(&site, page) {
                want.push(expected_line(page, &url, &item, &base));
            }
        }
        assert_eq!(lines(&env), want, "{engine}");
        assert!(want.iter().any(|l| l.contains(&format!("\"{folder}tag/"))));
    }
}

#[test]
fn the_items_own_text_and_css_errors_in_our_words() {
    let env = TestEnv::with_pages(1);
    // The item is the price itself: `{ }` is its text, `re` and `type` apply to it.
    let config = env
        .config_toml(&Knobs {
            last_page: Some(0),
            ..Knobs::default()
        })
        .replace("item = \"div.pl2\"", "item = \"span.price\"")
        .replace(
            "title = \"a\"\nlink = \"a@href\"\n",
            "text = { }\namount = { re = '[0-9.]+', type = \"number\" }\nclass = \"@class\"\n",
        );
    let path = env.dir.path().join("own.toml");
    std::fs::write(&path, &config).unwrap();
    for engine in ["stream", "dom"] {
        env.reset();
        let config = config.replace(
            "[extract.fields]",
            &format!("engine = {engine:?}\n[extract.fields]"),
        );
        let config = pagecrawl::config::Config::from_toml(&config).unwrap();
        let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
        assert_eq!(outcome.summary.items, 25, "{engine}");
        let site = env.site.options();
        let want: Vec<String> = expected_items(&site, 0)
            .iter()
            .map(|item| {
                format!(
                    "\"text\":\"£{price}\",\"amount\":{price},\"class\":\"price\"}}",
                    price = item.price
                )
            })
            .collect();
        let got: Vec<String> = lines(&env)
            .iter()
            .map(|line| line[line.find("\"text\"").unwrap()..].to_string())
            .collect();
        assert_eq!(got, want, "{engine}");
    }

    // A typo in the item selector or a field: exit 1, the key, the selector, the place.
    for (from, to, says) in [
        (
            "item = \"span.price\"",
            "item = \"span..price\"",
            "`extract.item`: invalid CSS selector \"span..price\" at character 6 (\".price\"): \
             `.` must be followed by a class name",
        ),
        (
            "text = { }",
            "text = { css = \"li:eq(2)\" }",
            "`extract.fields.text`: invalid CSS selector \"li:eq(2)\" at character 4 \
             (\"eq(2)\"): an unknown or unsupported pseudo-class or pseudo-element",
        ),
        (
            "class = \"@class\"",
            "class = { css = \"a\", all = \"yes\" }",
            "`extract.fields.class.all` must be true or false, got string",
        ),
        // Scrapy's and XPath's ways of writing a selector: what to write instead.
        (
            "text = { }",
            "text = \"span::text\"",
            "`extract.fields.text` = \"span::text\": `::text` is Scrapy's; an element's text \
             is what a field takes by default: write \"span\"",
        ),
        (
            "class = \"@class\"",
            "class = \"::attr(class)\"",
            "`extract.fields.class` = \"::attr(class)\": `::attr(class)` is Scrapy's; an \
             attribute is written after `@`: \"@class\"",
        ),
        (
            "class = \"@class\"",
            "class = { css = \"a::attr(href)\" }",
            "an attribute is written as `attr`: css = \"a\", attr = \"href\"",
        ),
        (
            "item = \"span.price\"",
            "item = \"//span[@class='price']\"",
            "`extract.item`: \"//span[@class='price']\" looks like XPath; selectors are CSS",
        ),
        (
            "text = { }",
            "text = { css = \"b\", text = \"verbatim\" }",
            "`extract.fields.text.text` must be \"collapsed\"",
        ),
    ] {
        std::fs::write(&path, config.replace(from, to)).unwrap();
        let out = run_bin(&["check", "--config", path.to_str().unwrap()], LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("report this"), "{stderr}");
    }
}

#[test]
fn check_prints_each_fields_form() {
    let env = TestEnv::with_pages(1);
    let path = env.write_config(&knobs("stream"));
    let out = run_bin(&["check", "--config", path.to_str().unwrap()], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "title = \"a\"\n",
        "link = \"a@href\"\n",
        "rank = { css = \"span.rank\", re = '(\\d+)', type = \"integer\" }\n",
        "price = { css = \"span.price\", re = \"([0-9.]+)\", type = \"number\" }\n",
        "tags = { css = \"a.tag\", all = true }\n",
        "cls = { attr = \"class\" }\n",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}
