//! The listing as a JSON API ([`SiteOptions::json`](crate::SiteOptions::json)): the same
//! pages at the same URLs, each answering one JSON object instead of HTML, as the API behind
//! an infinite scroll does:
//!
//! ```json
//! {"page": 0, "items": [{"title": "…", "link": "https://…/subject/1000000/", "rank": 1,
//!   "price": {"amount": 47.01, "currency": "GBP"}, "tags": ["novel", "classic"]}, …],
//!  "has_next": true}
//! ```
//!
//! `has_next` is false on the last page with items and on every page past it, whose `items`
//! is empty. What a crawler should find is [`crate::expected_items`], as for the HTML pages.

use crate::options::SiteOptions;
use crate::pages::expected_items;

/// Page `page` of the listing as JSON.
pub(crate) fn render_api(opts: &SiteOptions, page: u64) -> String {
    let items: Vec<serde_json::Value> = expected_items(opts, page)
        .into_iter()
        .map(|item| {
            // A JSON number: `47.10` is written `47.1`.
            let amount = item.price.parse::<f64>().ok();
            serde_json::json!({
                "title": item.title,
                "link": item.link,
                "rank": item.rank,
                "price": {"amount": amount, "currency": "GBP"},
                "tags": item.tags,
            })
        })
        .collect();
    let body = serde_json::json!({
        "page": page,
        "items": items,
        "has_next": page + 1 < opts.pages,
    });
    body.to_string()
}
