//! Watching a listing across rounds (`output.key`, `output.changes`, `http.conditional`): a
//! site of the tests' own whose editions change between rounds (prices move, books are taken
//! down, books are added, a round where nothing changed and every page answers 304), each
//! round driven by the test; the events written, the store's state, and the bad configs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Knobs, PRICE, TestEnv};
use demo_site::{Edition, SiteOptions, Validators, expected_items};
use pagecrawl::{ExitCode, Outcome, OutputLock, RunOptions, Shutdown};

const LIMIT: Duration = Duration::from_secs(60);
const PAGES: u64 = 6;

/// A site of `PAGES` pages whose pages carry `validators`.
fn site(validators: Validators) -> TestEnv {
    TestEnv::new(SiteOptions {
        pages: PAGES,
        validators,
        ..SiteOptions::default()
    })
}

/// A service's crawl of the site, watched by its links, with `output` keys.
fn knobs_with(last_page: Option<u64>, output: &str) -> Knobs {
    Knobs {
        last_page,
        extra_fields: PRICE,
        extra: "[schedule]\nevery_secs = 3600\n".to_string(),
        output: output.to_string(),
        ..Knobs::default()
    }
}

/// [`knobs_with`] writing events.
fn knobs(last_page: Option<u64>) -> Knobs {
    knobs_with(last_page, "key = \"link\"\nchanges = true\n")
}

/// One round of the service, as its loop runs them.
fn round(env: &TestEnv, k: &Knobs) -> Outcome {
    let config = env.config(k);
    let options = RunOptions {
        scheduled: true,
        observer: None,
    };
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let outcome =
            pagecrawl::run_with(&config, &Shutdown::new(), &OutputLock::default(), &options);
        let _ = tx.send(outcome.map_err(|e| format!("{e:#}")));
    });
    rx.recv_timeout(LIMIT)
        .expect("the round hangs")
        .expect("the round starts")
}

/// One round that must fail to start: its error, with its causes.
fn round_error(env: &TestEnv, k: &Knobs) -> String {
    let options = RunOptions {
        scheduled: true,
        observer: None,
    };
    let err = pagecrawl::run_with(
        &env.config(k),
        &Shutdown::new(),
        &OutputLock::default(),
        &options,
    )
    .unwrap_err();
    format!("{err:#}")
}

/// The output's event lines of round `n`, by event name, each as JSON.
fn events(env: &TestEnv, n: u64) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in common::service::lines(&env.out_path()) {
        if line["round"].as_u64() == Some(n) {
            let event = line["event"].as_str().expect("an event line").to_string();
            out.entry(event).or_default().push(line);
        }
    }
    out
}

/// The links of `lines`, sorted.
fn links(lines: &[serde_json::Value]) -> Vec<String> {
    let mut links: Vec<String> = lines
        .iter()
        .map(|l| l["link"].as_str().unwrap().to_string())
        .collect();
    links.sort();
    links
}

/// Every link the site lists in its current edition, with its price.
fn listed(env: &TestEnv) -> BTreeMap<String, String> {
    let opts = env.site.options();
    (0..PAGES)
        .flat_map(|page| expected_items(&opts, page))
        .map(|item| (item.link, item.price))
        .collect()
}

/// The link of book `global`, numbered as an edition numbers them (in the first edition).
fn book_link(env: &TestEnv, global: u64) -> String {
    let mut opts = SiteOptions::clone(&env.site.options());
    opts.edition = Edition::default();
    let size = opts.page_size as u64;
    expected_items(&opts, global / size)[(global % size) as usize]
        .link
        .clone()
}

/// The links of `books`, sorted.
fn book_links(env: &TestEnv, books: &[u64]) -> Vec<String> {
    let mut links: Vec<String> = books.iter().map(|&b| book_link(env, b)).collect();
    links.sort();
    links
}

#[test]
fn new_changed_gone_and_unchanged_across_rounds_with_304s() {
    let env = site(Validators::ETag);
    let k = knobs(Some(PAGES - 1));
    // Round 1: every item is new.
    let first = round(&env, &k);
    assert_eq!(first.exit_code(), ExitCode::Success, "{first:?}");
    let r1 = events(&env, 1);
    let all: Vec<String> = listed(&env).into_keys().collect();
    assert_eq!(links(&r1["new"]), all);
    assert_eq!(r1.len(), 1, "only new events: {:?}", r1.keys());
    let one = &r1["new"][0];
    let keys: Vec<&str> = one
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["event", "round", "page", "url", "title", "link", "price"]
    );
    assert_eq!(first.summary.items_new, all.len() as u64);
    let before = listed(&env);

    // The next edition: three prices move, two books go, four are added to page 3, and page 5
    // is left as it was.
    let (moved, removed) = ([3, 30, 77], [10, 11]);
    env.site.set_edition(Edition {
        number: 1,
        prices: moved.iter().map(|&b| (b, "99.99".to_string())).collect(),
        removed: removed.into_iter().collect(),
        added: BTreeMap::from([(3, 4)]),
        ..Edition::default()
    });
    let after = listed(&env);
    let second = round(&env, &k);
    assert_eq!(second.exit_code(), ExitCode::Success, "{second:?}");
    let r2 = events(&env, 2);
    assert_eq!(links(&r2["changed"]), book_links(&env, &moved));
    for change in &r2["changed"] {
        let link = change["link"].as_str().unwrap();
        assert_eq!(change["changed"], serde_json::json!(["price"]), "{change}");
        assert_eq!(change["price"].to_string(), "99.99");
        assert_eq!(
            change["previous"]["price"].to_string(),
            before[link],
            "{change}"
        );
    }
    let added: BTreeSet<String> = after
        .keys()
        .filter(|l| !before.contains_key(*l))
        .cloned()
        .collect();
    assert_eq!(added.len(), 4);
    assert_eq!(links(&r2["new"]), added.into_iter().collect::<Vec<_>>());
    assert_eq!(links(&r2["gone"]), book_links(&env, &removed));
    for line in &r2["gone"] {
        // A gone item keeps its last known values.
        let link = line["link"].as_str().unwrap();
        assert_eq!(line["price"].to_string(), before[link]);
    }
    let s = second.summary;
    assert_eq!(
        (s.items_new, s.items_changed, s.items_gone),
        (4, 3, 2),
        "{s:?}"
    );
    // Pages 2, 4 and 5 did not change: they answered 304.
    assert_eq!(s.not_modified, 3, "{s:?}");
    assert_eq!(env.site.not_modified_answers(), 3);
    assert_eq!(s.items_unchanged, (after.len() - 4 - 3) as u64, "{s:?}");

    // Round 3, nothing changed: every page answers 304, and no line is written.
    let len = std::fs::metadata(env.out_path()).unwrap().len();
    let third = round(&env, &k);
    assert_eq!(third.exit_code(), ExitCode::Success, "{third:?}");
    assert_eq!(std::fs::metadata(env.out_path()).unwrap().len(), len);
    let s = third.summary;
    assert_eq!((s.not_modified, s.fetched, s.bytes), (PAGES, 0, 0), "{s:?}");
    assert_eq!(
        (
            s.items_new,
            s.items_changed,
            s.items_gone,
            s.items_unchanged
        ),
        (0, 0, 0, after.len() as u64),
        "{s:?}"
    );
}

#[test]
fn the_store_answers_questions_with_sqlite() {
    let env = site(Validators::LastModified);
    let k = knobs(Some(PAGES - 1));
    round(&env, &k);
    env.site.set_edition(Edition {
        number: 1,
        prices: BTreeMap::from([(4, "12.50".to_string())]),
        ..Edition::default()
    });
    round(&env, &k);
    let db = rusqlite::Connection::open(env.dir.path().join("out/items.db")).unwrap();
    let link = book_link(&env, 4);
    let price: String = db
        .query_row(
            "SELECT json_extract(fields, '$.price') FROM items WHERE key = ?1",
            [&link],
            |row| row.get::<_, f64>(0).map(|p| p.to_string()),
        )
        .unwrap();
    assert_eq!(price, "12.5");
    let changed: Vec<(i64, String, String)> = db
        .prepare("SELECT round, event, changed FROM events WHERE key = ?1 ORDER BY id")
        .unwrap()
        .query_map([&link], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        changed,
        [
            (1, "new".into(), String::new()),
            (2, "changed".into(), "[\"price\"]".into())
        ]
    );
    // Last-Modified is per edition: every page of edition 1 was fetched again in round 2.
    assert_eq!(env.site.not_modified_answers(), 0);
}

#[test]
fn a_round_with_a_failed_page_declares_nothing_gone() {
    let env = site(Validators::ETag);
    let k = knobs(Some(PAGES - 1));
    round(&env, &k);
    env.site.set_edition(Edition {
        number: 1,
        removed: BTreeSet::from([0, 1]),
        ..Edition::default()
    });
    // Page 4 fails this round: its items are not seen, and nothing may be called gone.
    let mut opts = SiteOptions::clone(&env.site.options());
    opts.faults.insert(
        4,
        demo_site::Fault::Status {
            code: 500,
            times: u32::MAX,
            retry_after: None,
        },
    );
    env.site.set_options(opts);
    let failed = round(&env, &k);
    assert_eq!(failed.exit_code(), ExitCode::PagesFailed, "{failed:?}");
    assert!(
        !events(&env, 2).contains_key("gone"),
        "{:?}",
        events(&env, 2).keys()
    );
    assert_eq!(failed.summary.items_gone, 0);
    // The next complete round finds them gone, once.
    let mut opts = SiteOptions::clone(&env.site.options());
    opts.faults.clear();
    env.site.set_options(opts);
    let complete = round(&env, &k);
    assert_eq!(complete.exit_code(), ExitCode::Success, "{complete:?}");
    assert_eq!(links(&events(&env, 3)["gone"]).len(), 2);
}

#[test]
fn every_item_each_round_with_a_key_but_no_changes() {
    let env = site(Validators::ETag);
    let k = knobs_with(Some(PAGES - 1), "key = \"link\"\n");
    round(&env, &k);
    let second = round(&env, &k);
    // Every page answered 304, and its items are written again from the store, exactly.
    assert_eq!(second.summary.not_modified, PAGES);
    let lines = common::service::lines(&env.out_path());
    let total = (PAGES * 25) as usize;
    assert_eq!(lines.len(), 2 * total);
    // Pages are committed as they complete: compare each round's lines in page order.
    let sorted = |lines: &[serde_json::Value]| {
        let mut texts: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        texts.sort();
        texts
    };
    assert_eq!(
        sorted(&lines[..total]),
        sorted(&lines[total..]),
        "round 2 repeats round 1 from the store"
    );
    assert_eq!(
        lines[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["page", "url", "title", "link", "price"]
    );
}

#[test]
fn an_until_empty_listing_ends_on_pages_that_answered_304() {
    let env = site(Validators::ETag);
    let k = knobs(None);
    let first = round(&env, &k);
    assert_eq!(first.end_of_listing, Some(PAGES), "{first:?}");
    let second = round(&env, &k);
    assert_eq!(second.exit_code(), ExitCode::Success, "{second:?}");
    assert_eq!(second.end_of_listing, Some(PAGES));
    // Every page of the listing answered 304; the empty one after it, which ends the listing
    // and is never committed, is asked whole.
    assert_eq!(second.summary.not_modified, PAGES, "{:?}", second.summary);
    assert!(events(&env, 2).is_empty(), "{:?}", events(&env, 2));
}

#[test]
fn items_without_a_key_are_written_and_counted() {
    let env = site(Validators::None);
    // `subtitle` is null on every item: keyed by it, nothing can be followed.
    let k = Knobs {
        last_page: Some(1),
        extra_fields: "subtitle = \"span.nothing-here\"",
        extra: "[schedule]\nevery_secs = 3600\n".to_string(),
        output: "key = \"subtitle\"\nchanges = true\n".to_string(),
        ..Knobs::default()
    };
    let outcome = round(&env, &k);
    assert_eq!(outcome.summary.items_without_key, 50);
    let lines = common::service::lines(&env.out_path());
    assert_eq!(lines.len(), 50, "written as items");
    assert!(lines.iter().all(|l| l.get("event").is_none()));
}

#[test]
fn bad_watch_configs_are_refused_naming_the_key() {
    let env = site(Validators::None);
    let base = Knobs::default();
    for (output, http, says) in [
        (
            "changes = true\n",
            "",
            "`output.changes` needs `output.key`",
        ),
        (
            "key = \"lnk\"\n",
            "",
            "`output.key` must name one of the `[extract.fields]` (title, link), got \"lnk\"",
        ),
        (
            "key = \"link\"\ndedup = \"link\"\n",
            "",
            "`output.dedup` and `output.key` cannot both be set",
        ),
        (
            "",
            "conditional = true\n",
            "`http.conditional` needs `output.key`",
        ),
    ] {
        let k = Knobs {
            output: output.to_string(),
            http: http.to_string(),
            ..base.clone()
        };
        refused(&env, &k, says);
    }
}

/// Asserts that the config of `k` for `env` is refused with an error containing `says`.
fn refused(env: &TestEnv, k: &Knobs, says: &str) {
    let err = format!(
        "{:#}",
        pagecrawl::Config::from_toml(&env.config_toml(k)).unwrap_err()
    );
    assert!(err.contains(says), "{} {}: {err}", k.output, k.http);
}

#[test]
fn a_store_of_another_crawl_or_program_is_refused_untouched() {
    let env = site(Validators::None);
    let k = knobs(Some(1));
    round(&env, &k);
    let db = env.dir.path().join("out/items.db");
    // Another key: refused, with the --fresh hint.
    let other = knobs_with(Some(1), "key = \"title\"\nchanges = true\n");
    let err = round_error(&env, &other);
    assert!(
        err.contains("made for another crawl") && err.contains("--fresh"),
        "{err}"
    );
    // Another program's database, or no database at all: named, and left as it is.
    for bytes in [
        b"not a database at all, just some text\n".repeat(200),
        another_db(),
    ] {
        std::fs::write(&db, &bytes).unwrap();
        let err = round_error(&env, &k);
        assert!(err.contains("items.db"), "{err}");
        assert_eq!(std::fs::read(&db).unwrap(), bytes, "nothing overwritten");
    }
}

/// An SQLite database of another program.
fn another_db() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(conn);
    std::fs::read(&path).unwrap()
}

#[test]
fn a_journal_that_lost_its_last_commit_is_completed_from_the_store() {
    let env = site(Validators::ETag);
    let k = knobs(Some(PAGES - 1));
    round(&env, &k);
    let output = std::fs::read(env.out_path()).unwrap();
    // A crash between the store's commit and the journal's record: the journal loses its last
    // commit record (and what came after it, the round's end).
    let state = std::fs::read_to_string(env.state_path()).unwrap();
    let mut kept: Vec<&str> = state.lines().collect();
    let last_commit = kept
        .iter()
        .rposition(|l| l.starts_with("{\"t\":\"commit\""))
        .unwrap();
    kept.truncate(last_commit);
    std::fs::write(env.state_path(), format!("{}\n", kept.join("\n"))).unwrap();
    // Resumed: the round's pages are all committed (the store says so), nothing is written
    // again, and no event is written twice.
    let resumed = round(&env, &k);
    assert_eq!(resumed.exit_code(), ExitCode::Success, "{resumed:?}");
    assert_eq!(resumed.round, 1, "the same round, resumed");
    assert_eq!(resumed.summary.fetched, 0, "{:?}", resumed.summary);
    assert_eq!(std::fs::read(env.out_path()).unwrap(), output);
    let state = std::fs::read_to_string(env.state_path()).unwrap();
    assert!(state.contains("\"store\":"), "{state}");
}

#[test]
fn a_store_older_than_its_journal_is_refused() {
    let env = site(Validators::None);
    let k = knobs(Some(1));
    let db = env.dir.path().join("out/items.db");
    round(&env, &k);
    let copy = env.dir.path().join("items.db.copy");
    std::fs::copy(&db, &copy).unwrap();
    env.site.set_edition(Edition {
        number: 1,
        prices: BTreeMap::from([(0, "1.00".to_string())]),
        ..Edition::default()
    });
    round(&env, &k);
    // The store restored from the copy made after round 1: it lacks round 2's commits.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&copy, &db).unwrap();
    // Round 3's journal starts afresh; round 2's is gone. Cut the round's end so that the
    // journal still names round 2's commits.
    let state = std::fs::read_to_string(env.state_path()).unwrap();
    let kept: Vec<&str> = state
        .lines()
        .filter(|l| !l.contains("\"roundend\""))
        .collect();
    std::fs::write(env.state_path(), format!("{}\n", kept.join("\n"))).unwrap();
    let err = round_error(&env, &k);
    assert!(
        err.contains("lacks commits") && err.contains("--fresh"),
        "{err}"
    );
}

#[test]
fn detail_fields_are_watched_and_an_unchanged_items_detail_page_is_asked_conditionally() {
    // 100 books in pairs: 50 detail pages, each linked from two items.
    let env = TestEnv::new(SiteOptions {
        pages: 4,
        self_links: true,
        detail_shared_by: 2,
        validators: Validators::ETag,
        ..SiteOptions::default()
    });
    let k = Knobs {
        extra: format!(
            "{}[follow]\nfield = \"link\"\ncrawlers = 4\n[follow.fields]\n\
             rating = \"strong.rating_num\"\nsummary = \"div.intro p\"\n",
            knobs(Some(3)).extra
        ),
        ..knobs_with(Some(3), "key = \"title\"\nchanges = true\n")
    };
    let first = round(&env, &k);
    assert_eq!(first.exit_code(), ExitCode::Success, "{first:?}");
    assert_eq!(
        (first.summary.items_new, first.summary.detail_fetched),
        (100, 50)
    );
    let opts = env.site.options();
    let r1 = events(&env, 1);
    for line in &r1["new"] {
        let title = line["title"].as_str().unwrap();
        let global = (0..100)
            .find(|&g| expected_items(&opts, g / 25)[(g % 25) as usize].title == title)
            .unwrap();
        let detail = demo_site::expected_detail(&opts, demo_site::detail_book(&opts, global));
        assert_eq!(line["rating"], detail.rating.as_str(), "{line}");
        assert_eq!(line["summary"], detail.summary.as_str(), "{line}");
    }
    // Round 2: one price on page 0 moved. Page 0 is fetched again, and the detail pages of
    // its items are asked with their ETags: 13 answers of 304 beside the other three list
    // pages'; the one changed item is the only event, its detail fields kept.
    let answered = env.site.not_modified_answers();
    env.site.set_edition(Edition {
        number: 1,
        prices: BTreeMap::from([(6, "99.99".to_string())]),
        ..Edition::default()
    });
    let second = round(&env, &k);
    assert_eq!(second.exit_code(), ExitCode::Success, "{second:?}");
    let s = &second.summary;
    assert_eq!(
        (s.items_changed, s.items_unchanged, s.items_new),
        (1, 99, 0)
    );
    assert_eq!(
        (s.not_modified, s.detail_not_modified, s.detail_fetched),
        (3, 13, 0)
    );
    assert_eq!(env.site.not_modified_answers() - answered, 3 + 13);
    let r2 = events(&env, 2);
    assert_eq!(r2.len(), 1, "{r2:?}");
    let changed = &r2["changed"];
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["changed"], serde_json::json!(["price"]));
    assert_eq!(changed[0]["price"], 99.99);
    let detail = demo_site::expected_detail(&opts, 6);
    assert_eq!(changed[0]["rating"], detail.rating.as_str());
}
