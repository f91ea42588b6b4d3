//! The site's content: deterministic listing pages of about 70 KB of Douban-like markup around
//! their items (decoys in a comment and a script included), and the items a crawler should find
//! on each. The constant text is in `corpus.rs`.

use std::fmt::Write as _;

use crate::corpus::{
    AUTHORS, BODY_BOTTOM, BODY_TOP, DECOY_COMMENT, EMPTY_LISTING, HEAD, NAMES, PUBLISHERS, QUOTES,
    REVIEWS, SUBTITLES, USERS,
};
use crate::{DemoItem, Fault, PastEnd, SiteOptions};

/// Where item links point by default: a host that is not this site (so a crawl without
/// `[follow]` never fetches them). The odd pages' `<base href>` is this, with a `/`; with
/// [`SiteOptions::self_links`] both are this site's own origin instead.
pub(crate) const BOOK_SITE: &str = "https://book.example";

/// The tags a book may carry (`a.tag`), lower-case ASCII words.
const TAGS: &[&str] = &[
    "fiction", "classic", "poetry", "history", "love", "china", "essays",
];

/// Where `Fault::Huge` padding goes: right after the listing, so a parser has to skip it.
const LISTING_END: &str = "<!-- /listing -->";

/// What `page` serves as items, in order: empty for pages at or beyond `opts.pages` (unless
/// they repeat the last page, see [`PastEnd`]) and for pages with `Fault::Empty`. Tests compare
/// crawl output with this.
pub fn expected_items(opts: &SiteOptions, page: u64) -> Vec<DemoItem> {
    let Some(listed) = listed_page(opts, page) else {
        return Vec::new();
    };
    books(opts, listed)
        .iter()
        .map(|book| DemoItem {
            title: book.title(),
            link: book.link(opts),
            rank: book.rank(),
            price: book.price_in(&opts.edition),
            tags: book.tags().iter().map(|t| t.to_string()).collect(),
        })
        .collect()
}

/// The book whose detail page book `global` links to: itself, or with
/// [`SiteOptions::detail_shared_by`] = n the first of its group of n.
pub fn detail_book(opts: &SiteOptions, global: u64) -> u64 {
    match opts.detail_shared_by {
        0 | 1 => global,
        n => global - global % n,
    }
}

/// The books `listed` (a page number) shows in the site's edition: its own, but those taken
/// down, then those added to it.
fn books(opts: &SiteOptions, listed: u64) -> Vec<Book> {
    let edition = &opts.edition;
    let own = (0..opts.page_size)
        .map(|i| Book::new(listed, opts.page_size, i))
        .filter(|book| !edition.removed.contains(&book.global));
    let added = edition.added.get(&listed).copied().unwrap_or(0);
    let new = (0..added).map(|k| Book {
        global: ADDED_BOOKS + listed * 100 + k as u64,
        on_page: opts.page_size + k,
        hash: mix(ADDED_BOOKS + listed * 100 + k as u64),
    });
    own.chain(new).collect()
}

/// The first number of the books an edition adds: far past any listing's own.
const ADDED_BOOKS: u64 = 10_000_000;

/// The HTML body of `page`, with no fault applied except `Fault::Empty`. Both servers send this,
/// and parser tests read it.
pub fn render_page(opts: &SiteOptions, page: u64) -> String {
    // About 2.1 KB per item plus 20 KB of chrome; a little spare avoids regrowth.
    let mut out = String::with_capacity(24 * 1024 + opts.page_size * 2300);
    // Odd pages give their links relative to a `<base href>`, as some real sites do.
    let listed = listed_page(opts, page);
    let based = listed.is_some_and(|listed| listed % 2 == 1);
    let site = opts.links_to.as_deref().unwrap_or(BOOK_SITE);
    match HEAD.split_once("<head>\n") {
        Some((before, after)) if based => {
            out.push_str(before);
            out.push_str("<head>\n  <base href=\"");
            out.push_str(site);
            out.push_str("/\">\n");
            out.push_str(after);
        }
        _ => out.push_str(HEAD),
    }
    out.push_str(BODY_TOP);
    let _ = writeln!(
        out,
        "<div class=\"paginator-info\">第 {} 页 · 每页 {} 本</div>",
        page + 1,
        opts.page_size
    );
    // A decoy that only a parser ignoring comments would extract.
    out.push_str(DECOY_COMMENT);
    if let Some(listed) = listed {
        for book in books(opts, listed) {
            book.render(&mut out, based, site, opts);
        }
    } else {
        out.push_str(EMPTY_LISTING);
    }
    out.push_str(LISTING_END);
    out.push('\n');
    render_paginator(&mut out, opts, page, based);
    out.push_str(BODY_BOTTOM);
    out
}

/// Whose books `page` lists: its own, the last page's (past the end of a listing that repeats
/// it), or none.
fn listed_page(opts: &SiteOptions, page: u64) -> Option<u64> {
    if opts.faults.get(&page) == Some(&Fault::Empty) {
        return None;
    }
    match opts.past_end {
        _ if page < opts.pages => Some(page),
        PastEnd::RepeatLast => opts.pages.checked_sub(1),
        PastEnd::Empty | PastEnd::Status(_) => None,
    }
}

/// Pads `body` to exactly `bytes` with a comment after the listing (spaces if a comment cannot
/// fit), or returns it unchanged if it is already that long.
pub(crate) fn pad_page(mut body: String, bytes: usize) -> String {
    let Some(missing) = bytes.checked_sub(body.len()).filter(|&n| n > 0) else {
        return body;
    };
    let at = body.find(LISTING_END).unwrap_or(body.len());
    let mut padding = String::with_capacity(missing);
    let (open, close) = ("<!-- ", " -->");
    if missing >= open.len() + close.len() {
        padding.push_str(open);
        // ASCII only, so every char is one byte and the length comes out exact.
        let filler = b"padding for a huge page ";
        let need = missing - open.len() - close.len();
        padding.extend((0..need).map(|i| char::from(filler[i % filler.len()])));
        padding.push_str(close);
    } else {
        padding.extend(std::iter::repeat_n(' ', missing));
    }
    body.insert_str(at, &padding);
    body
}

/// The paginator under the listing, like Douban's. On a page whose `<base href>` is the book
/// site (`based`), its links name this site in full, or they would lead there.
fn render_paginator(out: &mut String, opts: &SiteOptions, page: u64, based: bool) {
    let size = opts.page_size as u64;
    let here = match (&opts.origin, based) {
        (Some(origin), true) => format!("{origin}/top250"),
        _ => String::new(),
    };
    out.push_str("<div class=\"paginator\">\n");
    if page > 0 {
        let _ = writeln!(
            out,
            "  <span class=\"prev\"><a href=\"{here}?start={}\">&lt;前页</a></span>",
            (page - 1) * size
        );
    } else {
        out.push_str("  <span class=\"prev\">&lt;前页</span>\n");
    }
    for n in 0..opts.pages.min(10) {
        if n == page {
            let _ = writeln!(out, "  <span class=\"thispage\">{}</span>", n + 1);
        } else {
            let _ = writeln!(out, "  <a href=\"{here}?start={}\">{}</a>", n * size, n + 1);
        }
    }
    // The last page's "next" is text without a link, as on Douban: a crawler that follows next
    // links (`site.next = "span.next a@href"`) ends there.
    if page + 1 < opts.pages {
        let _ = writeln!(
            out,
            "  <span class=\"next\"><a href=\"{here}?start={}\">后页&gt;</a></span>",
            (page + 1) * size
        );
    } else {
        out.push_str("  <span class=\"next\">后页&gt;</span>\n");
    }
    let _ = writeln!(
        out,
        "  <span class=\"count\">(共{}本)</span>\n</div>",
        opts.pages * size
    );
}

/// The page `/` serves.
pub(crate) fn render_index() -> String {
    String::from(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>pagecrawl 示例站点</title></head>\n\
         <body><h1>pagecrawl 示例站点</h1><p><a href=\"/top250?start=0\">豆瓣读书 Top 250</a></p></body></html>\n",
    )
}

/// A short error page, as a real server would send with an error status.
pub(crate) fn render_error(code: u16) -> String {
    let reason = reason_phrase(code);
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body><h1>{code} {reason}</h1><p>豆瓣读书暂时无法访问，请稍后再试。</p></body></html>\n"
    )
}

/// Appends `text` with `&`, `<`, `>` and `"` escaped, so it is safe in text and attributes.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// The splitmix64 finaliser: spreads an item's index over all bits, so that neighbouring items
/// get unrelated authors and ratings without a random number generator.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Picks from `list` with some bits of a hash.
pub(crate) fn pick(list: &'static [&'static str], hash: u64) -> &'static str {
    list[(hash % list.len() as u64) as usize]
}

/// One listed book, everything derived from its place in the whole listing.
pub(crate) struct Book {
    /// 0-based index across the whole site; makes titles and links unique.
    pub(crate) global: u64,
    /// 0-based index on its page, as Douban's `moreurl` uses.
    on_page: usize,
    /// A hash of `global` that picks the decorations.
    pub(crate) hash: u64,
}

impl Book {
    /// The book at index `global` of the whole listing.
    pub(crate) fn at(global: u64) -> Book {
        Book {
            global,
            on_page: 0,
            hash: mix(global),
        }
    }

    /// Its rating out of 100 (shown as 8.7 for 87), on the list and on its detail page.
    pub(crate) fn rating(&self) -> u64 {
        70 + self.hash % 30
    }

    /// The book at index `i` of `page`.
    fn new(page: u64, page_size: usize, i: usize) -> Book {
        let global = page * page_size as u64 + i as u64;
        Book {
            global,
            on_page: i,
            hash: mix(global),
        }
    }

    /// Names cycle through the list rather than hash, so every page has a name with `&`.
    fn name(&self) -> &'static str {
        NAMES[(self.global % NAMES.len() as u64) as usize]
    }

    /// The rank shown to readers, 1-based.
    fn rank(&self) -> u64 {
        self.global + 1
    }

    /// The title as a parser should extract it; `render` lays out the same words.
    pub(crate) fn title(&self) -> String {
        format!("{} 第{}卷 (Vol. {})", self.name(), self.rank(), self.rank())
    }

    /// The link, unique across the site: on `links_to` (this site's own origin, see [`SiteOptions::links_to`]) or else on
    /// book.example; absolute once resolved against the odd pages' `<base href>`.
    fn link(&self, opts: &SiteOptions) -> String {
        let site = opts.links_to.as_deref().unwrap_or(BOOK_SITE);
        format!("{site}/subject/{}/", self.id(opts))
    }

    /// The id of the detail page the book links to: its own, or with
    /// [`SiteOptions::detail_shared_by`] the first book's of its group.
    fn id(&self, opts: &SiteOptions) -> u64 {
        1_000_000 + detail_book(opts, self.global)
    }

    /// The price as a JSON number: pounds and pence.
    fn price(&self) -> String {
        format!("{}.{:02}", 5 + self.hash % 60, (self.hash >> 7) % 100)
    }

    /// The price in `edition`: as it set it, moved (a penny or more, by the edition's number)
    /// if the book is among its repriced ones, else its own.
    pub(crate) fn price_in(&self, edition: &crate::Edition) -> String {
        if let Some(price) = edition.prices.get(&self.global) {
            return price.clone();
        }
        let draw = mix(self.global ^ edition.number.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1000;
        if edition.number > 0 && draw < edition.repriced_per_mille {
            let pence = ((self.hash >> 7) % 100 + 1 + edition.number % 99) % 100;
            return format!("{}.{:02}", 5 + self.hash % 60, pence);
        }
        self.price()
    }

    /// None to three tags, in the order they are shown.
    fn tags(&self) -> Vec<&'static str> {
        let count = (self.hash >> 13) % 4;
        (0..count)
            .map(|n| TAGS[((self.hash >> 17) + n) as usize % TAGS.len()])
            .collect()
    }

    /// Appends this book's table, laid out like a Douban Top 250 entry.
    fn render(&self, out: &mut String, based: bool, site: &str, opts: &SiteOptions) {
        let price = &self.price_in(&opts.edition);
        let h = self.hash;
        let id = self.id(opts);
        let i = self.on_page;
        let rank = self.rank();
        let rating = self.rating();
        let stars = match rating {
            90.. => 50,
            80..=89 => 45,
            _ => 40,
        };
        let _ = write!(
            out,
            "<table width=\"100%\">\n  <tr class=\"item\">\n    <td width=\"100\" valign=\"top\">\n      \
             <a class=\"nbg\" href=\"{site}/subject/{id}/\"\n        onclick=\"moreurl(this,{{i:'{i}'}})\"\n        >\n        \
             <img src=\"https://img{img}.book.example/view/subject/s/public/s{id}.jpg\" width=\"90\" />\n      </a>\n    </td>\n    \
             <td valign=\"top\">\n\n      <div class=\"pl2\">\n        \
             <a href=\"{prefix}subject/{id}/\" onclick=\"&#34;moreurl(this,{{i:&#39;{i}&#39;}})&#34;\" title=\"",
            img = 1 + h % 3,
            prefix = if based {
                String::new()
            } else {
                format!("{site}/")
            },
        );
        push_escaped(out, &self.title());
        out.push_str("\"\n          >\n            ");
        // Line breaks and double spaces inside the anchor, as on Douban: extraction must
        // collapse them to the single spaces of `title()`.
        push_escaped(out, self.name());
        let _ = write!(
            out,
            "\n            第{rank}卷  (Vol. {rank})\n\n          </a>\n          \
             &nbsp; <img src=\"https://img3.book.example/pics/read.gif\" width=\"16\" title=\"可试读\" alt=\"可试读\"/>\n          \
             <br/>\n          <span style=\"font-size:12px;\">: {subtitle}</span>\n          \
             <span class=\"rank\">{rank}.</span> <span class=\"price\">£{price}</span>\n          \
             <span class=\"tags\">{tags}</span>\n      </div>\n\n        \
             <p class=\"pl\">{author} / {publisher} / {year}-{month} / {yuan}.{fen:02}元</p>\n\n        \
             <div class=\"star clearfix\">\n          <span class=\"allstar{stars}\"></span>\n          \
             <span class=\"rating_nums\">{whole}.{tenth}</span>\n          <span class=\"pl\">(\n                    \
             {votes}人评价\n                )</span>\n        </div>\n\n        \
             <p class=\"quote\" style=\"margin: 10px 0; color: #666\">\n          <span class=\"inq\">{quote}</span>\n        </p>\n\n        \
             <div class=\"short-reviews\">\n          <h4>热门短评&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·&nbsp;·</h4>\n          <ul>\n",
            subtitle = pick(SUBTITLES, h >> 8),
            author = pick(AUTHORS, h >> 12),
            publisher = pick(PUBLISHERS, h >> 16),
            year = 1950 + (h >> 20) % 70,
            month = 1 + (h >> 24) % 12,
            yuan = 15 + (h >> 28) % 120,
            fen = (h >> 36) % 100,
            whole = rating / 10,
            tenth = rating % 10,
            votes = 1_000 + (h >> 40) % 500_000,
            quote = pick(QUOTES, h >> 44),
            price = price,
            tags = self
                .tags()
                .iter()
                .map(|t| format!("<a class=\"tag\" href=\"tag/{t}\">{t}</a>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        // One or two reviews, so that pages differ a little in size, as real ones do.
        let reviews = 1 + (h >> 50) % 2;
        for n in 0..reviews {
            let _ = write!(
                out,
                "            <li class=\"comment-item\">\n              <span class=\"comment-info\"><a href=\"https://www.book.example/people/{user_id}/\">{user}</a>\n              \
                 <span class=\"comment-time\">20{yy:02}-{mm:02}-{dd:02}</span></span>\n              \
                 <p class=\"comment-content\"><span class=\"short\">{review}</span></p>\n            </li>\n",
                user_id = 10_000 + (h >> (n * 7)) % 90_000,
                user = pick(USERS, h >> (n * 5 + 3)),
                yy = 10 + (h >> (n * 4 + 2)) % 15,
                mm = 1 + (h >> (n * 6 + 5)) % 12,
                dd = 1 + (h >> (n * 2 + 9)) % 28,
                review = pick(REVIEWS, (h >> (n * 9 + 4)) + n),
            );
        }
        out.push_str("          </ul>\n        </div>\n    </td>\n  </tr>\n</table>\n<p class=\"ul\"></p>\n\n");
    }
}

/// The reason phrase for the status codes the site is likely to send.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
