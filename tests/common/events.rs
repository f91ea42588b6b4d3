//! Reading the events of a watched crawl (`output.key` with `output.changes`) off the demo
//! site's books: each book's price in an edition, the link of a book by its number, and the
//! events of a round counted by link, each line checked whole.

use std::collections::BTreeMap;

use demo_site::{SiteOptions, expected_items};

use super::TestEnv;

/// Each link on pages `0..pages` with its price in the site's current edition.
pub fn prices(env: &TestEnv, pages: u64) -> BTreeMap<String, String> {
    let opts = env.site.options();
    (0..pages)
        .flat_map(|page| expected_items(&opts, page))
        .map(|item| (item.link, item.price))
        .collect()
}

/// The link of book `b` (25 to a page) in the site's first edition.
pub fn book_link(pages: u64, b: u64) -> String {
    let opts = SiteOptions {
        pages,
        ..SiteOptions::default()
    };
    expected_items(&opts, b / 25)[(b % 25) as usize]
        .link
        .clone()
}

/// The lines of round `n` with event `event`: link → how many times, each line checked to
/// hold exactly the fields of its event, in order.
pub fn counted(n: u64, event: &str, lines: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l["round"] == n && l["event"] == event)
    {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        match event {
            "changed" => assert_eq!(
                keys,
                [
                    "event", "round", "page", "url", "title", "link", "price", "changed",
                    "previous"
                ]
            ),
            _ => assert_eq!(
                keys,
                ["event", "round", "page", "url", "title", "link", "price"]
            ),
        }
        *out.entry(line["link"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    out
}
