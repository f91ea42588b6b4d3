//! The detail pages (`/subject/<id>/`) and their images (`/img/<book>-<n>.png`): a rating, a
//! summary and 1 to 3 images of deterministic bytes per book, half of them on the second host.
//! With [`SiteOptions::galleries`](crate::SiteOptions::galleries), each detail page is a
//! gallery of 1 to 6 parts instead (`/subject/<id>/`, `/subject/<id>/2` …), one image per part.
//! What a crawler should find on each is [`expected_detail`]. Served only with
//! [`SiteOptions::self_links`](crate::SiteOptions::self_links).

use std::fmt::Write as _;

use crate::corpus::{QUOTES, REVIEWS};
use crate::options::{DemoDetail, DemoImage, Galleries, SiteOptions};
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

/// The book and the part a gallery path names: `/subject/1000003/` is book 3's part 1,
/// `/subject/1000003/2` its part 2 (`/subject/1000003/1` is not a path of the site).
pub(crate) fn gallery_part(path: &str) -> Option<(u64, u64)> {
    if let Some(book) = detail_book(path) {
        return Some((book, 1));
    }
    let (first, part) = path.rsplit_once('/')?;
    let book = detail_book(&format!("{first}/"))?;
    let part: u64 = part.parse().ok().filter(|&part| part >= 2)?;
    // Digits only, as the site writes them: no `+2` or `02`.
    (part.to_string() == part_text(path)).then_some((book, part))
}

/// The text after a path's last `/`.
fn part_text(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(_, part)| part)
}

/// The path of book `book`'s detail page: `/subject/<1000000 + book>/`.
pub(crate) fn detail_path(book: u64) -> String {
    format!("/subject/{}/", FIRST_ID + book)
}

/// The path of part `part` (from 1) of book `book`'s gallery.
pub(crate) fn part_path(book: u64, part: u64) -> String {
    match part {
        0 | 1 => detail_path(book),
        _ => format!("{}{part}", detail_path(book)),
    }
}

/// How many parts book `global`'s gallery has: 1 to 6.
pub fn gallery_parts(global: u64) -> u64 {
    1 + (mix(global ^ 0x6a11_e2e5) >> 40) % 6
}

/// The path of the page that shows image `n` of book `global`, which an image that needs a
/// `Referer` wants as one: the detail page, or in a gallery its part `n + 1`.
pub(crate) fn shown_on(opts: &SiteOptions, global: u64, n: u64) -> String {
    match opts.galleries {
        Galleries::Off => detail_path(global),
        Galleries::Parts | Galleries::Looping => part_path(global, n + 1),
    }
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
    let count = match opts.galleries {
        Galleries::Off => image_count(global),
        Galleries::Parts | Galleries::Looping => gallery_parts(global),
    };
    let images = (0..count)
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

/// Part `part` (from 1) of book `global`'s detail page: with galleries, its rating and summary
/// on part 1 only, one image per part and the link to the next; without, the whole page (part
/// 1). `None` for a part the book does not have.
pub(crate) fn render_detail(opts: &SiteOptions, global: u64, part: u64) -> Option<String> {
    let book = Book::at(global);
    let mut detail = expected_detail(opts, global);
    let parts = match opts.galleries {
        Galleries::Off => 1,
        Galleries::Parts | Galleries::Looping => gallery_parts(global),
    };
    if part == 0 || part > parts {
        return None;
    }
    if opts.galleries != Galleries::Off {
        detail.images = vec![detail.images.swap_remove(part as usize - 1)];
    }
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
    if part == 1 {
        push_escaped(&mut out, &detail.summary);
    }
    out.push_str("</p>\n  </div>\n  <div class=\"gallery\">\n");
    for image in &detail.images {
        out.push_str("    <img src=\"");
        push_escaped(&mut out, &image.url);
        out.push_str("\" alt=\"");
        push_escaped(&mut out, &image.alt);
        out.push_str("\">\n");
    }
    out.push_str("  </div>\n");
    if parts > 1 {
        render_navigation(&mut out, opts, part, parts);
    }
    out.push_str("</div>\n</body></html>\n");
    Some(out)
}

/// A gallery part's navigation, as mzitu's `div.pagenavi`: a link to every part, and `a.next`
/// to the next part, relative (`3` from `/subject/<id>/2`); the last part's leads back to part 1
/// (`./`) with [`Galleries::Looping`], and is missing otherwise.
fn render_navigation(out: &mut String, opts: &SiteOptions, part: u64, parts: u64) {
    // Relative to a part's URL: part 1 is `/subject/<id>/` and part k `/subject/<id>/<k>`,
    // both in the folder `/subject/<id>/`.
    let href = |k: u64| match k {
        1 => "./".to_string(),
        k => k.to_string(),
    };
    out.push_str("  <div class=\"pagenavi\">");
    for k in 1..=parts {
        let _ = write!(out, "<a href=\"{}\"><span>{k}</span></a>", href(k));
    }
    let next = match (part < parts, opts.galleries) {
        (true, _) => Some(part + 1),
        (false, Galleries::Looping) => Some(1),
        (false, _) => None,
    };
    if let Some(next) = next {
        let _ = write!(
            out,
            "<a class=\"next\" href=\"{}\"><span>下一页»</span></a>",
            href(next)
        );
    }
    out.push_str("</div>\n");
}
