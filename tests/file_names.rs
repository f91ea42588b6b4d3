//! How `[download]` names files: a template kept inside the folder, every URL of a list field
//! named apart, files that want one name each under a name of its own (the same on every run),
//! folders from the template (a folder per gallery) that never leave `download.dir`, and a
//! folder that is a symbolic link never stored through.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use common::files::{assert_no_png_outside, check, files_dir, lines, names_in, site, tables};
use common::{Knobs, TestEnv};
use demo_site::expected_detail;
use pagecrawl::ExitCode;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn names_from_a_template_stay_in_the_folder() {
    let env = site(1, 0);
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            extra: tables(&env, 2, 2, "name = \"{alt}{ext}\""),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    check(&env, true);
    let opts = env.site.options();
    let climbing = expected_detail(&opts, 3).images[0].alt.clone();
    assert!(climbing.starts_with("../../"), "{climbing}");
    let names = names_in(&files_dir(&env));
    assert_eq!(names.len(), 25);
    // "../../<title> 图1" becomes "_._<title> 图1.png", inside the folder.
    let want = format!("{}.png", climbing.replace("../../", "_._"));
    assert!(names.contains(&want), "{want} not in {names:?}");
    assert_no_png_outside(env.dir.path());
}

#[test]
fn every_url_of_a_list_field_is_stored_in_order_and_named_apart() {
    let env = site(2, 0);
    let extra = format!(
        "[follow]\nfield = \"link\"\ncrawlers = 3\n[follow.fields]\n\
         images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
         rating = {{ css = \"strong.rating_num\", type = \"number\" }}\n\
         [download]\nfield = \"images\"\ndir = {dir:?}\nthreads = 3\nname = \"{{title}}{{ext}}\"\n\
         hosts = [\"localhost\"]\n",
        dir = files_dir(&env).display().to_string()
    );
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(1),
            extra,
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
    let opts = env.site.options();
    let mut stored = 0;
    // Pages are written in the order they complete, a page's items in their order: sort by
    // page (stably) to number the books.
    let mut lines = lines(&env);
    lines.sort_by_key(|line| line["page"].as_u64().unwrap());
    for (global, line) in lines.iter().enumerate() {
        let detail = expected_detail(&opts, global as u64);
        let title = line["title"].as_str().unwrap();
        assert_eq!(
            line["rating"].as_f64(),
            detail.rating.parse().ok(),
            "{line}"
        );
        let files = line["files"].as_array().unwrap();
        assert_eq!(files.len(), detail.images.len(), "{line}");
        for (n, (file, image)) in files.iter().zip(&detail.images).enumerate() {
            assert_eq!(file["url"], image.url.as_str(), "in the order of the URLs");
            let name = match n {
                0 => format!("{title}.png"),
                n => format!("{title}-{}.png", n + 1),
            };
            let path = files_dir(&env).join(&name);
            assert_eq!(file["path"], path.display().to_string().as_str());
            assert_eq!(std::fs::read(&path).unwrap(), image.bytes, "{name}");
            stored += 1;
        }
    }
    assert_eq!(outcome.summary.files_downloaded, stored);
    assert_eq!(names_in(&files_dir(&env)).len() as u64, stored);
}

#[test]
fn files_that_want_one_name_get_their_own_names_and_bytes_the_same_on_every_run() {
    // Named by the book's rating, which many books share: each image must still be stored
    // under a name of its own, with its own bytes, never taken as "uptodate" for another's.
    let env = site(1, 0);
    let extra = format!(
        "[follow]\nfield = \"link\"\ncrawlers = 2\n[follow.fields]\n\
         cover = \"div.gallery img@src\"\nrating = \"strong.rating_num\"\n\
         [download]\nfield = \"cover\"\ndir = {dir:?}\nthreads = 2\nhosts = [\"localhost\"]\n\
         name = \"{{rating}}{{ext}}\"\n",
        dir = files_dir(&env).display().to_string()
    );
    let knobs = Knobs {
        last_page: Some(0),
        extra,
        ..Knobs::default()
    };
    let ratings: BTreeSet<String> = (0..25)
        .map(|book| expected_detail(&env.site.options(), book).rating.clone())
        .collect();
    assert!(
        ratings.len() < 25,
        "the test needs books that share a rating"
    );
    let mut runs = Vec::new();
    for run in 0..2 {
        if run == 1 {
            std::fs::remove_file(env.out_path()).unwrap();
            std::fs::remove_file(env.state_path()).unwrap();
        }
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        // Every item's file holds that item's image (check reads each one's bytes).
        let (_, statuses) = check(&env, true);
        let want = if run == 0 { "downloaded" } else { "uptodate" };
        assert_eq!(statuses, BTreeMap::from([(want.to_string(), 25)]));
        let names: Vec<String> = lines(&env)
            .iter()
            .map(|line| line["files"][0]["path"].as_str().unwrap().to_string())
            .collect();
        runs.push(names);
    }
    assert_eq!(runs[0], runs[1], "the same name for each URL on every run");
    let distinct: BTreeSet<&String> = runs[0].iter().collect();
    assert_eq!(distinct.len(), 25);
    // The first of each rating has the plain name, the others a suffix.
    let files: Vec<String> = names_in(&files_dir(&env))
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(files.len(), 25);
    for rating in &ratings {
        assert!(
            files.contains(&format!("{rating}.png")),
            "{rating}: {files:?}"
        );
    }
    assert!(
        files.iter().any(|name| name.ends_with("-2.png")),
        "{files:?}"
    );
}

/// `[follow]` taking every image of a book and its first image's alt text, downloaded under
/// `name = "{alt}/{n}{ext}"`: a folder per book, its images `1.png`, `2.png` … in it.
fn gallery_tables(env: &TestEnv) -> String {
    format!(
        "[follow]\nfield = \"link\"\ncrawlers = 3\n[follow.fields]\n\
         images = {{ css = \"div.gallery img\", attr = \"src\", all = true }}\n\
         alt = \"div.gallery img@alt\"\n\
         [download]\nfield = \"images\"\ndir = {dir:?}\nthreads = 3\n\
         name = \"{{alt}}/{{n}}{{ext}}\"\nhosts = [\"localhost\"]\n",
        dir = files_dir(env).display().to_string()
    )
}

#[test]
fn a_name_with_folders_gives_each_gallery_a_folder_that_never_leaves_the_dir() {
    let env = site(1, 0);
    let knobs = Knobs {
        last_page: Some(0),
        extra: gallery_tables(&env),
        ..Knobs::default()
    };
    let opts = env.site.options();
    for (run, want) in [(0, "downloaded"), (1, "uptodate")] {
        if run == 1 {
            env.reset();
        }
        let outcome = env.crawl(&knobs, LIMIT);
        assert_eq!(outcome.exit_code(), ExitCode::Success, "{outcome:?}");
        let lines = lines(&env);
        assert_eq!(lines.len(), 25);
        for (book, line) in lines.iter().enumerate() {
            let detail = expected_detail(&opts, book as u64);
            // "../../<title> 图1" becomes the folder "_._<title> 图1", inside the dir.
            let folder = detail.images[0].alt.replace("../../", "_._");
            let files = line["files"].as_array().unwrap();
            assert_eq!(files.len(), detail.images.len(), "{line}");
            for (n, (file, image)) in files.iter().zip(&detail.images).enumerate() {
                let path = files_dir(&env).join(&folder).join(format!("{}.png", n + 1));
                assert_eq!(file["path"], path.display().to_string().as_str(), "{line}");
                assert_eq!(file["status"], want);
                assert!(
                    std::fs::read(&path).unwrap() == image.bytes,
                    "{}",
                    path.display()
                );
            }
        }
    }
    // Nothing but folders at the top, and nothing outside the dir.
    let top: Vec<PathBuf> = std::fs::read_dir(files_dir(&env))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(top.len(), 25);
    assert!(top.iter().all(|p| p.is_dir()), "{top:?}");
    assert_no_png_outside(env.dir.path());
}

#[test]
fn a_folder_that_is_a_symbolic_link_is_never_stored_through() {
    let env = site(1, 0);
    let elsewhere = tempfile::tempdir().unwrap();
    let opts = env.site.options();
    let folder = expected_detail(&opts, 0).images[0]
        .alt
        .replace("../../", "_._");
    std::fs::create_dir_all(files_dir(&env)).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), files_dir(&env).join(&folder)).unwrap();
    let outcome = env.crawl(
        &Knobs {
            last_page: Some(0),
            retries: 0,
            extra: gallery_tables(&env),
            ..Knobs::default()
        },
        LIMIT,
    );
    assert_eq!(outcome.exit_code(), ExitCode::PagesFailed);
    let reason = outcome.failed_pages[&0].to_string();
    assert!(reason.contains("is a symbolic link"), "{reason}");
    assert!(lines(&env).is_empty());
    assert!(
        names_in(elsewhere.path()).is_empty(),
        "stored through the link"
    );
}
