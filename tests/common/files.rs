//! Helpers for the tests of `[download]` (the `download` and `file_names` test files): a site
//! whose books link to their detail pages and images, the `[follow]` + `[download]` tables, and
//! the checks of every stored file's bytes against the site's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use demo_site::{SiteOptions, expected_detail, expected_items};
use md5::{Digest, Md5};
use sha1::Sha1;

use super::TestEnv;

pub fn site(pages: u64, latency_ms: u64) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages,
        latency: Duration::from_millis(latency_ms),
        self_links: true,
        ..SiteOptions::default()
    })
}

pub fn files_dir(env: &TestEnv) -> PathBuf {
    env.dir.path().join("files")
}

/// `[follow]` taking each book's first image and its alt text, and `[download]` of that image
/// with `threads` threads and `extra` keys.
pub fn tables(env: &TestEnv, followers: usize, threads: usize, extra: &str) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = {followers}\n[follow.fields]\n\
         cover = \"div.gallery img@src\"\nalt = \"div.gallery img@alt\"\n\
         [download]\nfield = \"cover\"\ndir = {dir:?}\nthreads = {threads}\n\
         hosts = [\"localhost\"]\n{extra}\n",
        dir = files_dir(env).display().to_string()
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Each line of `text`, as JSON.
pub fn parse(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The output lines, as JSON; the output must end on a line boundary.
pub fn lines(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(env.out_path()).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    parse(&text)
}

/// Checks every line: its item, its one file (named by the sha1 of its URL unless `named`),
/// whose bytes on disk are the image's and whose checksum is their md5. Returns the pages
/// present and the statuses seen.
pub fn check(env: &TestEnv, named: bool) -> (BTreeSet<u64>, BTreeMap<String, usize>) {
    check_lines(env, lines(env), named, false)
}

/// [`check`] on what a `kill -9` left: the whole lines only, and the page of the last one may
/// hold only its first items, since its write may have been cut short
/// ([`super::cut_after_kill`]). Every other page present must have all of its items.
pub fn check_after_kill(env: &TestEnv) {
    let text = std::fs::read_to_string(env.out_path()).unwrap_or_default();
    check_lines(env, parse(super::cut_after_kill(&text)), false, true);
}

/// The checks of [`check`] on `lines`; with `last_may_be_cut`, the page of the last line may
/// hold fewer items than the site served, but never others, nor any twice.
pub fn check_lines(
    env: &TestEnv,
    lines: Vec<serde_json::Value>,
    named: bool,
    last_may_be_cut: bool,
) -> (BTreeSet<u64>, BTreeMap<String, usize>) {
    let opts = env.site.options();
    let cut = lines
        .last()
        .filter(|_| last_may_be_cut)
        .map(|line| line["page"].as_u64().unwrap());
    let mut pages: BTreeMap<u64, usize> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for line in lines {
        let page = line["page"].as_u64().unwrap();
        let i = pages.entry(page).or_default();
        let global = page * opts.page_size as u64 + *i as u64;
        *i += 1;
        let item = &expected_items(&opts, page)[(global % opts.page_size as u64) as usize];
        assert_eq!(line["link"], item.link.as_str());
        let image = &expected_detail(&opts, global).images[0];
        let files = line["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{line}");
        let file = &files[0];
        assert_eq!(file["url"], image.url.as_str());
        let path = Path::new(file["path"].as_str().unwrap());
        assert_eq!(path.parent().unwrap(), files_dir(env), "{line}");
        let name = path.file_name().unwrap().to_str().unwrap();
        if !named {
            assert_eq!(
                name,
                format!("{}.png", hex(&Sha1::digest(image.url.as_bytes())))
            );
        }
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes == image.bytes,
            "{}: not the bytes of {}",
            path.display(),
            image.url
        );
        assert_eq!(file["checksum"], hex(&Md5::digest(&bytes)).as_str());
        *statuses
            .entry(file["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (page, n) in &pages {
        if cut == Some(*page) {
            assert!(
                *n <= opts.page_size,
                "page {page}, the last one written: duplicated items"
            );
        } else {
            assert_eq!(*n, opts.page_size, "page {page}: lost or duplicated items");
        }
    }
    (pages.into_keys().collect(), statuses)
}

/// The names in `dir`, but for the file names registry (and its SQLite companions, which a
/// `kill -9` may leave).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| !name.starts_with(".pagecrawl-names.db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Asserts that no image was stored in `dir` itself, outside the files folder.
pub fn assert_no_png_outside(dir: &Path) {
    let outside: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

/// Book `book`'s first image: its URL, and its path on the site (where a fault is set).
pub fn first_image(env: &TestEnv, book: u64) -> (String, String) {
    let url = expected_detail(&env.site.options(), book).images[0]
        .url
        .clone();
    let path = url
        .split_once("/img/")
        .map(|(_, p)| format!("/img/{p}"))
        .expect("an image URL has /img/");
    (url, path)
}
