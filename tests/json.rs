//! JSON listings (`extract.format = "json"`): the demo site's listing served as a JSON API
//! gives every item as its HTML pages do; `site.has_next` ends the listing after the page that
//! says so; a page that is not JSON (or nests too deep) fails alone, with its line and column;
//! a JSON listing follows HTML detail pages.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Knobs, TestEnv};
use demo_site::{Fault, SiteOptions, expected_detail, expected_items};
use pagecrawl::{Config, ExitCode, PageError, ParseError};

const LIMIT: Duration = Duration::from_secs(60);

/// The `[extract]` table of a JSON listing: config/demo-json.toml's.
const JSON_EXTRACT: &str = include_str!("../config/demo-json.toml");

/// A site of `pages` pages answering JSON.
fn json_site(pages: u64, self_links: bool) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        json: true,
        self_links,
        ..SiteOptions::default()
    })
}

/// The test config of `knobs` with its `[extract]` table the JSON one, and `site` keys added.
fn json_config(env: &TestEnv, knobs: &Knobs, site: &str) -> Config {
    let text = env.config_toml(knobs);
    let (before, rest) = text.split_once("[extract]\n").unwrap();
    let (_, after) = rest.split_once("\n[output]").unwrap();
    let before = before.replacen("[site]\n", &format!("[site]\n{site}\n"), 1);
    Config::from_toml(&format!("{before}{JSON_EXTRACT}\n[output]{after}")).unwrap()
}

/// The output's lines, as JSON.
fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.out_path())
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Checks every line against the site's items (title, link, rank, price and tags, each of its
/// JSON type) and returns how many each page has.
fn check(env: &TestEnv) -> BTreeMap<u64, usize> {
    let opts = env.site.options();
    let mut pages = BTreeMap::new();
    for line in lines(env) {
        let page = line["page"].as_u64().unwrap();
        let item = expected_items(&opts, page)
            .into_iter()
            .find(|item| line["link"] == item.link.as_str())
            .unwrap_or_else(|| panic!("not an item of page {page}: {line}"));
        assert_eq!(line["title"], item.title.as_str());
        assert_eq!(line["rank"].as_u64(), Some(item.rank), "an integer: {line}");
        assert_eq!(
            line["price"].as_f64(),
            item.price.parse().ok(),
            "a number: {line}"
        );
        assert_eq!(line["tags"], serde_json::json!(item.tags));
        *pages.entry(page).or_insert(0) += 1;
    }
    pages
}

#[test]
fn a_json_listing_gives_every_item_until_its_end() {
    let env = json_site(6, false);
    let config = json_config(
        &env,
        &Knobs {
            last_page: None,
            ..Knobs::default()
        },
        "",
    );
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let pages = check(&env);
    assert_eq!(
        pages,
        (0..6).map(|p| (p, 25)).collect(),
        "page 6 is empty: the end"
    );
    assert_eq!(outcome.end_of_listing, Some(6));
}

#[test]
fn has_next_false_ends_the_listing_after_that_page() {
    // Pages 0 to 9 have items, but page 3 says no page follows it (and lists one item).
    let env = json_site(10, false);
    let opts = env.site.options();
    let first = &expected_items(&opts, 3)[0];
    let body = serde_json::json!({
        "items": [{"title": first.title, "link": first.link, "rank": first.rank,
                   "price": {"amount": first.price.parse::<f64>().unwrap()},
                   "tags": first.tags}],
        "has_next": false,
    });
    let mut faults = BTreeMap::new();
    faults.insert(3, Fault::Body(body.to_string()));
    env.site.set_options(SiteOptions {
        pages: 10,
        json: true,
        faults,
        ..SiteOptions::default()
    });
    let knobs = Knobs {
        last_page: None,
        crawlers: 1,
        ..Knobs::default()
    };
    let config = json_config(&env, &knobs, "has_next = \"$.has_next\"");
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let pages = check(&env);
    assert_eq!(pages, BTreeMap::from([(0, 25), (1, 25), (2, 25), (3, 1)]));
    assert_eq!(
        outcome.end_of_listing,
        Some(4),
        "the page after it is the end"
    );
    assert_eq!(outcome.summary.not_crawled, 0);
}

#[test]
fn a_page_that_is_not_json_fails_alone_with_its_line_and_column() {
    let env = json_site(5, false);
    let deep = "[".repeat(100_000);
    env.site.set_options(SiteOptions {
        pages: 5,
        json: true,
        faults: BTreeMap::from([
            (1, Fault::Body("{\"items\": [\n  {\"title\": }".to_string())),
            (3, Fault::Body(deep)),
        ]),
        ..SiteOptions::default()
    });
    let config = json_config(
        &env,
        &Knobs {
            last_page: Some(4),
            ..Knobs::default()
        },
        "",
    );
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    let reason = |page: u64| match &outcome.failed_pages[&page] {
        PageError::Parse(ParseError::Limit(reason)) => reason.to_string(),
        other => panic!("page {page}: {other}"),
    };
    assert_eq!(
        reason(1),
        "the page is not JSON: expected value at line 2 column 13"
    );
    assert!(
        reason(3).contains("recursion limit exceeded"),
        "{}",
        reason(3)
    );
    assert_eq!(
        outcome.summary.retries, 0,
        "a page that does not parse is not asked again"
    );
    assert_eq!(
        check(&env),
        BTreeMap::from([(0, 25), (2, 25), (4, 25)]),
        "the others written"
    );
}

#[test]
fn a_json_listing_follows_html_detail_pages() {
    let env = json_site(2, true);
    let knobs = Knobs {
        last_page: Some(1),
        extra: "[follow]\nfield = \"link\"\n[follow.fields]\n\
                rating = { css = \"strong.rating_num\", type = \"number\" }\n"
            .to_string(),
        ..Knobs::default()
    };
    let config = json_config(&env, &knobs, "");
    let outcome = common::run_bounded(config, pagecrawl::Shutdown::new(), LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let opts = env.site.options();
    let lines = lines(&env);
    assert_eq!(lines.len(), 50);
    for line in &lines {
        let link = line["link"].as_str().unwrap();
        let book: u64 = link
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let want: f64 = expected_detail(&opts, book - 1_000_000)
            .rating
            .parse()
            .unwrap();
        assert_eq!(line["rating"].as_f64(), Some(want), "{line}");
    }
}
