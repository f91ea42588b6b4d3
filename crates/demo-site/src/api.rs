//! The listing as a JSON API ([`SiteOptions::json`](crate::SiteOptions::json)): the same
//! pages at the same URLs, each answering one JSON object instead of HTML, as the API behind
//! an infinite scroll does:
//!
//! ```json
//! {"page": 0, "items": [{"title": "…", "link": "https://…/subject/1000000/", "rank": 1,
//!   "price": {"amount": 47.01, "currency": "GBP"}, "tags": ["novel", "classic"]}, …],
//!  "has_next": true, "next": "/top250?start=25", "cursor": "p+1/"}
//! ```
//!
//! `has_next` is false on the last page with items and on every page past it, whose `items`
//! is empty; there `next` and `cursor` are null. `next` is the next page's URL, relative, for a
//! crawler that follows next links (`site.next = "$.next"`); `cursor` is an opaque token for one
//! that pages by cursor (`/top250?cursor=…`), with the characters a URL must percent-encode. What a crawler should find is [`crate::expected_items`], as for the HTML pages.

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
        "next": (page + 1 < opts.pages)
            .then(|| format!("/top250?start={}", (page + 1) * opts.page_size as u64)),
        "cursor": (page + 1 < opts.pages).then(|| cursor_of(page + 1)),
    });
    body.to_string()
}

/// The opaque cursor of `page`: it has `+` and `/`, which a crawler must percent-encode to send.
pub(crate) fn cursor_of(page: u64) -> String {
    format!("p+{page}/")
}

/// The page a `cursor=` query value names, percent-decoded first; `None` for a value that is
/// no cursor of ours (a `+` sent as it is means a space in a query, so it is none either).
pub(crate) fn page_of_cursor(value: &str) -> Option<u64> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            other => {
                decoded.push(other);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(decoded).ok()?;
    text.strip_prefix("p+")?.strip_suffix('/')?.parse().ok()
}
