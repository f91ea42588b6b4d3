//! `follow.next`: detail pages in several parts (the mzitu crawler's galleries), read through
//! their next links. Every part's images are gathered in order, each image is sent its own
//! part as `Referer` (the site answers 403 otherwise) and stored in a folder of its gallery; a
//! loop, `follow.max_pages` and a refused host end a gallery where it stands, counted; a part
//! that fails fails its list page, which the next run completes exactly once.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{Knobs, TestEnv, num, run_bin, summary_of};
use demo_site::{Fault, Galleries, SiteOptions, expected_detail, expected_items, gallery_parts};
use md5::{Digest, Md5};
use pagecrawl::{DetailError, ExitCode, PageError};

const LIMIT: Duration = Duration::from_secs(120);

/// A site of `pages` pages whose books link to galleries of the given kind, whose images
/// need their part as `Referer`.
fn gallery_site(pages: u64, galleries: Galleries) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        self_links: true,
        galleries,
        images_need_referer: true,
        ..SiteOptions::default()
    })
}

/// `[follow]` through the parts, with `extra` keys, and `[download]` of every image into a
/// folder per title, each sent its part as `Referer`.
fn gallery_tables(env: &TestEnv, extra: &str) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = 4\nnext = \"div.pagenavi a.next@href\"\n{extra}\n\
         [follow.fields]\nsummary = \"div.intro p\"\n\
         images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
         [download]\nfield = \"images\"\ndir = {dir:?}\nthreads = 4\nhosts = [\"localhost\"]\n\
         name = \"{{title}}/{{n}}{{ext}}\"\nreferer = true\n",
        dir = env.dir.path().join("galleries").display().to_string()
    )
}

/// The output's lines, as JSON.
fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(env.out_path()).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Checks every line against its gallery: the summary of part 1, the first `max_parts` images
/// of the gallery in order, and each stored as `<dir>/<title>/<n>.png` with the image's bytes
/// and md5. Returns how many items each page has.
fn check(env: &TestEnv, max_parts: u64) -> BTreeMap<u64, usize> {
    let opts = env.site.options();
    let mut pages = BTreeMap::new();
    for line in lines(env) {
        let page = line["page"].as_u64().unwrap();
        let items = expected_items(&opts, page);
        let index = items
            .iter()
            .position(|item| line["link"] == item.link.as_str())
            .unwrap_or_else(|| panic!("not an item of page {page}: {line}"));
        let book = page * opts.page_size as u64 + index as u64;
        let want = expected_detail(&opts, book);
        assert_eq!(line["summary"], want.summary.as_str(), "{line}");
        let parts = gallery_parts(book).min(max_parts) as usize;
        let urls: Vec<&str> = want.images[..parts]
            .iter()
            .map(|i| i.url.as_str())
            .collect();
        assert_eq!(line["images"], serde_json::json!(urls), "book {book}");
        let files = line["files"].as_array().unwrap();
        assert_eq!(files.len(), parts, "book {book}");
        for (n, (file, image)) in files.iter().zip(&want.images).enumerate() {
            let path = file["path"].as_str().unwrap();
            let expected_path = env
                .dir
                .path()
                .join("galleries")
                .join(items[index].title.as_str())
                .join(format!("{}.png", n + 1));
            assert_eq!(Path::new(path), expected_path, "book {book}");
            assert_eq!(std::fs::read(path).unwrap(), image.bytes, "{path}");
            let md5: String = Md5::digest(&image.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(file["checksum"], md5.as_str());
        }
        *pages.entry(page).or_insert(0) += 1;
    }
    pages
}

/// How many of the first `books` books have more than `parts` parts.
fn books_with_more_than(books: u64, parts: u64) -> u64 {
    (0..books).filter(|&b| gallery_parts(b) > parts).count() as u64
}

#[test]
fn every_part_of_every_gallery_is_read_and_each_image_sent_its_part_as_referer() {
    let env = gallery_site(3, Galleries::Parts);
    let books = 75;
    // The precondition of this test: galleries of one part and of several.
    assert!(books_with_more_than(books, 1) > 10 && books_with_more_than(books, 1) < books);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(2),
            extra: gallery_tables(&env, ""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(
        check(&env, u64::MAX),
        BTreeMap::from([(0, 25), (1, 25), (2, 25)])
    );
    let s = &outcome.summary;
    let parts: u64 = (0..books).map(gallery_parts).sum();
    assert_eq!(s.detail_fetched, books);
    assert_eq!(
        s.detail_parts,
        parts - books,
        "each later part fetched once"
    );
    assert_eq!(
        s.files_downloaded, parts,
        "every image, none refused by the site"
    );
    assert_eq!((s.detail_part_loops, s.detail_parts_cut), (0, 0));
}

#[test]
fn the_site_refuses_images_sent_without_their_referer() {
    // The precondition the test above stands on: the site does check the Referer.
    let env = gallery_site(1, Galleries::Parts);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            extra: gallery_tables(&env, "").replace("referer = true", "referer = false"),
            retries: 0,
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    assert!(lines(&env).is_empty());
}

#[test]
fn a_last_part_that_links_back_to_the_first_ends_its_gallery_counted() {
    let env = gallery_site(2, Galleries::Looping);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra: gallery_tables(&env, ""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(check(&env, u64::MAX), BTreeMap::from([(0, 25), (1, 25)]));
    let s = &outcome.summary;
    let parts: u64 = (0..50).map(gallery_parts).sum();
    assert_eq!(s.detail_parts, parts - 50, "no part fetched twice");
    assert_eq!(s.detail_part_loops, books_with_more_than(50, 1));
    assert_eq!(s.detail_parts_cut, 0);
}

#[test]
fn max_pages_bounds_each_gallery_warned_once_and_counted() {
    let env = gallery_site(2, Galleries::Parts);
    let config = env.write_config(&Knobs {
        last_page: Some(1),
        extra: gallery_tables(&env, "max_pages = 2"),
        ..Knobs::default()
    });
    let out = run_bin(&["run", "-c", config.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(check(&env, 2), BTreeMap::from([(0, 25), (1, 25)]));
    let summary = summary_of(&stderr);
    let cut = books_with_more_than(50, 2);
    assert!(
        cut > 5,
        "the precondition: galleries of more than two parts"
    );
    assert_eq!(num(&summary, "detail_parts_cut"), cut);
    let parts: u64 = (0..50).map(|b| gallery_parts(b).min(2)).sum();
    assert_eq!(num(&summary, "detail_parts_fetched"), parts - 50);
    let warnings = stderr.matches("parts read (follow.max_pages)").count();
    // Once per detail crawler that met one, never once per gallery.
    assert!((1..=4).contains(&warnings), "{warnings} warnings: {stderr}");
}

#[test]
fn a_part_that_fails_fails_its_list_page_and_the_next_run_completes_it_once() {
    let env = gallery_site(3, Galleries::Parts);
    // Book 30 (page 1) with its part 2 always answering 500.
    let book = (25..50).find(|&b| gallery_parts(b) >= 2).unwrap();
    let part = format!("/subject/{}/2", 1_000_000 + book);
    env.site.set_path_faults(BTreeMap::from([(
        part.clone(),
        Fault::Status {
            code: 500,
            times: u32::MAX,
            retry_after: None,
        },
    )]));
    let knobs = Knobs {
        last_page: Some(2),
        extra: gallery_tables(&env, ""),
        retries: 1,
        ..Knobs::default()
    };
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed, "{outcome:?}");
    let reason = &outcome.failed_pages[&1];
    match reason {
        PageError::Detail {
            url,
            error: DetailError::Fetch(_),
        } => assert!(url.ends_with(&part), "{url}"),
        other => panic!("{other}"),
    }
    assert_eq!(check(&env, u64::MAX), BTreeMap::from([(0, 25), (2, 25)]));
    env.site.set_path_faults(BTreeMap::new());
    let outcome = env.crawl(&knobs, LIMIT);
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    assert_eq!(
        check(&env, u64::MAX),
        BTreeMap::from([(0, 25), (1, 25), (2, 25)]),
        "each item once, page 1 whole"
    );
}

#[test]
fn a_next_link_robots_txt_disallows_ends_the_gallery_there() {
    // The host rules of detail pages hold for their parts: robots.txt disallows part 3 of one
    // gallery, which then ends at part 2.
    let book = (0..25).find(|&b| gallery_parts(b) >= 4).unwrap();
    let env = TestEnv::new(SiteOptions {
        pages: 1,
        self_links: true,
        galleries: Galleries::Parts,
        robots: demo_site::RobotsTxt::Text(format!(
            "User-agent: *\nDisallow: /subject/{}/3\n",
            1_000_000 + book
        )),
        ..SiteOptions::default()
    });
    let config = env.write_config(&Knobs {
        last_page: Some(0),
        extra: gallery_tables(&env, ""),
        ..Knobs::default()
    });
    let out = run_bin(&["run", "-c", config.to_str().unwrap()], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "detail_parts_cut"), 1);
    assert!(
        stderr.contains("next part of a detail page") && stderr.contains("disallows it"),
        "{stderr}"
    );
    let line = lines(&env)
        .into_iter()
        .find(|line| {
            line["link"]
                .as_str()
                .unwrap()
                .contains(&format!("/{}/", 1_000_000 + book))
        })
        .unwrap();
    assert_eq!(line["images"].as_array().unwrap().len(), 2, "{line}");
    assert_eq!(line["files"].as_array().unwrap().len(), 2, "{line}");
}
