//! The detail pages (`/subject/<id>/`) and their images (`/img/<book>-<n>.png`): a rating, a
//! summary and 1 to 3 images of deterministic bytes per book, half of them on the second host.
//! What a crawler should find on each is [`expected_detail`]. Served only with
//! [`SiteOptions::self_links`](crate::SiteOptions::self_links).

use std::fmt::Write as _;

use crate::corpus::{QUOTES, REVIEWS};
use crate::options::{DemoDetail, DemoImage, SiteOptions};
use crate::pages::{Book, mix, pick, push_escaped};

/// The first book id: book `g` of the listing is `/subject/<1000000 + g>/`.
const FIRST_ID: u64 = 1_000_000;

/// The book a detail path names (`/subject/1000003/` is book 3), if any.
pub(crate) fn detail_book(path: &str) -> Option<u64> {
    let id: u64 = path
        .strip_prefix("/subject/")?
        .strip_suffix('/')?
        .parse()
        .ok()?;
    id.checked_sub(FIRST_ID)
}

/// The path of book `book`'s detail page: `/subject/<1000000 + book>/`.
pub(crate) fn detail_path(book: u64) -> String {
    format!("/subject/{}/", FIRST_ID + book)
}

/// The image a path names (`/img/3-1.png` is book 3's second image), if any.
pub(crate) fn image_of(path: &str) -> Option<(u64, u64)> {
    let (book, n) = path
        .strip_prefix("/img/")?
        .strip_suffix(".png")?
        .split_once('-')?;
    Some((book.parse().ok()?, n.parse().ok()?))
}

/// How many images book `global` has: 1 to 3.
fn image_count(global: u64) -> u64 {
    1 + (mix(global) >> 52) % 3
}

/// What the detail page of book `global` shows. Its image URLs need the site's origins, so
/// `opts` must be the options of a started site with `self_links`.
pub fn expected_detail(opts: &SiteOptions, global: u64) -> DemoDetail {
    let book = Book::at(global);
    let rating = book.rating();
    let own = opts.links_to.as_deref().unwrap_or("");
    let other = opts.img_origin.as_deref().unwrap_or(own);
    let images = (0..image_count(global))
        .map(|n| {
            // Every other image is on the second host.
            let origin = if (global + n).is_multiple_of(2) {
                own
            } else {
                other
            };
            // Some alt texts climb out of a folder, as a hostile page's might: a crawler that
            // names files by them must keep them inside its own.
            let climb = if global % 10 == 3 { "../../" } else { "" };
            DemoImage {
                url: format!("{origin}/img/{global}-{n}.png"),
                alt: format!("{climb}{} 图{}", book.title(), n + 1),
                bytes: image_bytes(global, n),
            }
        })
        .collect();
    DemoDetail {
        rating: format!("{}.{}", rating / 10, rating % 10),
        summary: format!(
            "{} {}",
            pick(QUOTES, book.hash >> 44),
            pick(REVIEWS, book.hash >> 7)
        ),
        images,
    }
}

/// The bytes of image `n` of book `global`: a PNG signature, then 200 to 4,000 bytes of a
/// splitmix64 stream. Not a picture, but the same bytes every time, different for every image.
pub fn image_bytes(global: u64, n: u64) -> Vec<u8> {
    let seed = mix(global.wrapping_mul(7).wrapping_add(n));
    let len = 200 + (seed % 3_800) as usize;
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut state = seed;
    while bytes.len() < len {
        state = mix(state);
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The detail page of book `global`.
pub(crate) fn render_detail(opts: &SiteOptions, global: u64) -> String {
    let book = Book::at(global);
    let detail = expected_detail(opts, global);
    let mut out = String::with_capacity(2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>");
    push_escaped(&mut out, &book.title());
    out.push_str(" (豆瓣)</title></head>\n<body>\n<div id=\"wrapper\">\n  <h1><span property=\"v:itemreviewed\">");
    push_escaped(&mut out, &book.title());
    let _ = write!(
        out,
        "</span></h1>\n  <div id=\"interest_sectl\"><strong class=\"ll rating_num\" \
         property=\"v:average\"> {} </strong></div>\n  <div class=\"intro\">\n    <p>",
        detail.rating
    );
    push_escaped(&mut out, &detail.summary);
    out.push_str("</p>\n  </div>\n  <div class=\"gallery\">\n");
    for image in &detail.images {
        out.push_str("    <img src=\"");
        push_escaped(&mut out, &image.url);
        out.push_str("\" alt=\"");
        push_escaped(&mut out, &image.alt);
        out.push_str("\">\n");
    }
    out.push_str("  </div>\n</div>\n</body></html>\n");
    out
}
