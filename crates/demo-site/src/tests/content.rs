//! Tests of what the pages hold: the listing as Douban's looks, the items and their anchors,
//! a full page's weight, the paginator and the JSON API's links.

use super::*;

#[test]
fn a_normal_page_looks_like_douban_and_lists_the_expected_items() {
    let site = site(3, []);
    let resp = get(site.addr(), "/top250?start=25");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = resp.text();
    assert!(
        (60_000..=80_000).contains(&html.len()),
        "{} bytes",
        html.len()
    );
    assert_eq!(real_items(html), expected_items(&site.options(), 1));
    assert_eq!(html.matches("<div class=\"pl2\">").count(), 25 + 2);
    assert!(html.contains("&amp;"), "some title has an entity");

    let comment = &html[html.find("<!--\n  旧版").expect("decoy comment")..];
    let comment = &comment[..comment.find("-->").expect("comment end")];
    assert!(comment.contains("https://decoy.example/comment"));
    let script = &html[html.find("var tpl =").expect("decoy script")..];
    let script = &script[..script.find("</script>").expect("script end")];
    assert!(script.contains("https://decoy.example/script"));
    assert_eq!(site.requests_for(1), 1);
    assert_eq!(site.total_requests(), 1);
}

#[test]
fn expected_items_are_unique_and_not_ascii_only() {
    let opts = SiteOptions {
        pages: 40,
        ..SiteOptions::default()
    };
    let mut titles = HashSet::new();
    let mut links = HashSet::new();
    for page in 0..40 {
        let items = expected_items(&opts, page);
        assert_eq!(items.len(), 25);
        for item in items {
            assert!(!item.title.is_ascii(), "{}", item.title);
            assert_eq!(item.title.trim(), item.title);
            assert!(!item.title.contains("  "), "{}", item.title);
            assert!(titles.insert(item.title));
            assert!(links.insert(item.link));
        }
    }
    assert_eq!(titles.len(), 1000);
    assert!(titles.iter().any(|t| t.contains('&')));
}

#[test]
fn every_full_page_weighs_like_a_real_one() {
    let opts = SiteOptions {
        pages: 200,
        ..SiteOptions::default()
    };
    for page in 0..200 {
        let len = render_page(&opts, page).len();
        assert!((60_000..=85_000).contains(&len), "page {page}: {len} bytes");
    }
}

#[test]
fn rendered_anchors_collapse_to_the_expected_items() {
    let opts = SiteOptions {
        page_size: 7,
        ..SiteOptions::default()
    };
    for page in [0, 3, 9] {
        let html = render_page(&opts, page);
        assert_eq!(
            real_items(&html),
            expected_items(&opts, page),
            "page {page}"
        );
        let decoys: Vec<_> = scan_items(&html)
            .into_iter()
            .filter(|item| item.link.starts_with("https://decoy.example/"))
            .map(|item| item.title)
            .collect();
        assert_eq!(decoys, ["DECOY in script", "DECOY in comment"]);
    }
}

#[test]
fn the_paginator_names_the_next_page_except_on_the_last() {
    let site = site(3, []);
    let origin = format!("http://{}", site.addr());
    let next = |page: u64| {
        let body = get(site.addr(), &format!("/top250?start={}", page * 25));
        let html = String::from_utf8(body.body).unwrap();
        let span = html.split("<span class=\"next\">").nth(1).unwrap();
        span.split("</span>").next().unwrap().to_string()
    };
    assert_eq!(next(0), "<a href=\"?start=25\">后页&gt;</a>");
    // Page 1 has a `<base href>` on the book site: its links name this site in full.
    assert_eq!(
        next(1),
        format!("<a href=\"{origin}/top250?start=50\">后页&gt;</a>")
    );
    assert_eq!(next(2), "后页&gt;");
    // The JSON API names the same pages, and cursors to them.
    site.set_options(SiteOptions {
        pages: 3,
        json: true,
        ..SiteOptions::default()
    });
    let page = |n: u64| -> serde_json::Value {
        let body = get(site.addr(), &format!("/top250?start={}", n * 25)).body;
        serde_json::from_slice(&body).unwrap()
    };
    assert_eq!(page(0)["next"], "/top250?start=25");
    assert_eq!(page(1)["cursor"], "p+2/");
    assert!(page(2)["next"].is_null() && page(2)["cursor"].is_null());
}
